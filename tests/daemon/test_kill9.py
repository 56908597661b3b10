"""The real daemon in a subprocess on mock pins, killed with SIGKILL at several points: after each
restart no event is lost or repeated and `seq` continues (SPEC section 13)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    from tests.mqtt.broker import free_port as port

    return port()


def wait_until(condition, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def read_events(db: Path) -> list[tuple[int, str, str, str | None]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return list(conn.execute("SELECT seq, id, event_type, dose_id FROM events ORDER BY seq"))
    except sqlite3.OperationalError:
        return []


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = open(log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "run", "--mock-hardware", "--config", str(config)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL
        self._close()

    def _close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.log.close()

    def term(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self._close()
        return code


def test_kill_9_before_due_inside_the_window_and_after_intake(tmp_path):
    now = dt.datetime.now(dt.UTC)
    slot = (now + dt.timedelta(minutes=1)).strftime("%H:%M")  # due at the next minute boundary
    later = (now + dt.timedelta(hours=4)).strftime("%H:%M")
    times = sorted([slot, later])
    config = tmp_path / "pillbox.toml"
    config.write_text(
        f'[device]\ntimezone = "UTC"\nstate_dir = "{tmp_path / "state"}"\nclock_sync_wait_minutes = 0\n'
        f'[mqtt]\nenabled = false\n[web]\nhost = "127.0.0.1"\nport = {free_port()}\n'
        '[[medication]]\nname = "Baclofen"\nstrength_mg = 10\nstock = 30\n'
        "early_minutes = 30\nlate_after_minutes = 30\nmissed_after_minutes = 60\n"
        f'  [[medication.plan]]\n  start = "{(now - dt.timedelta(days=1)).date()}"\n'
        f"  times = [{', '.join(repr(t).replace(chr(39), chr(34)) for t in times)}]\n  dose_mg = 10\n"
    )
    db = tmp_path / "state" / "pillbox.db"
    log = tmp_path / "daemon.log"
    dose_id = f"baclofen/{(now + dt.timedelta(minutes=1)).date()}T{slot}"

    def started(n: int):
        return lambda: sum(1 for e in read_events(db) if e[2] == "device_started") >= n

    # 1. Before the dose is due (its window is already open).
    d = Daemon(config, log)
    wait_until(started(1), 30, "the first start")
    seen = read_events(db)
    d.kill9()

    # 2. Inside the window, after dose_due: the scheduler wakes the engine at the slot.
    d = Daemon(config, log)
    wait_until(started(2), 30, "the second start")
    assert read_events(db)[: len(seen)] == seen
    wait_until(lambda: any(e[2] == "dose_due" for e in read_events(db)), 90, "dose_due at the slot")
    seen = read_events(db)
    d.kill9()

    # 3. Just after intake.
    d = Daemon(config, log)
    wait_until(started(3), 30, "the third start")
    assert read_events(db)[: len(seen)] == seen
    d.send("lid_open")
    d.send("lid_close")
    wait_until(lambda: any(e[2] == "dose_taken" for e in read_events(db)), 30, "dose_taken")
    seen = read_events(db)
    d.kill9()

    # 4. A last start, then a clean stop.
    d = Daemon(config, log)
    wait_until(started(4), 30, "the fourth start")
    assert d.term() == 0, log.read_text()
    events = read_events(db)
    assert events[: len(seen)] == seen
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    assert len({e[1] for e in events}) == len(events)
    kinds = [e[2] for e in events]
    assert kinds.count("device_started") == 4 and kinds[-1] == "device_stopped"
    assert [e[3] for e in events if e[2] == "dose_due"] == [dose_id]
    assert [e[3] for e in events if e[2] == "dose_taken"] == [dose_id]
    assert "dose_missed" not in kinds and "extra_access" not in kinds
    assert "Traceback" not in log.read_text()

"""The real daemon (`pillbox run --mock-hardware`) in a subprocess on a temporary state directory,
for the benches that measure it from outside."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.mqtt.broker import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
[device]
timezone = "Europe/London"
state_dir = "{state}"
clock_sync_wait_minutes = 0
[mqtt]
enabled = false
[web]
host = "127.0.0.1"
port = {port}
[[medication]]
name = "Baclofen"
strength_mg = 10
stock = 90
  [[medication.plan]]
  start = "2026-01-01"
  times = {baclofen}
  dose_mg = 10
[[medication]]
name = "Vitamin D"
strength_mg = 1
taper_required = false
  [[medication.plan]]
  start = "2026-01-01"
  times = {vitamin}
  dose_mg = 1
"""


def io_counters(pid: int) -> dict[str, int]:
    """/proc/<pid>/io: `write_bytes` is what the process caused to be written to storage (what wears
    an SD card), `wchar` what it handed to write()."""
    counters = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        counters[key] = int(value)
    return counters


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def write_config(tmp: Path) -> Path:
    """Two medications with slots far from now, so that nothing is due while the bench runs."""
    config = tmp / "pillbox.toml"
    now = dt.datetime.now(ZoneInfo("Europe/London"))
    slot = [(now + dt.timedelta(hours=h)).strftime("%H:%M") for h in (4, 10, 16, 20)]
    config.write_text(
        CONFIG.format(
            state=tmp / "state",
            port=free_port(),
            baclofen=json.dumps(sorted(slot[:3])),
            vitamin=json.dumps([slot[3]]),
        )
    )
    return config


def _started(db: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT 1 FROM events WHERE event_type='device_started'").fetchone() is not None
    except sqlite3.OperationalError:
        return False


def start_daemon(tmp: Path, tree: Path = ROOT, stdin: int = subprocess.DEVNULL) -> tuple[subprocess.Popen[bytes], Path]:
    """The daemon from source tree `tree`, once it has recorded device_started; and its database."""
    config = write_config(tmp)
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "run", "--mock-hardware", "--config", str(config)],
        cwd=tree,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp / "state" / "pillbox.db"
    wait_until(lambda: _started(db), 30, "device_started")
    return proc, db


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)

"""The engine's records: seq that never repeats, nothing lost to a kill, one ledger row per stock change."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from device.store import Store

from ..engine.conftest import Rig, config_toml, local, of_type


def test_events_are_committed_with_seq_and_never_reused(tmp_path):
    rig = Rig(config_toml(), tmp_path / "p.db")
    rig.start(local("2026-11-02T07:00"))
    rig.advance(local("2026-11-02T10:00"))
    last = rig.events[-1]["seq"]
    stored = rig.store.events(after_seq=0, limit=1000)
    assert stored == rig.events
    # Even if rows were removed, the next seq continues after the highest ever given.
    rig.store.db.execute("DELETE FROM events WHERE seq = ?", (last,))
    rig.restart(local("2026-11-02T10:05"))
    assert rig.events[-1]["seq"] == last + 1
    assert rig.store.events(event_type="dose_missed")[0]["dose_id"] == "baclofen/2026-11-02T08:00"


def test_a_killed_process_loses_no_committed_event(tmp_path):
    """A child process commits through the engine, then dies by SIGKILL; all its events are there."""
    db = tmp_path / "p.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.engine.conftest import Rig, config_toml, local
        from device.store import Store
        from device.engine.engine import Engine
        rig = Rig(config_toml(), __import__("pathlib").Path({str(db)!r}))
        rig.store = Store({str(db)!r}, durable=True)
        rig.engine = Engine(rig.config, rig.store)
        rig.start(local("2026-11-02T07:00"))
        rig.advance(local("2026-11-02T08:00"))
        rig.do(local("2026-11-02T08:03"), lambda e, t: e.lid_opened(t))
        print(len(rig.events), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    count = int(done.stdout.strip())
    store = Store(str(db))
    events = store.events(limit=1000)
    assert len(events) == count
    assert of_type(events, "dose_taken")[0]["dose_id"] == "baclofen/2026-11-02T08:00"
    assert store.find_dose("baclofen/2026-11-02T08:00")["state"] == "taken"


def test_stock_ledger_has_a_row_per_change(tmp_path):
    rig = Rig(config_toml(), tmp_path / "p.db")
    rig.start(local("2026-11-02T07:00"))
    rig.do(local("2026-11-02T08:02"), lambda e, t: e.lid_opened(t))
    rig.do(local("2026-11-02T08:03"), lambda e, t: e.lid_closed(t))
    rig.do(local("2026-11-02T09:00"), lambda e, t: e.refill("Baclofen", 30, t))
    rig.restart(local("2026-11-02T09:30"))
    rig.do(local("2026-11-02T14:01"), lambda e, t: e.lid_opened(t))
    assert rig.store.stock_history("Baclofen") == [
        ("2026-11-02T07:00:00+00:00", 90),
        ("2026-11-02T08:02:00+00:00", 89),
        ("2026-11-02T09:00:00+00:00", 119),
        ("2026-11-02T14:01:00+00:00", 118),
    ]

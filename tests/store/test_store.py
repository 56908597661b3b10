"""The SQLite store: durability settings, schema versions, seq that never repeats, one JSON."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from device.engine.events import EVENT_TYPES, Event, Priority, from_json, to_json
from device.store import MIGRATIONS, Store, StoreError

from ..engine.conftest import Rig, config_toml, local, of_type


def test_wal_and_full_sync(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == len(MIGRATIONS)
    assert store.integrity_ok()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "p.db"
    Store(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(str(path))


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


def test_event_json_shape():
    event = Event(
        id="8c1d",
        seq=42,
        event_type="dose_missed",
        priority=Priority.MEDIUM,
        time=dt.datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=dt.UTC),
        device_id="pillbox",
        message="Baclofen 10 mg due at 08:00 was not taken.",
        fields={
            "during_downtime": True,
            "medication": "Baclofen",
            "dose_id": "baclofen/2026-11-26T08:00",
            "scheduled_for": dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC),
            "dose_mg": 10.0,
            "tablets": 1.5,
        },
    )
    data = to_json(event)
    assert list(data)[:11] == [
        "id", "seq", "event_type", "priority", "time", "device_id",
        "medication", "dose_id", "scheduled_for", "dose_mg", "tablets",
    ]  # fmt: skip
    assert data["time"] == "2026-11-26T10:00:00+00:00"
    assert data["scheduled_for"] == "2026-11-26T08:00:00+00:00"
    assert json.dumps(data["dose_mg"]) == "10" and data["tablets"] == 1.5
    assert list(data)[-1] == "message"
    assert to_json(from_json(json.loads(json.dumps(data)))) == data


def test_every_event_type_has_the_spec_priority():
    assert EVENT_TYPES["intake_stopped"] is Priority.HIGH
    assert EVENT_TYPES["dose_due"] is Priority.LOW
    assert len(EVENT_TYPES) == 25
    assert EVENT_TYPES["withdrawal_watch"] is Priority.MEDIUM


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

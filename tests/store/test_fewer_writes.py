"""What a step writes: only rows and state that changed, small pages for a new database, schema 3
reached from a schema-2 database with every event, seq and outbox entry kept."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from device.engine.events import Event, Priority
from device.store import MIGRATIONS, Store
from device.store.records import pack_state, unpack_state
from device.store.schema import PAGE_SIZE

from ..engine.conftest import Rig, config_toml, local

DOSE = {
    "dose_id": "baclofen/2026-11-02T08:00", "medication": "Baclofen", "local_date": "2026-11-02", "slot": "08:00",
    "scheduled_for": "2026-11-02T08:00:00+00:00", "closes_at": "2026-11-02T09:00:00+00:00", "dose_mg": 10.0,
    "tablets": 1.0, "state": "waiting", "taken_at": None, "source": None, "reason": None, "due_sent": 0,
    "overdue_sent": 0, "closed": 0, "from_dispenser": 0,
}  # fmt: skip
STATE: dict[str, Any] = {"lid_open": False, "meds": {"Baclofen": {"stock": 30}}}


def event(seq: int, when: str = "2026-11-02T08:00:00+00:00") -> Event:
    return Event(f"id-{seq}", seq, "extra_access", Priority.MEDIUM, dt.datetime.fromisoformat(when), "pillbox", "m")


def changes(store: Store) -> int:
    return store.db.total_changes


def test_a_step_that_changes_nothing_writes_nothing(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    store.commit([event(1)], [DOSE], [], STATE)
    before = changes(store)
    store.commit([], [dict(DOSE)], [], json.loads(json.dumps(STATE)))
    assert changes(store) == before


def test_a_changed_dose_is_updated_in_place_and_read_back_whole(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    store.commit([event(1)], [DOSE], [], STATE)
    before = changes(store)
    taken = {**DOSE, "state": "taken", "taken_at": "2026-11-02T08:02:00+00:00", "source": "lid", "closed": 1}
    store.commit([], [taken], [], STATE)
    assert changes(store) == before + 1
    assert store.find_dose(DOSE["dose_id"]) == taken
    store.close()
    # A dose no longer remembered (closed, or after a restart) is read before it is written.
    store = Store(str(tmp_path / "p.db"))
    store.commit([], [{**taken, "reason": "late"}], [], STATE)
    assert store.find_dose(DOSE["dose_id"])["reason"] == "late"


def test_a_failed_step_is_not_remembered_as_written(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    store.commit([event(1)], [], [], STATE)
    with pytest.raises(sqlite3.IntegrityError):
        store.commit([event(1)], [DOSE], [], {**STATE, "lid_open": True})  # seq 1 again: refused
    store.commit([], [DOSE], [], {**STATE, "lid_open": True})
    assert store.find_dose(DOSE["dose_id"]) == DOSE
    assert store.load().state == {**STATE, "lid_open": True}


def test_engine_state_is_stored_deflated_and_plain_json_still_loads(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    store.commit([event(1)], [], [], STATE)
    stored = store.db.execute("SELECT value FROM meta WHERE key='engine'").fetchone()[0]
    assert isinstance(stored, bytes) and unpack_state(stored) == STATE
    assert len(pack_state(json.dumps(STATE))) < len(json.dumps(STATE)) * 2
    store.db.execute("UPDATE meta SET value=? WHERE key='engine'", (json.dumps(STATE),))
    assert store.load().state == STATE


def test_a_new_database_has_small_pages(tmp_path):
    store = Store(str(tmp_path / "p.db"))
    assert store.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 512


def schema_2_database(path: Path) -> None:
    """A database as Pillbox with schema 2 left it: 4 KiB pages, AUTOINCREMENT seq, an outbox."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(MIGRATIONS[:2], start=1):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={number}")
    for seq in (1, 2, 3):
        db.execute(
            "INSERT INTO events (seq, id, event_type, time, medication, dose_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, f"id-{seq}", "extra_access", f"2026-11-02T0{seq}:00:00+00:00", None, None,
             json.dumps({"seq": seq, "time": f"2026-11-02T0{seq}:00:00+00:00"})),
        )  # fmt: skip
    db.execute("INSERT INTO outbox (seq) VALUES (2), (3)")
    db.execute("DELETE FROM outbox WHERE seq = 3")
    db.execute("DELETE FROM events WHERE seq = 3")  # the highest seq given is 3 even so
    db.execute("INSERT INTO meta (key, value) VALUES ('engine', ?)", (json.dumps(STATE),))
    db.close()


def test_a_schema_2_database_is_upgraded_with_its_events_seq_outbox_and_state(tmp_path):
    path = tmp_path / "p.db"
    schema_2_database(path)
    store = Store(str(path), outbox=True)
    assert store.schema_version == len(MIGRATIONS) == 3
    assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096  # an existing file keeps its pages
    snap = store.load()
    assert snap.last_seq == 3 and snap.state == STATE
    assert [e["seq"] for e in store.events()] == [1, 2]
    assert store.outbox_batch(0, 10) == [(2, json.dumps({"seq": 2, "time": "2026-11-02T02:00:00+00:00"}))]
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.integrity_ok()
    names = {r[0] for r in store.db.execute("SELECT name FROM sqlite_schema WHERE type='index'")}
    assert "events_time" not in names and "alerts_active" not in names and "events_type" in names


def test_a_time_range_of_history_is_the_same_as_filtering_every_event(tmp_path):
    rig = Rig(config_toml(), tmp_path / "p.db")
    rig.start(local("2026-11-02T07:00"))
    rig.do(local("2026-11-02T08:02"), lambda e, t: e.lid_opened(t))
    rig.do(local("2026-11-02T08:03"), lambda e, t: e.lid_closed(t))
    rig.advance(local("2026-11-04T22:00"))
    every = rig.store.events(limit=10_000)
    times = sorted({e["time"] for e in every})
    bounds = [None, "2026-11-01", times[0], times[3], times[len(times) // 2], times[-1], "2026-11-03T08", "2027"]
    for start in bounds:
        for end in bounds:
            for kind in (None, "dose_missed"):
                want = [
                    e for e in reversed(every)
                    if (start is None or e["time"] >= start) and (end is None or e["time"] < end)
                    and (kind is None or e["event_type"] == kind)
                ]  # fmt: skip
                got, total = rig.store.events_between(start=start, end=end, event_type=kind, limit=5, offset=1)
                assert (got, total) == (want[1:6], len(want)), (start, end, kind)

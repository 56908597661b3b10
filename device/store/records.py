"""The engine's records: what it loads at start, the one transaction per step, the stock ledger."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import zlib
from typing import Any

from ..engine.engine import Snapshot
from ..engine.events import Event, to_json
from .database import Database
from .outbox import Outbox
from .rows import RowWriter

DOSE_COLUMNS = (
    "dose_id medication local_date slot scheduled_for closes_at dose_mg tablets state taken_at "
    "source reason due_sent overdue_sent closed from_dispenser"
).split()
ALERT_COLUMNS = (
    "id event_type priority since message medication dose_id acknowledged acknowledged_at acknowledged_by resolved_at"
).split()


def state_text(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"))


def pack_state(text: str) -> bytes:
    """The engine's state as stored: its JSON deflated to about a third, so that it fits one page."""
    return zlib.compress(text.encode(), 9)


def unpack_state(value: bytes | str) -> dict[str, Any]:
    """The state as `pack_state` stored it, or as plain JSON text (databases written before schema 3)."""
    data: dict[str, Any] = json.loads(zlib.decompress(value) if isinstance(value, bytes) else value)
    return data


class EngineRecords:
    """Events, doses, alerts and the engine's state, written by the engine's thread only."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self._state = ""  # the state's JSON as last written
        self._stock: dict[str, float] | None = None
        self.doses = RowWriter("doses", DOSE_COLUMNS, lambda row: not row["closed"])
        self.alerts = RowWriter("alerts", ALERT_COLUMNS, lambda row: row["resolved_at"] is None)

    def load(self) -> Snapshot:
        with self.db.read() as conn:
            state_row = conn.execute("SELECT value FROM meta WHERE key='engine'").fetchone()
            last = conn.execute("SELECT seq, time FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq_row = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
            open_rows = conn.execute("SELECT * FROM doses WHERE closed=0").fetchall()
            closed_rows = conn.execute(
                "SELECT * FROM (SELECT *, ROW_NUMBER() OVER "
                "(PARTITION BY medication ORDER BY closes_at DESC) AS recent FROM doses WHERE closed=1) "
                "WHERE recent <= 64"
            ).fetchall()
            alert_rows = conn.execute("SELECT * FROM alerts WHERE resolved_at IS NULL").fetchall()
        state = unpack_state(state_row[0]) if state_row else None
        self._state = state_text(state) if state is not None else ""
        self.doses.seen(dict(r) for r in open_rows)
        self.alerts.seen(dict(r) for r in alert_rows)
        return Snapshot(
            state=state,
            last_seq=max(int(seq_row[0]) if seq_row else 0, last["seq"] if last else 0),
            last_time=dt.datetime.fromisoformat(last["time"]) if last else None,
            open_doses=[dict(r) for r in open_rows],
            closed_doses=[dict(r) for r in closed_rows],
            alerts=[dict(r) for r in alert_rows],
        )

    def find_dose(self, dose_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM doses WHERE dose_id=?", (dose_id,)).fetchone()
        if row is None:
            return None
        self.doses.seen([dict(row)])
        return dict(row)

    def find_alert(self, alert_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
        if row is None:
            return None
        self.alerts.seen([dict(row)])
        return dict(row)

    def commit(
        self,
        events: list[Event],
        doses: list[dict[str, Any]],
        alerts: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> None:
        """Write one engine step atomically: nothing is signalled before this returns. Only what
        changed is written: rows equal to what was last written, and an unchanged state, are not."""
        dose_rows = self.doses.changed(doses)
        alert_rows = self.alerts.changed(alerts)
        text = state_text(state)
        with self.db.tx() as conn:
            conn.executemany(
                "INSERT INTO events (seq, id, event_type, time, medication, dose_id, json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [_event_row(event) for event in events],
            )
            self.outbox.add(conn, [e.seq for e in events])
            self.doses.write(conn, dose_rows)
            self.alerts.write(conn, alert_rows)
            if events:
                # The highest seq ever given, so that it is never given again even if rows go.
                _put_meta(conn, "last_seq", events[-1].seq)
                stock = self._ledger(conn, events[-1], state)
            if text != self._state:
                _put_meta(conn, "engine", pack_state(text))
        self._state = text
        if events:
            self._stock = stock
        self.doses.committed(dose_rows)
        self.alerts.committed(alert_rows)

    def _ledger(self, conn: sqlite3.Connection, last: Event, state: dict[str, Any]) -> dict[str, float]:
        """One ledger row per change of a medication's stock, tied to the event that changed it; the
        balances once this transaction is on disk."""
        if self._stock is None:
            self._stock = {
                row[0]: row[1]
                for row in conn.execute(
                    "SELECT medication, balance FROM stock_ledger WHERE id IN "
                    "(SELECT MAX(id) FROM stock_ledger GROUP BY medication)"
                )
            }
        balances = dict(self._stock)
        for name, med in state.get("meds", {}).items():
            stock = med.get("stock")
            if stock is not None and balances.get(name) != stock:
                conn.execute(
                    "INSERT INTO stock_ledger (time, medication, balance, event_seq) VALUES (?, ?, ?, ?)",
                    (to_json(last)["time"], name, stock, last.seq),
                )
                balances[name] = stock
        return balances

    def stock_history(self, medication: str) -> list[tuple[str, float]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT time, balance FROM stock_ledger WHERE medication=? ORDER BY id", (medication,)
            ).fetchall()
        return [(r[0], r[1]) for r in rows]


def _event_row(event: Event) -> tuple[Any, ...]:
    data = to_json(event)
    json_text = json.dumps(data, separators=(",", ":"))
    return (event.seq, event.id, event.event_type, data["time"], data.get("medication"), data.get("dose_id"), json_text)


def _put_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """In place: INSERT OR REPLACE would delete and insert, writing the key's index page too."""
    if not conn.execute("UPDATE meta SET value=? WHERE key=?", (value, key)).rowcount:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

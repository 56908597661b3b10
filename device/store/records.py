"""The engine's records: what it loads at start, the one transaction per step, the stock ledger."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from ..engine.engine import Snapshot
from ..engine.events import Event, to_json
from .database import Database
from .outbox import Outbox

DOSE_COLUMNS = (
    "dose_id medication local_date slot scheduled_for closes_at dose_mg tablets state taken_at "
    "source reason due_sent overdue_sent closed from_dispenser"
).split()
ALERT_COLUMNS = (
    "id event_type priority since message medication dose_id acknowledged acknowledged_at acknowledged_by resolved_at"
).split()


class EngineRecords:
    """Events, doses, alerts and the engine's state, written by the engine's thread only."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self._last_state = ""
        self._stock: dict[str, float] | None = None

    def load(self) -> Snapshot:
        with self.db.read() as conn:
            state_row = conn.execute("SELECT value FROM meta WHERE key='engine'").fetchone()
            last = conn.execute("SELECT seq, time FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
            open_rows = conn.execute("SELECT * FROM doses WHERE closed=0").fetchall()
            closed_rows = conn.execute(
                "SELECT * FROM (SELECT *, ROW_NUMBER() OVER "
                "(PARTITION BY medication ORDER BY closes_at DESC) AS recent FROM doses WHERE closed=1) "
                "WHERE recent <= 64"
            ).fetchall()
            alert_rows = conn.execute("SELECT * FROM alerts WHERE resolved_at IS NULL").fetchall()
        return Snapshot(
            state=json.loads(state_row[0]) if state_row else None,
            last_seq=max(seq_row[0] if seq_row else 0, last["seq"] if last else 0),
            last_time=dt.datetime.fromisoformat(last["time"]) if last else None,
            open_doses=[dict(r) for r in open_rows],
            closed_doses=[dict(r) for r in closed_rows],
            alerts=[dict(r) for r in alert_rows],
        )

    def find_dose(self, dose_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM doses WHERE dose_id=?", (dose_id,)).fetchone()
        return dict(row) if row else None

    def find_alert(self, alert_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return dict(row) if row else None

    def commit(
        self,
        events: list[Event],
        doses: list[dict[str, Any]],
        alerts: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> None:
        """Write one engine step atomically: nothing is signalled before this returns."""
        with self.db.tx() as conn:
            for event in events:
                data = to_json(event)
                conn.execute(
                    "INSERT INTO events (seq, id, event_type, time, medication, dose_id, json) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.seq,
                        event.id,
                        event.event_type,
                        data["time"],
                        data.get("medication"),
                        data.get("dose_id"),
                        json.dumps(data, separators=(",", ":")),
                    ),
                )
            self.outbox.add(conn, [e.seq for e in events])
            if doses:
                marks = ", ".join("?" for _ in DOSE_COLUMNS)
                conn.executemany(
                    f"INSERT OR REPLACE INTO doses ({', '.join(DOSE_COLUMNS)}) VALUES ({marks})",
                    [tuple(d[c] for c in DOSE_COLUMNS) for d in doses],
                )
            if alerts:
                marks = ", ".join("?" for _ in ALERT_COLUMNS)
                conn.executemany(
                    f"INSERT OR REPLACE INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({marks})",
                    [tuple(a[c] for c in ALERT_COLUMNS) for a in alerts],
                )
            if events:
                self._ledger(conn, events[-1], state)
            blob = json.dumps(state, separators=(",", ":"))
            if blob != self._last_state:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('engine', ?)", (blob,))
        self._last_state = blob

    def _ledger(self, conn: sqlite3.Connection, last: Event, state: dict[str, Any]) -> None:
        """One ledger row per change of a medication's stock, tied to the event that changed it."""
        if self._stock is None:
            self._stock = {
                row[0]: row[1]
                for row in conn.execute(
                    "SELECT medication, balance FROM stock_ledger WHERE id IN "
                    "(SELECT MAX(id) FROM stock_ledger GROUP BY medication)"
                )
            }
        for name, med in state.get("meds", {}).items():
            stock = med.get("stock")
            if stock is not None and self._stock.get(name) != stock:
                conn.execute(
                    "INSERT INTO stock_ledger (time, medication, balance, event_seq) VALUES (?, ?, ?, ?)",
                    (to_json(last)["time"], name, stock, last.seq),
                )
                self._stock[name] = stock

    def stock_history(self, medication: str) -> list[tuple[str, float]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT time, balance FROM stock_ledger WHERE medication=? ORDER BY id", (medication,)
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

"""SQLite: the one source of truth — events, doses, alerts, engine state, outbox, users."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .engine.engine import Snapshot
from .engine.events import Event, to_json

# Each entry moves the schema one version up; never edit a released entry, add a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        time TEXT NOT NULL,
        medication TEXT,
        dose_id TEXT,
        json TEXT NOT NULL
    );
    CREATE INDEX events_type ON events (event_type, seq);
    CREATE INDEX events_time ON events (time);
    CREATE TABLE outbox (seq INTEGER PRIMARY KEY REFERENCES events (seq));
    CREATE TABLE doses (
        dose_id TEXT PRIMARY KEY,
        medication TEXT NOT NULL,
        local_date TEXT NOT NULL,
        slot TEXT NOT NULL,
        scheduled_for TEXT NOT NULL,
        closes_at TEXT NOT NULL,
        dose_mg REAL NOT NULL,
        tablets REAL NOT NULL,
        state TEXT NOT NULL,
        taken_at TEXT,
        source TEXT,
        reason TEXT,
        due_sent INTEGER NOT NULL DEFAULT 0,
        overdue_sent INTEGER NOT NULL DEFAULT 0,
        closed INTEGER NOT NULL DEFAULT 0,
        from_dispenser INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX doses_open ON doses (closed, closes_at);
    CREATE INDEX doses_date ON doses (local_date);
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        event_type TEXT NOT NULL,
        priority TEXT NOT NULL,
        since TEXT NOT NULL,
        message TEXT NOT NULL,
        medication TEXT,
        dose_id TEXT,
        acknowledged INTEGER NOT NULL DEFAULT 0,
        acknowledged_at TEXT,
        resolved_at TEXT
    );
    CREATE INDEX alerts_active ON alerts (resolved_at);
    CREATE TABLE stock_ledger (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        medication TEXT NOT NULL,
        balance REAL NOT NULL,
        event_seq INTEGER
    );
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT
    );
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT
    );
    """,
    """
    ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_name);
    """,
]

DOSE_COLUMNS = (
    "dose_id medication local_date slot scheduled_for closes_at dose_mg tablets state taken_at "
    "source reason due_sent overdue_sent closed from_dispenser"
).split()
ALERT_COLUMNS = (
    "id event_type priority since message medication dose_id acknowledged acknowledged_at acknowledged_by resolved_at"
).split()


class StoreError(RuntimeError):
    """The database cannot be used (corrupt, newer schema, unwritable)."""


class Store:
    """The SQLite database. One writer (the engine's thread); readers may use `read()`."""

    def __init__(self, path: str, *, durable: bool = True, outbox: bool = False) -> None:
        self.path = path
        self.outbox_enabled = outbox
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._last_state = ""
        self._stock: dict[str, float] | None = None
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # ----------------------------------------------------------------------------- schema

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: database schema version {version} is newer than this Pillbox "
                f"({len(MIGRATIONS)}); upgrade Pillbox."
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._tx():
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # ------------------------------------------------------------------------ engine's store

    def load(self) -> Snapshot:
        with self._lock:
            db = self.db
            state_row = db.execute("SELECT value FROM meta WHERE key='engine'").fetchone()
            last = db.execute("SELECT seq, time FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq_row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
            open_rows = db.execute("SELECT * FROM doses WHERE closed=0").fetchall()
            closed_rows = db.execute(
                "SELECT * FROM (SELECT *, ROW_NUMBER() OVER "
                "(PARTITION BY medication ORDER BY closes_at DESC) AS recent FROM doses WHERE closed=1) "
                "WHERE recent <= 64"
            ).fetchall()
            alert_rows = db.execute("SELECT * FROM alerts WHERE resolved_at IS NULL").fetchall()
        return Snapshot(
            state=json.loads(state_row[0]) if state_row else None,
            last_seq=max(seq_row[0] if seq_row else 0, last["seq"] if last else 0),
            last_time=dt.datetime.fromisoformat(last["time"]) if last else None,
            open_doses=[dict(r) for r in open_rows],
            closed_doses=[dict(r) for r in closed_rows],
            alerts=[dict(r) for r in alert_rows],
        )

    def find_dose(self, dose_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM doses WHERE dose_id=?", (dose_id,)).fetchone()
        return dict(row) if row else None

    def find_alert(self, alert_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return dict(row) if row else None

    def commit(
        self,
        events: list[Event],
        doses: list[dict[str, Any]],
        alerts: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> None:
        """Write one engine step atomically: nothing is signalled before this returns."""
        with self._tx() as db:
            for event in events:
                data = to_json(event)
                db.execute(
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
                if self.outbox_enabled:
                    db.execute("INSERT INTO outbox (seq) VALUES (?)", (event.seq,))
            if doses:
                marks = ", ".join("?" for _ in DOSE_COLUMNS)
                db.executemany(
                    f"INSERT OR REPLACE INTO doses ({', '.join(DOSE_COLUMNS)}) VALUES ({marks})",
                    [tuple(d[c] for c in DOSE_COLUMNS) for d in doses],
                )
            if alerts:
                marks = ", ".join("?" for _ in ALERT_COLUMNS)
                db.executemany(
                    f"INSERT OR REPLACE INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({marks})",
                    [tuple(a[c] for c in ALERT_COLUMNS) for a in alerts],
                )
            if events:
                self._ledger(db, events[-1], state)
            blob = json.dumps(state, separators=(",", ":"))
            if blob != self._last_state:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('engine', ?)", (blob,))
        self._last_state = blob

    def _ledger(self, db: sqlite3.Connection, last: Event, state: dict[str, Any]) -> None:
        """One ledger row per change of a medication's stock, tied to the event that changed it."""
        if self._stock is None:
            self._stock = {
                row[0]: row[1]
                for row in db.execute(
                    "SELECT medication, balance FROM stock_ledger WHERE id IN "
                    "(SELECT MAX(id) FROM stock_ledger GROUP BY medication)"
                )
            }
        for name, med in state.get("meds", {}).items():
            stock = med.get("stock")
            if stock is not None and self._stock.get(name) != stock:
                db.execute(
                    "INSERT INTO stock_ledger (time, medication, balance, event_seq) VALUES (?, ?, ?, ?)",
                    (to_json(last)["time"], name, stock, last.seq),
                )
                self._stock[name] = stock

    def stock_history(self, medication: str) -> list[tuple[str, float]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT time, balance FROM stock_ledger WHERE medication=? ORDER BY id", (medication,)
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    # ------------------------------------------------------------------------------ reading

    def events(self, *, after_seq: int = 0, event_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT json FROM events WHERE seq > ?"
        args: list[Any] = [after_seq]
        if event_type:
            sql += " AND event_type = ?"
            args.append(event_type)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def all_events(self) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            batch = self.events(after_seq=after, limit=1000)
            if not batch:
                return
            yield from batch
            after = batch[-1]["seq"]

    def adherence(self, since: dt.datetime, until: dt.datetime) -> float | None:
        """Percent taken of taken + missed, over doses whose windows closed in (since, until]."""
        with self._lock:
            rows = dict(
                self.db.execute(
                    "SELECT state, COUNT(*) FROM doses WHERE closed=1 AND closes_at > ? AND closes_at <= ? "
                    "AND state IN ('taken', 'missed') GROUP BY state",
                    (since.astimezone(dt.UTC).isoformat(), until.astimezone(dt.UTC).isoformat()),
                ).fetchall()
            )
        total = rows.get("taken", 0) + rows.get("missed", 0)
        return round(100 * rows.get("taken", 0) / total, 1) if total else None

    def outbox_waiting(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def outbox_batch(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """Undelivered events after `after_seq`, in seq order: (seq, JSON)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT o.seq, e.json FROM outbox o JOIN events e ON e.seq = o.seq WHERE o.seq > ? "
                "ORDER BY o.seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def mark_delivered(self, seqs: list[int]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def daily_counts(self, first: str, last: str) -> dict[str, dict[str, int]]:
        """{local date: {state: count}} for closed doses on local dates first..last."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            rows = self.db.execute(
                "SELECT local_date, state, COUNT(*) FROM doses WHERE closed=1 AND local_date BETWEEN ? AND ? "
                "GROUP BY local_date, state",
                (first, last),
            ).fetchall()
        for day, state, count in rows:
            out.setdefault(day, {})[state] = count
        return out

    def events_between(
        self, *, start: str | None, end: str | None, event_type: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Events (newest first) with time in [start, end), optionally of one type; and their total."""
        where, args = ["1=1"], []
        if start:
            where.append("time >= ?")
            args.append(start)
        if end:
            where.append("time < ?")
            args.append(end)
        if event_type:
            where.append("event_type = ?")
            args.append(event_type)
        clause = " AND ".join(where)
        with self._lock:
            total = self.db.execute(f"SELECT COUNT(*) FROM events WHERE {clause}", args).fetchone()[0]
            rows = self.db.execute(
                f"SELECT json FROM events WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return [json.loads(r[0]) for r in rows], int(total)

    def report_counts(
        self, first: str, last: str
    ) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str, int]]]:
        """(local date, medication, state, count) of closed doses, and (date, medication, late intakes)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT local_date, medication, state, COUNT(*) FROM doses "
                "WHERE local_date BETWEEN ? AND ? AND closed=1 GROUP BY local_date, medication, state",
                (first, last),
            ).fetchall()
            late = self.db.execute(
                "SELECT d.local_date, d.medication, COUNT(*) FROM events e JOIN doses d ON d.dose_id = e.dose_id "
                "WHERE e.event_type='dose_taken' AND json_extract(e.json, '$.on_time') = 0 AND d.closed=1 "
                "AND d.local_date BETWEEN ? AND ? GROUP BY d.local_date, d.medication",
                (first, last),
            ).fetchall()
        return [tuple(r) for r in rows], [tuple(r) for r in late]

    # ------------------------------------------------------------------- caregivers and tokens

    def user(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.db.execute("SELECT * FROM users ORDER BY name")]

    def put_user(self, name: str, password_hash: str, created_at: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET password_hash=excluded.password_hash, failed_logins=0, "
                "locked_until=NULL",
                (name, password_hash, created_at),
            )

    def login_result(self, name: str, failed: int, locked_until: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE users SET failed_logins=?, locked_until=? WHERE name=?", (failed, locked_until, name))

    def set_password_hash(self, name: str, password_hash: str) -> bool:
        """A new password; every session the caregiver had ends with the old one."""
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE user_name=?", (name,))
            return (
                db.execute(
                    "UPDATE users SET password_hash=?, failed_logins=0, locked_until=NULL WHERE name=?",
                    (password_hash, name),
                ).rowcount
                > 0
            )

    def delete_user(self, name: str) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE user_name=?", (name,))
            return db.execute("DELETE FROM users WHERE name=?", (name,)).rowcount > 0

    def put_session(self, session_hash: str, name: str, created_at: str, expires_at: str) -> None:
        """A new login's session; sessions already expired at `created_at` are cleared out."""
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (created_at,))
            db.execute(
                "INSERT INTO sessions (id, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (session_hash, name, created_at, expires_at),
            )

    def session_user(self, session_hash: str, now: str) -> str | None:
        """The caregiver of a live session, or None: one primary-key lookup each, no write."""
        with self._lock:
            row = self.db.execute(
                "SELECT s.user_name FROM sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.id=? AND s.expires_at > ?",
                (session_hash, now),
            ).fetchone()
        return str(row[0]) if row else None

    def delete_session(self, session_hash: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE id=?", (session_hash,))

    def put_token(self, name: str, token_hash: str, created_at: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO tokens (name, token_hash, created_at) VALUES (?, ?, ?)", (name, token_hash, created_at)
            )

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM tokens WHERE token_hash=?", (token_hash,)).fetchone()
        return dict(row) if row else None

    def tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.db.execute("SELECT name, created_at, last_used_at FROM tokens ORDER BY name")]

    def delete_token(self, name: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM tokens WHERE name=?", (name,)).rowcount > 0

    def ping(self) -> bool:
        try:
            with self._lock:
                return self.db.execute("SELECT 1").fetchone()[0] == 1
        except sqlite3.Error:
            return False

    def integrity_ok(self) -> bool:
        with self._lock:
            return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

"""SQLite: the one source of truth — events, doses, alerts, engine state, outbox, users.

`Store` is the one object the rest of Pillbox holds; it hands each call to the part that owns it:
`database` (connection, transactions; the tables are in `schema`), `records` (the engine's, written
through `rows` so that a step rewrites only what changed), `outbox`, `history` (queries for the
page and reports) and `accounts` (caregivers, sessions, tokens).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

from ..engine.engine import Snapshot
from ..engine.events import Event
from .accounts import AccountRecords
from .database import Database, StoreError
from .history import History
from .outbox import Outbox
from .records import EngineRecords
from .schema import MIGRATIONS

__all__ = ["MIGRATIONS", "Store", "StoreError"]


class Store:
    """The SQLite database. One writer (the engine's thread); readers share the connection's lock."""

    def __init__(self, path: str, *, durable: bool = True, outbox: bool = False) -> None:
        self.database = Database(path, durable=durable)
        self.outbox = Outbox(self.database, enabled=outbox)
        self.records = EngineRecords(self.database, self.outbox)
        self.history = History(self.database)
        self.accounts = AccountRecords(self.database)

    @property
    def path(self) -> str:
        return self.database.path

    @property
    def db(self) -> sqlite3.Connection:
        """The raw connection, for tests and tools that look inside."""
        return self.database.conn

    @property
    def outbox_enabled(self) -> bool:
        return self.outbox.enabled

    @property
    def schema_version(self) -> int:
        return self.database.schema_version

    def close(self) -> None:
        self.database.close()

    def ping(self) -> bool:
        return self.database.ping()

    def integrity_ok(self) -> bool:
        return self.database.integrity_ok()

    # ------------------------------------------------------------------------ engine's store

    def load(self) -> Snapshot:
        return self.records.load()

    def find_dose(self, dose_id: str) -> dict[str, Any] | None:
        return self.records.find_dose(dose_id)

    def find_alert(self, alert_id: str) -> dict[str, Any] | None:
        return self.records.find_alert(alert_id)

    def commit(
        self, events: list[Event], doses: list[dict[str, Any]], alerts: list[dict[str, Any]], state: dict[str, Any]
    ) -> None:
        """Write one engine step atomically: nothing is signalled before this returns."""
        self.records.commit(events, doses, alerts, state)

    def stock_history(self, medication: str) -> list[tuple[str, float]]:
        return self.records.stock_history(medication)

    # ------------------------------------------------------------------------------- outbox

    def outbox_waiting(self) -> int:
        return self.outbox.waiting()

    def outbox_batch(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        return self.outbox.batch(after_seq, limit)

    def mark_delivered(self, seqs: list[int]) -> None:
        self.outbox.mark_delivered(seqs)

    # ------------------------------------------------------------------------------ history

    def events(self, *, after_seq: int = 0, event_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.history.events(after_seq=after_seq, event_type=event_type, limit=limit)

    def all_events(self) -> Iterator[dict[str, Any]]:
        return self.history.all_events()

    def events_between(
        self, *, start: str | None, end: str | None, event_type: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        return self.history.events_between(start=start, end=end, event_type=event_type, limit=limit, offset=offset)

    def adherence(self, since: dt.datetime, until: dt.datetime) -> float | None:
        return self.history.adherence(since, until)

    def daily_counts(self, first: str, last: str) -> dict[str, dict[str, int]]:
        return self.history.daily_counts(first, last)

    def report_counts(
        self, first: str, last: str
    ) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str, int]]]:
        return self.history.report_counts(first, last)

    # ------------------------------------------------------------------- caregivers and tokens

    def user(self, name: str) -> dict[str, Any] | None:
        return self.accounts.user(name)

    def users(self) -> list[dict[str, Any]]:
        return self.accounts.users()

    def put_user(self, name: str, password_hash: str, created_at: str) -> None:
        self.accounts.put_user(name, password_hash, created_at)

    def login_result(self, name: str, failed: int, locked_until: str | None) -> None:
        self.accounts.login_result(name, failed, locked_until)

    def set_password_hash(self, name: str, password_hash: str) -> bool:
        return self.accounts.set_password_hash(name, password_hash)

    def delete_user(self, name: str) -> bool:
        return self.accounts.delete_user(name)

    def put_session(self, session_hash: str, name: str, created_at: str, expires_at: str) -> None:
        self.accounts.put_session(session_hash, name, created_at, expires_at)

    def session_user(self, session_hash: str, now: str) -> str | None:
        return self.accounts.session_user(session_hash, now)

    def delete_session(self, session_hash: str) -> None:
        self.accounts.delete_session(session_hash)

    def put_token(self, name: str, token_hash: str, created_at: str) -> None:
        self.accounts.put_token(name, token_hash, created_at)

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        return self.accounts.token_by_hash(token_hash)

    def tokens(self) -> list[dict[str, Any]]:
        return self.accounts.tokens()

    def delete_token(self, name: str) -> bool:
        return self.accounts.delete_token(name)

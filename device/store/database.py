"""The SQLite connection: durability settings, one lock, transactions, the schema brought up to date."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import PillboxError
from .schema import MIGRATIONS, PAGE_SIZE


class StoreError(PillboxError, RuntimeError):
    """The database cannot be used (corrupt, newer schema, unwritable)."""


class Database:
    """One connection shared by the engine's thread (the one writer) and the readers, under one lock."""

    def __init__(self, path: str, *, durable: bool = True) -> None:
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        # Only a new, empty database takes it (before WAL and the first table); others keep theirs.
        self.conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self._migrate()
        self.conn.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it is on disk when the block ends, or none of it."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self.conn

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Apply the migrations this file has not had, each in its own transaction (foreign keys off:
        a migration may rebuild a table others refer to, and checks the references before it ends)."""
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: database schema version {version} is newer than this Pillbox "
                f"({len(MIGRATIONS)}); upgrade Pillbox."
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.tx() as conn:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                broken = conn.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise StoreError(f"{self.path}: schema {number} breaks a reference from {broken[0]}.")
                conn.execute(f"PRAGMA user_version={number}")

    def ping(self) -> bool:
        try:
            with self.lock:
                return bool(self.conn.execute("SELECT 1").fetchone()[0] == 1)
        except sqlite3.Error:
            return False

    def integrity_ok(self) -> bool:
        with self.lock:
            return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

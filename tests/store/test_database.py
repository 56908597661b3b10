"""The database file: WAL with full sync, schema versions, errors under PillboxError."""

from __future__ import annotations

import sqlite3

import pytest

from device.errors import PillboxError
from device.store import MIGRATIONS, Store, StoreError


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


def test_store_errors_are_pillbox_errors_and_runtime_errors():
    assert issubclass(StoreError, PillboxError) and issubclass(StoreError, RuntimeError)

"""Doses and alerts written column by column: a step rewrites only what changed since the last write.

Each page a write touches is a WAL frame synced to the SD card. INSERT OR REPLACE deletes and
re-inserts a row, rewriting every index of the table; an UPDATE of the changed columns touches the
table's page only (and an index only when one of its columns changed). What was last written is
remembered in memory for the rows that still change (doses not closed, alerts not resolved); any
other row is read (no write) before it is updated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

Row = tuple[Any, ...]


class RowWriter:
    """Writes rows of one table keyed by its first column, remembering those that may change again."""

    def __init__(self, table: str, columns: list[str], live: Callable[[dict[str, Any]], bool]) -> None:
        self.table = table
        self.columns = columns
        self.key = columns[0]
        self.live = live  # rows for which it is worth remembering what was written
        self.written: dict[Any, Row] = {}
        self._insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"

    def seen(self, rows: Iterable[dict[str, Any]]) -> None:
        """Rows read from the database: that is what it holds."""
        for row in rows:
            if self.live(row):
                self.written[row[self.key]] = tuple(row[c] for c in self.columns)

    def changed(self, rows: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], Row]]:
        """The rows that differ from what was last written (all of those not remembered)."""
        out = []
        for row in rows:
            values = tuple(row[c] for c in self.columns)
            if self.written.get(values[0]) != values:
                out.append((row, values))
        return out

    def write(self, conn: sqlite3.Connection, rows: list[tuple[dict[str, Any], Row]]) -> None:
        """Inside the caller's transaction: new rows inserted, others updated in the changed columns."""
        for _, values in rows:
            before = self.written.get(values[0])
            if before is None:
                found = conn.execute(
                    f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE {self.key}=?", (values[0],)
                ).fetchone()
                if found is None:
                    conn.execute(self._insert, values)
                    continue
                before = tuple(found)
            changed = [i for i in range(1, len(values)) if before[i] != values[i]]
            if changed:
                sets = ", ".join(f"{self.columns[i]}=?" for i in changed)
                conn.execute(
                    f"UPDATE {self.table} SET {sets} WHERE {self.key}=?", [values[i] for i in changed] + [values[0]]
                )

    def committed(self, rows: list[tuple[dict[str, Any], Row]]) -> None:
        """The transaction that wrote `rows` is on disk."""
        for row, values in rows:
            if self.live(row):
                self.written[values[0]] = values
            else:
                self.written.pop(values[0], None)

"""The MQTT outbox: events committed but not yet delivered to the hub, in seq order."""

from __future__ import annotations

import sqlite3

from .database import Database


class Outbox:
    """Rows are added in the engine's own transaction, so an event is never committed without its entry."""

    def __init__(self, db: Database, *, enabled: bool) -> None:
        self.db = db
        self.enabled = enabled

    def add(self, conn: sqlite3.Connection, seqs: list[int]) -> None:
        """Inside the caller's transaction: these events wait for delivery (when MQTT is on)."""
        if self.enabled and seqs:
            conn.executemany("INSERT INTO outbox (seq) VALUES (?)", [(s,) for s in seqs])

    def waiting(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def batch(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """Undelivered events after `after_seq`, in seq order: (seq, JSON)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT o.seq, e.json FROM outbox o JOIN events e ON e.seq = o.seq WHERE o.seq > ? "
                "ORDER BY o.seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def mark_delivered(self, seqs: list[int]) -> None:
        with self.db.tx() as conn:
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

"""What happened, for the page, the API and the reports: events, daily counts, adherence."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from .database import Database


class History:
    """Read-only queries over the events and the closed doses."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def events(self, *, after_seq: int = 0, event_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT json FROM events WHERE seq > ?"
        args: list[Any] = [after_seq]
        if event_type:
            sql += " AND event_type = ?"
            args.append(event_type)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self.db.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def all_events(self) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            batch = self.events(after_seq=after, limit=1000)
            if not batch:
                return
            yield from batch
            after = batch[-1]["seq"]

    def events_between(
        self, *, start: str | None, end: str | None, event_type: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Events (newest first) with time in [start, end), optionally of one type; and their total."""
        with self.db.read() as conn:
            where: list[str] = ["1=1"]
            args: list[Any] = []
            if start:
                where.append("seq >= ?")
                args.append(_first_seq_at(conn, start))
            if end:
                where.append("seq < ?")
                args.append(_first_seq_at(conn, end))
            if event_type:
                where.append("event_type = ?")
                args.append(event_type)
            clause = " AND ".join(where)
            total = conn.execute(f"SELECT COUNT(*) FROM events WHERE {clause}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT json FROM events WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return [json.loads(r[0]) for r in rows], int(total)

    def adherence(self, since: dt.datetime, until: dt.datetime) -> float | None:
        """Percent taken of taken + missed, over doses whose windows closed in (since, until]."""
        with self.db.read() as conn:
            rows = dict(
                conn.execute(
                    "SELECT state, COUNT(*) FROM doses WHERE closed=1 AND closes_at > ? AND closes_at <= ? "
                    "AND state IN ('taken', 'missed') GROUP BY state",
                    (since.astimezone(dt.UTC).isoformat(), until.astimezone(dt.UTC).isoformat()),
                ).fetchall()
            )
        total = rows.get("taken", 0) + rows.get("missed", 0)
        return round(100 * rows.get("taken", 0) / total, 1) if total else None

    def daily_counts(self, first: str, last: str) -> dict[str, dict[str, int]]:
        """{local date: {state: count}} for closed doses on local dates first..last."""
        out: dict[str, dict[str, int]] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT local_date, state, COUNT(*) FROM doses WHERE closed=1 AND local_date BETWEEN ? AND ? "
                "GROUP BY local_date, state",
                (first, last),
            ).fetchall()
        for day, state, count in rows:
            out.setdefault(day, {})[state] = count
        return out

    def report_counts(
        self, first: str, last: str
    ) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str, int]]]:
        """(local date, medication, state, count) of closed doses, and (date, medication, late intakes)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT local_date, medication, state, COUNT(*) FROM doses "
                "WHERE local_date BETWEEN ? AND ? AND closed=1 GROUP BY local_date, medication, state",
                (first, last),
            ).fetchall()
            late = conn.execute(
                "SELECT d.local_date, d.medication, COUNT(*) FROM events e JOIN doses d ON d.dose_id = e.dose_id "
                "WHERE e.event_type='dose_taken' AND json_extract(e.json, '$.on_time') = 0 AND d.closed=1 "
                "AND d.local_date BETWEEN ? AND ? GROUP BY d.local_date, d.medication",
                (first, last),
            ).fetchall()
        return [tuple(r) for r in rows], [tuple(r) for r in late]


def _first_seq_at(conn: sqlite3.Connection, time: str) -> int:
    """The seq from which every event is at or after `time`: stamps never go back as seq goes up (the
    engine's rule), so a bisection over seq finds it in about 20 primary-key lookups, with no index on
    time to write at every event."""
    low, high = conn.execute("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) + 1 FROM events").fetchone()
    while low < high:
        middle = (low + high) // 2
        row = conn.execute("SELECT time FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,)).fetchone()
        if row is None or row[0] >= time:
            high = middle
        else:
            low = middle + 1
    return int(low)

"""The database's tables: one migration per schema version, applied in order at open."""

from __future__ import annotations

# Every page an engine step touches is one WAL frame (the page + 24 bytes) appended and synced: with
# small pages each table or index an event touches costs about half a KiB instead of 4 KiB. Only a
# database created from now on gets it; one that exists keeps its page size.
PAGE_SIZE = 512

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
    # Fewer pages written per event. The events table loses AUTOINCREMENT (its counter was a page of
    # its own; the highest seq ever given is kept in meta, on the page the engine's state goes to
    # anyway), the unique index on the uuid that no query reads and the index on time (an event's
    # time never goes back as seq goes up, so a time range is found as a seq range). The index of
    # unresolved alerts, read once at start, goes too. Runs with foreign keys off (outbox refers to
    # events).
    """
    INSERT INTO meta (key, value) VALUES ('last_seq', (
        SELECT MAX(n) FROM (
            SELECT COALESCE(MAX(seq), 0) AS n FROM events
            UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'events'
        )
    ));
    CREATE TABLE events_3 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        time TEXT NOT NULL,
        medication TEXT,
        dose_id TEXT,
        json TEXT NOT NULL
    );
    INSERT INTO events_3 (seq, id, event_type, time, medication, dose_id, json)
        SELECT seq, id, event_type, time, medication, dose_id, json FROM events ORDER BY seq;
    DROP TABLE events;
    ALTER TABLE events_3 RENAME TO events;
    CREATE INDEX events_type ON events (event_type, seq);
    DROP INDEX alerts_active;
    """,
]

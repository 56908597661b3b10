"""The database's tables: one migration per schema version, applied in order at open."""

from __future__ import annotations

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

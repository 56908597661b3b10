"""Caregivers, their server-side sessions and the API tokens: rows only, hashed by device/accounts.py."""

from __future__ import annotations

from typing import Any

from .database import Database


class AccountRecords:
    """The users, sessions and tokens tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def user(self, name: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM users ORDER BY name")]

    def put_user(self, name: str, password_hash: str, created_at: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET password_hash=excluded.password_hash, failed_logins=0, "
                "locked_until=NULL",
                (name, password_hash, created_at),
            )

    def login_result(self, name: str, failed: int, locked_until: str | None) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE users SET failed_logins=?, locked_until=? WHERE name=?", (failed, locked_until, name))

    def set_password_hash(self, name: str, password_hash: str) -> bool:
        """A new password; every session the caregiver had ends with the old one."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE user_name=?", (name,))
            return (
                conn.execute(
                    "UPDATE users SET password_hash=?, failed_logins=0, locked_until=NULL WHERE name=?",
                    (password_hash, name),
                ).rowcount
                > 0
            )

    def delete_user(self, name: str) -> bool:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE user_name=?", (name,))
            return conn.execute("DELETE FROM users WHERE name=?", (name,)).rowcount > 0

    def put_session(self, session_hash: str, name: str, created_at: str, expires_at: str) -> None:
        """A new login's session; sessions already expired at `created_at` are cleared out."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (created_at,))
            conn.execute(
                "INSERT INTO sessions (id, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (session_hash, name, created_at, expires_at),
            )

    def session_user(self, session_hash: str, now: str) -> str | None:
        """The caregiver of a live session, or None: one primary-key lookup each, no write."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT s.user_name FROM sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.id=? AND s.expires_at > ?",
                (session_hash, now),
            ).fetchone()
        return str(row[0]) if row else None

    def delete_session(self, session_hash: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE id=?", (session_hash,))

    def put_token(self, name: str, token_hash: str, created_at: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO tokens (name, token_hash, created_at) VALUES (?, ?, ?)", (name, token_hash, created_at)
            )

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM tokens WHERE token_hash=?", (token_hash,)).fetchone()
        return dict(row) if row else None

    def tokens(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute("SELECT name, created_at, last_used_at FROM tokens ORDER BY name")]

    def delete_token(self, name: str) -> bool:
        with self.db.tx() as conn:
            return conn.execute("DELETE FROM tokens WHERE name=?", (name,)).rowcount > 0

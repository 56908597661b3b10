"""Caregiver accounts, sessions and API tokens: hashed passwords, slowed-down failed logins, hashed ids."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from .errors import ActionError, Conflict, NotFound
from .store import Store

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8
# After the third failure in a row, each further failure locks the account for twice as long.
FREE_FAILURES = 3
MAX_LOCK = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_name(name: str, what: str = "name") -> str:
    if not NAME.match(name):
        raise ActionError(f"{what}: use 1 to 64 letters, digits, '.', '_', '-' or '@', not {name!r}.")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ActionError(f"password: must be at least {MIN_PASSWORD} characters long.")
    if len(password) > 1024:
        raise ActionError("password: must be at most 1024 characters long.")
    return password


class Accounts:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------------------ users

    def add(self, name: str, password: str) -> None:
        check_name(name)
        if self.store.user(name) is not None:
            raise Conflict(f"name: a caregiver named {name!r} already exists (use `pillbox user passwd`).")
        self.store.put_user(name, generate_password_hash(check_password(password)), _now().isoformat())

    def set_password(self, name: str, password: str) -> None:
        """A new password; the caregiver's sessions end (log in again everywhere)."""
        if self.store.user(name) is None or not self.store.set_password_hash(
            name, generate_password_hash(check_password(password))
        ):
            raise NotFound(f"name: no caregiver named {name!r}.")

    def remove(self, name: str) -> None:
        """The caregiver and every session of theirs are gone."""
        if not self.store.delete_user(name):
            raise NotFound(f"name: no caregiver named {name!r}.")

    def names(self) -> list[str]:
        return [u["name"] for u in self.store.users()]

    def login(self, name: str, password: str, now: dt.datetime | None = None) -> tuple[bool, float]:
        """(accepted, seconds to wait before the next try). Unknown names cost the same time."""
        now = now or _now()
        user = self.store.user(name) if NAME.match(name or "") else None
        if user is None:
            check_password_hash(_DUMMY, password)  # the same work as for a real account
            return False, 0.0
        locked = user["locked_until"]
        if locked and dt.datetime.fromisoformat(locked) > now:
            return False, (dt.datetime.fromisoformat(locked) - now).total_seconds()
        if check_password_hash(user["password_hash"], password):
            self.store.login_result(name, 0, None)
            return True, 0.0
        failed = user["failed_logins"] + 1
        wait = dt.timedelta(0)
        if failed > FREE_FAILURES:
            wait = min(MAX_LOCK, dt.timedelta(seconds=2 ** (failed - FREE_FAILURES)))
        self.store.login_result(name, failed, (now + wait).isoformat() if wait else None)
        return False, wait.total_seconds()

    # --------------------------------------------------------------------------- sessions

    def open_session(self, name: str, now: dt.datetime | None = None) -> str:
        """A new session for a caregiver who just logged in: its id, kept only hashed in the database."""
        now = now or _now()
        session_id = secrets.token_urlsafe(32)
        self.store.put_session(_hash(session_id), name, _stamp(now), _stamp(now + SESSION_LIFETIME))
        return session_id

    def session_user(self, session_id: str, now: dt.datetime | None = None) -> str | None:
        """The caregiver of a session that has not ended or expired, or None."""
        if not session_id or len(session_id) > 200:
            return None
        return self.store.session_user(_hash(session_id), _stamp(now or _now()))

    def close_session(self, session_id: str) -> None:
        if session_id and len(session_id) <= 200:
            self.store.delete_session(_hash(session_id))

    # ----------------------------------------------------------------------------- tokens

    def create_token(self, name: str) -> str:
        check_name(name)
        if any(t["name"] == name for t in self.store.tokens()):
            raise Conflict(f"name: a token named {name!r} already exists.")
        token = "pbx_" + secrets.token_urlsafe(32)
        self.store.put_token(name, _hash(token), _now().isoformat())
        return token

    def revoke_token(self, name: str) -> None:
        if not self.store.delete_token(name):
            raise NotFound(f"name: no token named {name!r}.")

    def token_names(self) -> list[dict[str, str | None]]:
        return self.store.tokens()

    def check_token(self, token: str) -> str | None:
        """The token's name, or None."""
        if not token or len(token) > 200:
            return None
        row = self.store.token_by_hash(_hash(token))
        return row["name"] if row else None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _stamp(moment: dt.datetime) -> str:
    """UTC to the second in one fixed format, so that the database can compare them as text."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


_DUMMY = generate_password_hash(secrets.token_hex(8))

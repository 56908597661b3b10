"""The caregivers' status page and JSON API (Flask): `create_app` is the only wiring point."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from device.accounts import SESSION_LIFETIME, Accounts
from device.daemon import Daemon
from device.engine import messages as say
from device.engine.model import Config

from .services import Services


def secret_key(state_dir: str) -> str:
    """The session-signing key, made once and kept in the state directory (mode 600)."""
    path = Path(state_dir) / "web-secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


def create_app(config: Config, daemon: Daemon, *, testing: bool = False) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(config.device.state_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="pillbox_session",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_REFRESH_EACH_REQUEST=False,  # the row in `sessions` decides when a session ends
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in auth.identify for session requests only
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        MAX_CONTENT_LENGTH=64 * 1024,
        TESTING=testing,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    given = Services(config, daemon, Accounts(daemon.store))
    app.extensions["pillbox"] = given
    facade = given.app  # the same façade the views use
    app.jinja_env.filters["count"] = say.count  # "1 tablet", "2 tablets"
    app.jinja_env.filters["hours"] = say.hours_text  # "1 hour", "less than 0.1 hours"

    from . import api, auth, pages

    auth.csrf.init_app(app)
    app.before_request(auth.identify)

    @app.before_request
    def starting() -> Any:
        """Until the engine has started (the bounded wait for a synchronised clock), say so."""
        if facade.started or request.endpoint in ("healthz", "auth.login", "auth.logout", "static"):
            return None
        if g.get("user") is None and g.get("token") is None:
            return None  # the login comes first
        minutes = config.device.clock_sync_wait_minutes
        if request.path.startswith("/api/"):
            return auth.json_error(503, f"starting: waiting up to {minutes:g} minutes for a synchronised clock")
        return render_template("starting.html", minutes=f"{minutes:g}"), 503

    app.register_error_handler(CSRFError, auth.csrf_failed)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)

    @app.route("/healthz")
    def healthz() -> Any:
        healthy = facade.healthy()
        response = jsonify({"status": "ok" if healthy else "unavailable"})
        response.status_code = 200 if healthy else 503
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            response = auth.json_error(error.code or 500, error.description or error.name)
            for name, value in error.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value  # Allow on 405, say
            return response
        return error

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        app.logger.exception("unexpected error on %s", request.path)
        if request.path.startswith("/api/"):
            return auth.json_error(500, "internal error; see the daemon's log")
        return "Internal error; see the daemon's log.", 500

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
        )
        return response

    return app

"""Login, logout, sessions, API tokens and CSRF: every route but /healthz, /login and static needs one."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect

from .services import services

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
F = TypeVar("F", bound=Callable[..., Any])
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    return None


def identify() -> None:
    """Who is asking: a session's caregiver, or an API token's name. CSRF for sessions only."""
    g.user = None
    g.token = None
    token = _bearer()
    if token is not None:
        g.token = services().accounts.check_token(token)
        return
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return
    user = services().accounts.session_user(session_id)
    if user is None:  # logged out, password changed, caregiver removed, or expired
        session.pop("sid", None)
        return
    g.user = user
    if request.method in UNSAFE:
        csrf.protect()


def actor() -> str:
    """Who acts, for the `by` of the events an action causes: the caregiver, or the API token's name."""
    name = g.get("user") or g.get("token")
    if not isinstance(name, str):
        raise RuntimeError("actor() needs an authenticated request (login_required)")
    return name


def json_error(status: int, message: str, field: str | None = None) -> Any:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def is_api() -> bool:
    return request.path.startswith("/api/")


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None and g.get("token") is None:
            if is_api():
                return json_error(401, "authentication required: log in or send Authorization: Bearer <token>")
            return redirect(url_for("auth.login", next=request.full_path if request.args else request.path))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def csrf_failed(error: CSRFError) -> Any:
    if is_api():
        return json_error(400, f"csrf_token: {error.description} Send it in the X-CSRFToken header.", "csrf_token")
    return render_template("error.html", title="Form expired", message=error.description), 400


def safe_next(target: str) -> str | None:
    """A path on this device to go back to after login, or None (no other hosts, no tricks)."""
    if not target or any(ord(c) < 0x20 or c == "\\" for c in target) or len(target) > 500:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        csrf.protect()
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        accepted, wait = services().accounts.login(name, password)
        if accepted:
            session.clear()
            session.permanent = True
            session["sid"] = services().accounts.open_session(name)
            return redirect(safe_next(request.args.get("next", "")) or url_for("pages.dashboard"))
        time.sleep(0.5)  # every failure costs time; repeated ones lock the account for longer
        if wait:
            flash(f"Too many failed attempts: try again in {int(wait) + 1} seconds.", "error")
        else:
            flash("Wrong name or password.", "error")
        return render_template("login.html", name=name), 401
    return render_template("login.html", name="")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    if g.get("user") is None:
        return redirect(url_for("auth.login"))
    services().accounts.close_session(session["sid"])
    session.clear()
    flash("Logged out.", "info")
    return redirect(url_for("auth.login"))

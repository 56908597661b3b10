"""The caregiver's pages: the dashboard (with its live fragment), the history, and the form actions."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from device.engine.events import EVENT_TYPES
from device.errors import ActionError

from . import actions
from .auth import actor, login_required
from .dashboard import build, local, state_word
from .services import services

bp = Blueprint("pages", __name__)
PAGE = 50


@bp.app_template_filter("local")
def _local(value: Any, fmt: str = "%a %d %b %H:%M") -> str:
    return local(value, fmt) or "—"


@bp.app_template_filter("state_word")
def _state_word(value: str) -> str:
    return state_word(value)


@bp.get("/")
@login_required
def dashboard() -> Any:
    return render_template("dashboard.html", d=build())


@bp.get("/fragment")
@login_required
def fragment() -> Any:
    """The live part of the dashboard; the page fetches it every few seconds and swaps it when it changed."""
    html = render_template("_live.html", d=build())
    response = Response(html, mimetype="text/html")
    response.headers["X-Content-Hash"] = hashlib.sha256(html.encode()).hexdigest()[:16]
    response.headers["Cache-Control"] = "no-store"
    return response


def _act(action: Any, done: str) -> Any:
    try:
        action()
        flash(done, "info")
    except ActionError as exc:
        flash(str(exc), "error")
    return redirect(url_for("pages.dashboard"))


@bp.post("/actions/ack/<alert_id>")
@login_required
def ack(alert_id: str) -> Any:
    return _act(lambda: actions.acknowledge(alert_id, by=actor()), "Alert acknowledged.")


@bp.post("/actions/ack-all")
@login_required
def ack_all() -> Any:
    return _act(lambda: actions.acknowledge_all(by=actor()), "Alerts acknowledged (high alerts need their own button).")


@bp.post("/actions/skip")
@login_required
def skip() -> Any:
    form = request.form
    return _act(
        lambda: actions.skip(form.get("dose_id", ""), {"reason": form.get("reason", "")}, by=actor()), "Dose skipped."
    )


@bp.post("/actions/taken")
@login_required
def taken() -> Any:
    form = request.form
    data: dict[str, Any] = {"from_dispenser": form.get("from_dispenser") == "on"}
    if form.get("at"):
        data["at"] = form["at"]
    return _act(lambda: actions.taken(form.get("dose_id", ""), data, by=actor()), "Dose recorded as taken.")


@bp.post("/actions/refill")
@login_required
def refill() -> Any:
    form = request.form
    return _act(
        lambda: actions.refill(
            {"medication": form.get("medication", ""), "tablets": form.get("tablets", "")}, by=actor()
        ),
        "Refill recorded.",
    )


@bp.post("/actions/refill-mode")
@login_required
def refill_mode() -> Any:
    return _act(
        lambda: actions.refill_mode(by=actor()), "Refill mode for 15 minutes: opening the lid does not count as a dose."
    )


@bp.post("/actions/away")
@login_required
def away() -> Any:
    form = request.form
    data = {"until": form.get("until", "")}
    if form.get("from"):
        data["from"] = form["from"]
    return _act(lambda: actions.set_away(data, by=actor()), "Away recorded.")


@bp.post("/actions/away-end")
@login_required
def away_end() -> Any:
    return _act(lambda: actions.end_away(by=actor()), "The patient is back.")


def _history_query() -> dict[str, Any]:
    args = request.args
    kind = args.get("type") or None
    if kind and kind not in EVENT_TYPES:
        kind = None
    tz = services().config.tz
    start = end = None
    try:
        if args.get("from"):
            start = dt.datetime.combine(dt.date.fromisoformat(args["from"]), dt.time(), tz).astimezone(dt.UTC)
        if args.get("to"):
            day = dt.date.fromisoformat(args["to"]) + dt.timedelta(days=1)
            end = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        flash("Dates must look like 2026-11-26.", "error")
        start = end = None
    return {
        "type": kind,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }


@bp.get("/history")
@login_required
def history() -> Any:
    query = _history_query()
    try:
        page = min(max(1, int(request.args.get("page", "1"))), 1_000_000)
    except ValueError:
        page = 1
    events, total = services().app.history(
        start=query["start"], end=query["end"], event_type=query["type"], limit=PAGE, offset=(page - 1) * PAGE
    )
    pages = max(1, -(-total // PAGE))
    if page > pages:  # past the end: show the last page
        page = pages
        events, total = services().app.history(
            start=query["start"], end=query["end"], event_type=query["type"], limit=PAGE, offset=(page - 1) * PAGE
        )
    args = {k: request.args[k] for k in ("type", "from", "to") if request.args.get(k)}
    return render_template(
        "history.html", events=events, total=total, page=page, pages=pages, types=list(EVENT_TYPES), args=args
    )


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: free text (a reason, a name) never starts a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/history.csv")
@login_required
def history_csv() -> Any:
    query = _history_query()
    events, _ = services().app.history(
        start=query["start"], end=query["end"], event_type=query["type"], limit=100_000, offset=0
    )
    out = io.StringIO()
    columns = [
        "seq", "time", "event_type", "priority", "medication", "dose_id", "scheduled_for", "dose_mg",
        "by", "source", "reason", "message",
    ]  # fmt: skip
    writer = csv.writer(out)
    writer.writerow(columns)
    for event in reversed(events):
        writer.writerow([_cell(event.get(c)) for c in columns])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=pillbox-history.csv"},
    )

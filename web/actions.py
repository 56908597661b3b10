"""The caregiver's actions, shared by the JSON API and the page's forms: parse, check, carry out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from device.app import MOCK_ACTIONS
from device.errors import NotFound

from . import contract
from .contract import BadInput, shown
from .services import services


def _checked(spec: contract.Input, data: Any, form: bool) -> dict[str, Any]:
    """The input as its declaration says; from the page's forms (`form`), fields arrive as text."""
    if form and isinstance(data, Mapping):
        return spec.form(data)
    return spec.check(data)


def _time(value: str, field: str) -> dt.datetime:
    """A checked DATE_TIME in UTC: as given with its offset, else the device's local time."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:  # Python's `$` lets a final newline through the pattern; JSON Schema's does not
        raise BadInput(field, f"expected {contract.DATE_TIME['description']}, not {shown(value)}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=services().config.tz, fold=0)
    return moment.astimezone(dt.UTC)


def _date(value: str, field: str) -> dt.date:
    """A checked DATE."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:  # as in _time
        raise BadInput(field, f"expected {contract.DATE['description']}, not {shown(value)}.") from None


# ------------------------------------------------------------------------------------ reading


def status() -> dict[str, Any]:
    state = services().app.status()
    return state


def doses(args: MultiDict[str, str]) -> list[dict[str, Any]]:
    query = contract.DOSES.query(args)
    app = services().app
    today = app.today()
    first = _date(query["from"], "from") if "from" in query else today
    last = _date(query["to"], "to") if "to" in query else first
    if last < first:
        raise contract.TO_NOT_BEFORE_FROM.refuse(f" ({first.isoformat()})")
    if (last - first).days >= contract.MAX_DAYS:
        raise contract.DOSES_AT_MOST.refuse()
    return app.doses(first, last)


def events(args: MultiDict[str, str]) -> list[dict[str, Any]]:
    query = contract.EVENTS.query(args)
    return services().app.events(after_seq=query["after_seq"], event_type=query.get("type"), limit=query["limit"])


def alerts() -> list[dict[str, Any]]:
    return services().app.alerts()


# ------------------------------------------------------------------------------------ acting


def acknowledge(alert_id: str, *, by: str) -> dict[str, Any]:
    if not alert_id or len(alert_id) > 64 or alert_id == "all":
        raise NotFound(f"alert: no alert with id {alert_id[:64]!r}.")
    return services().app.acknowledge(alert_id, by=by)


def acknowledge_all(*, by: str) -> int:
    return services().app.acknowledge_all(by=by)


def refill(data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    checked = _checked(contract.REFILL, data, form)
    config = services().config
    medication = checked.get("medication")
    if medication is None and len(config.medications) == 1:
        medication = config.medications[0].name
    if medication is None:
        raise contract.MEDICATION_NEEDED.refuse()
    tablets = checked["tablets"]
    return services().app.refill(medication, float(tablets), by=by)


def refill_mode(*, by: str) -> dict[str, Any]:
    return services().app.refill_mode(by=by)


def set_away(data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    checked = _checked(contract.AWAY, data, form)
    app = services().app
    start = _time(checked["from"], "from") if checked.get("from") is not None else app.now()
    until = _time(checked["until"], "until")
    if until <= start:
        raise contract.UNTIL_AFTER_FROM.refuse()
    if until - start > dt.timedelta(days=contract.MAX_DAYS):
        raise contract.AWAY_AT_MOST.refuse()
    return app.set_away(start, until, by=by)


def end_away(*, by: str) -> dict[str, Any]:
    return services().app.end_away(by=by)


def away_json() -> dict[str, Any]:
    return services().app.away()


def skip(dose_id: str, data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    reason: str = _checked(contract.SKIP, data, form)["reason"]
    return services().app.skip(dose_id, reason.strip(), by=by)


def taken(dose_id: str, data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    checked = _checked(contract.TAKEN, data, form)
    # As given: whether a dose needs `at`, and how near its time, is the engine's rule.
    at = _time(checked["at"], "at") if checked.get("at") is not None else None
    from_dispenser: bool = checked["from_dispenser"]
    return services().app.mark_taken(dose_id, at=at, from_dispenser=from_dispenser, by=by)


def mock(action: str) -> dict[str, Any]:
    if action not in MOCK_ACTIONS:
        raise BadInput("action", f"must be one of {', '.join(MOCK_ACTIONS)}.")
    return services().app.mock(action)

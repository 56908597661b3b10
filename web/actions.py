"""The caregiver's actions, shared by the JSON API and the page's forms: parse, check, carry out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from device.engine.events import to_json
from device.engine.state import Dose
from device.errors import NotFound
from device.hardware import MOCK_ACTIONS
from device.status import alert_list, device_state

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


def dose_json(dose: Dose) -> dict[str, Any]:
    s = dose.spec
    return {
        "dose_id": s.dose_id,
        "medication": s.medication,
        "scheduled_for": s.scheduled_for.isoformat(),
        "dose_mg": int(s.dose_mg) if float(s.dose_mg).is_integer() else s.dose_mg,
        "tablets": int(s.tablets) if float(s.tablets).is_integer() else s.tablets,
        "state": str(dose.state),
        "taken_at": dose.taken_at.astimezone(dt.UTC).replace(microsecond=0).isoformat() if dose.taken_at else None,
        "source": dose.source,
        "reason": dose.reason,
    }


# ------------------------------------------------------------------------------------ reading


def status() -> dict[str, Any]:
    daemon = services().daemon
    state = device_state(daemon)
    with daemon.lock:
        now = daemon.wall()
        today = now.astimezone(daemon.config.tz).date()
        doses = daemon.engine.doses_between(today, today)
    state["today"] = [dose_json(d) for d in doses]
    state["hub_connected"] = daemon.mqtt_connected()
    state["outbox_waiting"] = daemon.store.outbox_waiting() if daemon.config.mqtt.enabled else 0
    return state


def doses(args: MultiDict[str, str]) -> list[dict[str, Any]]:
    query = contract.DOSES.query(args)
    daemon = services().daemon
    today = daemon.wall().astimezone(daemon.config.tz).date()
    first = _date(query["from"], "from") if "from" in query else today
    last = _date(query["to"], "to") if "to" in query else first
    if last < first:
        raise contract.TO_NOT_BEFORE_FROM.refuse(f" ({first.isoformat()})")
    if (last - first).days >= contract.MAX_DAYS:
        raise contract.DOSES_AT_MOST.refuse()
    with daemon.lock:
        return [dose_json(d) for d in daemon.engine.doses_between(first, last)]


def events(args: MultiDict[str, str]) -> list[dict[str, Any]]:
    query = contract.EVENTS.query(args)
    return services().daemon.store.events(
        after_seq=query["after_seq"], event_type=query.get("type"), limit=query["limit"]
    )


def alerts() -> list[dict[str, Any]]:
    return alert_list(services().daemon)


# ------------------------------------------------------------------------------------ acting


def acknowledge(alert_id: str, *, by: str) -> dict[str, Any]:
    if not alert_id or len(alert_id) > 64 or alert_id == "all":
        raise NotFound(f"alert: no alert with id {alert_id[:64]!r}.")
    chosen, _ = services().daemon.call(lambda engine, now: engine.acknowledge(alert_id, now, by=by))
    item = chosen[0].public()
    item.pop("resolved", None)
    return item


def acknowledge_all(*, by: str) -> int:
    chosen, _ = services().daemon.call(lambda engine, now: engine.acknowledge("all", now, by=by))
    return len(chosen)


def refill(data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    checked = _checked(contract.REFILL, data, form)
    config = services().config
    medication = checked.get("medication")
    if medication is None and len(config.medications) == 1:
        medication = config.medications[0].name
    if medication is None:
        raise contract.MEDICATION_NEEDED.refuse()
    tablets = checked["tablets"]
    events = services().daemon.call(lambda engine, now: engine.refill(medication, float(tablets), now, by=by))
    refill_event = next(e for e in events if e.event_type == "refill")
    return to_json(refill_event)


def refill_mode(*, by: str) -> dict[str, Any]:
    daemon = services().daemon
    daemon.call(lambda engine, now: engine.start_refill_mode(now, by=by))
    until = daemon.engine.dev.refill_mode_until
    return {"refill_mode_until": until.astimezone(dt.UTC).replace(microsecond=0).isoformat() if until else None}


def set_away(data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    checked = _checked(contract.AWAY, data, form)
    daemon = services().daemon
    start = _time(checked["from"], "from") if checked.get("from") is not None else daemon.wall()
    until = _time(checked["until"], "until")
    if until <= start:
        raise contract.UNTIL_AFTER_FROM.refuse()
    if until - start > dt.timedelta(days=contract.MAX_DAYS):
        raise contract.AWAY_AT_MOST.refuse()
    daemon.call(lambda engine, now: engine.set_away(start, until, now, by=by))
    return away_json()


def end_away(*, by: str) -> dict[str, Any]:
    services().daemon.call(lambda engine, now: engine.end_away(now, by=by))
    return away_json()


def away_json() -> dict[str, Any]:
    dev = services().daemon.engine.dev

    def text(t: dt.datetime | None) -> str | None:
        return t.astimezone(dt.UTC).replace(microsecond=0).isoformat() if t else None

    return {"away": dev.away_active, "from": text(dev.away_from), "until": text(dev.away_until)}


def skip(dose_id: str, data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    reason: str = _checked(contract.SKIP, data, form)["reason"]
    daemon = services().daemon
    daemon.call(lambda engine, now: engine.skip(dose_id, reason.strip(), now, by=by))
    return _dose(dose_id)


def taken(dose_id: str, data: Any, *, by: str, form: bool = True) -> dict[str, Any]:
    checked = _checked(contract.TAKEN, data, form)
    # As given: whether a dose needs `at`, and how near its time, is the engine's rule.
    at = _time(checked["at"], "at") if checked.get("at") is not None else None
    from_dispenser: bool = checked["from_dispenser"]
    daemon = services().daemon
    daemon.call(lambda engine, now: engine.mark_taken(dose_id, now, at=at, from_dispenser=from_dispenser, by=by))
    return _dose(dose_id)


def _dose(dose_id: str) -> dict[str, Any]:
    daemon = services().daemon
    with daemon.lock:
        dose = daemon.engine.dose(dose_id)
    assert dose is not None
    return dose_json(dose)


def mock(action: str) -> dict[str, Any]:
    hw = services().daemon.hardware
    if action not in MOCK_ACTIONS:
        raise BadInput("action", f"must be one of {', '.join(MOCK_ACTIONS)}.")
    hw.mock(action)
    return {"hardware": hw.snapshot()}

"""The caregiver's actions, shared by the JSON API and the page's forms: parse, check, carry out."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from device.engine.events import EVENT_TYPES, to_json
from device.engine.state import Dose
from device.errors import ActionError, NotFound
from device.hardware import MOCK_ACTIONS
from device.status import alert_list, device_state

from .services import services

MAX_DAYS = 366


class BadInput(ActionError):
    """A field of a request is missing or wrong; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _object(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput("body", "expected a JSON object.")
    return data


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed and key != "csrf_token":
            raise BadInput(key, f"unknown field (expected one of: {', '.join(sorted(allowed))}).")


def parse_time(value: Any, field: str) -> dt.datetime:
    """ISO 8601 with an offset, or a local time of the device's zone like 2026-11-26T08:30."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(field, "expected a date and time like 2026-11-26T08:30.")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(field, f"expected a date and time like 2026-11-26T08:30, not {value[:40]!r}.") from None
    if not 2000 <= moment.year <= 2200:
        raise BadInput(field, f"expected a date and time between the years 2000 and 2200, not {value[:40]!r}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=services().config.tz, fold=0)
    return moment.astimezone(dt.UTC)


def parse_date(value: Any, field: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadInput(field, f"expected a date like 2026-11-26, not {str(value)[:40]!r}.") from None
    if not 2000 <= day.year <= 2200:
        raise BadInput(field, f"expected a date between the years 2000 and 2200, not {str(value)[:40]!r}.")
    return day


def parse_int(value: Any, field: str, low: int, high: int, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise BadInput(field, "is required.")
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise BadInput(field, f"must be a whole number from {low} to {high}, not {str(value)[:20]!r}.") from None
    if not low <= number <= high:
        raise BadInput(field, f"must be a whole number from {low} to {high}, not {number}.")
    return number


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


def doses(args: dict[str, Any]) -> list[dict[str, Any]]:
    daemon = services().daemon
    _only(args, {"from", "to"})
    today = daemon.wall().astimezone(daemon.config.tz).date()
    first = parse_date(args["from"], "from") if args.get("from") else today
    last = parse_date(args["to"], "to") if args.get("to") else first
    if last < first:
        raise BadInput("to", f"must not be before from ({first.isoformat()}).")
    if (last - first).days >= MAX_DAYS:
        raise BadInput("to", f"at most {MAX_DAYS} days at a time.")
    with daemon.lock:
        return [dose_json(d) for d in daemon.engine.doses_between(first, last)]


def events(args: dict[str, Any]) -> list[dict[str, Any]]:
    _only(args, {"after_seq", "type", "limit"})
    after = parse_int(args.get("after_seq"), "after_seq", 0, 2**62, default=0)
    limit = parse_int(args.get("limit"), "limit", 1, 1000, default=100)
    kind = args.get("type") or None
    if kind is not None and kind not in EVENT_TYPES:
        raise BadInput("type", f"unknown event type {str(kind)[:40]!r}.")
    return services().daemon.store.events(after_seq=after, event_type=kind, limit=limit)


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


def refill(data: Any, *, by: str) -> dict[str, Any]:
    data = _object(data)
    _only(data, {"medication", "tablets"})
    config = services().config
    medication = data.get("medication")
    if medication in (None, "") and len(config.medications) == 1:
        medication = config.medications[0].name
    if not isinstance(medication, str) or not medication:
        raise BadInput("medication", "is required where there are several medications.")
    tablets = data.get("tablets")
    if isinstance(tablets, str):
        try:
            tablets = float(tablets)
        except ValueError:
            raise BadInput("tablets", f"must be a number of tablets from 0.5 to 1000, not {tablets[:20]!r}.") from None
    if (
        isinstance(tablets, bool)
        or not isinstance(tablets, int | float)
        or (isinstance(tablets, int) and not -(10**6) < tablets < 10**6)
        or not math.isfinite(tablets)
        or not 0.5 <= tablets <= 1000
        or tablets * 2 != int(tablets * 2)
    ):
        raise BadInput("tablets", "must be a number of tablets from 0.5 to 1000, in halves.")
    events = services().daemon.call(lambda engine, now: engine.refill(medication, float(tablets), now, by=by))
    refill_event = next(e for e in events if e.event_type == "refill")
    return to_json(refill_event)


def refill_mode(*, by: str) -> dict[str, Any]:
    daemon = services().daemon
    daemon.call(lambda engine, now: engine.start_refill_mode(now, by=by))
    until = daemon.engine.dev.refill_mode_until
    return {"refill_mode_until": until.astimezone(dt.UTC).replace(microsecond=0).isoformat() if until else None}


def set_away(data: Any, *, by: str) -> dict[str, Any]:
    data = _object(data)
    _only(data, {"from", "until"})
    daemon = services().daemon
    start = parse_time(data["from"], "from") if data.get("from") else daemon.wall()
    if "until" not in data:
        raise BadInput("until", "is required.")
    until = parse_time(data["until"], "until")
    if until <= start:
        raise BadInput("until", "must be after from.")
    if until - start > dt.timedelta(days=366):
        raise BadInput("until", "at most a year away.")
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


def skip(dose_id: str, data: Any, *, by: str) -> dict[str, Any]:
    data = _object(data)
    _only(data, {"reason"})
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadInput("reason", "is required: why is this dose skipped?")
    if len(reason) > 500:
        raise BadInput("reason", "at most 500 characters.")
    daemon = services().daemon
    daemon.call(lambda engine, now: engine.skip(dose_id, reason.strip(), now, by=by))
    return _dose(dose_id)


def taken(dose_id: str, data: Any, *, by: str) -> dict[str, Any]:
    data = _object(data)
    _only(data, {"at", "from_dispenser"})
    # As given: whether a dose needs `at`, and how near its time, is the engine's rule.
    at = parse_time(data["at"], "at") if data.get("at") is not None else None
    from_dispenser = data.get("from_dispenser", False)
    if from_dispenser in ("on", "true", "1"):
        from_dispenser = True
    if not isinstance(from_dispenser, bool):
        raise BadInput("from_dispenser", "must be true or false.")
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

"""Events: immutable records of what happened, and the one function that turns them into JSON."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


class Priority(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Priority.INFO: 0, Priority.LOW: 1, Priority.MEDIUM: 2, Priority.HIGH: 3}


class EventType(enum.StrEnum):
    """Every event type (SPEC section 7)."""

    DEVICE_STARTED = "device_started"
    DEVICE_STOPPED = "device_stopped"
    DOSE_DUE = "dose_due"
    DOSE_TAKEN = "dose_taken"
    DOSE_OVERDUE = "dose_overdue"
    DOSE_MISSED = "dose_missed"
    DOSE_SKIPPED = "dose_skipped"
    EXTRA_ACCESS = "extra_access"
    INTAKE_STOPPED = "intake_stopped"
    INTAKE_RESUMED = "intake_resumed"
    INTAKE_REDUCED = "intake_reduced"
    DOSE_CHANGED = "dose_changed"
    WITHDRAWAL_WATCH = "withdrawal_watch"
    STOCK_LOW = "stock_low"
    STOCK_OUT = "stock_out"
    REFILL = "refill"
    REFILL_MODE = "refill_mode"
    AWAY_STARTED = "away_started"
    AWAY_ENDED = "away_ended"
    HELP_REQUESTED = "help_requested"
    LID_LEFT_OPEN = "lid_left_open"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    CLOCK_JUMP = "clock_jump"
    CLOCK_UNSYNCED = "clock_unsynced"


class IntakeSource(enum.StrEnum):
    """What showed that a dose was taken."""

    LID = "lid"
    BUTTON = "button"
    CAREGIVER = "caregiver"


# Every event type and its priority (SPEC section 7); lid_left_open may be raised to medium.
EVENT_TYPES: dict[str, Priority] = {
    EventType.DEVICE_STARTED: Priority.INFO,
    EventType.DEVICE_STOPPED: Priority.INFO,
    EventType.DOSE_DUE: Priority.LOW,
    EventType.DOSE_TAKEN: Priority.INFO,
    EventType.DOSE_OVERDUE: Priority.MEDIUM,
    EventType.DOSE_MISSED: Priority.MEDIUM,
    EventType.DOSE_SKIPPED: Priority.INFO,
    EventType.EXTRA_ACCESS: Priority.MEDIUM,
    EventType.INTAKE_STOPPED: Priority.HIGH,
    EventType.INTAKE_RESUMED: Priority.MEDIUM,
    EventType.INTAKE_REDUCED: Priority.MEDIUM,
    EventType.DOSE_CHANGED: Priority.INFO,
    EventType.WITHDRAWAL_WATCH: Priority.MEDIUM,
    EventType.STOCK_LOW: Priority.MEDIUM,
    EventType.STOCK_OUT: Priority.HIGH,
    EventType.REFILL: Priority.INFO,
    EventType.REFILL_MODE: Priority.INFO,
    EventType.AWAY_STARTED: Priority.INFO,
    EventType.AWAY_ENDED: Priority.INFO,
    EventType.HELP_REQUESTED: Priority.HIGH,
    EventType.LID_LEFT_OPEN: Priority.LOW,
    EventType.ALERT_ACKNOWLEDGED: Priority.INFO,
    EventType.ALERT_RESOLVED: Priority.INFO,
    EventType.CLOCK_JUMP: Priority.LOW,
    EventType.CLOCK_UNSYNCED: Priority.MEDIUM,
}


def opens_alert(event_type: str, priority: Priority) -> bool:
    """The one rule of SPEC 8: medium and high events open an alert, and so does lid_left_open."""
    return priority in (Priority.MEDIUM, Priority.HIGH) or event_type == EventType.LID_LEFT_OPEN


# Order of keys in the JSON object: common keys, the dose keys, then the type-specific ones.
_HEAD = ("id", "seq", "event_type", "priority", "time", "device_id")
_DOSE = ("medication", "dose_id", "scheduled_for", "dose_mg", "tablets")


def iso(moment: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with offset, to the second."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def number(value: float | int | None) -> float | int | None:
    """A JSON number: whole values without a fraction (10, not 10.0)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Event:
    """One thing that happened; `fields` holds the dose and type-specific keys."""

    id: str
    seq: int
    event_type: str
    priority: Priority
    time: dt.datetime
    device_id: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    _json: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def to_json(event: Event) -> dict[str, Any]:
    """The event as the JSON object of SPEC section 7, used by the store, MQTT, the API and simulate."""
    if event._json is None:
        object.__setattr__(event, "_json", _encode(event))  # an event never changes: encode it once
    assert event._json is not None
    return dict(event._json)


def _encode(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": event.id,
        "seq": event.seq,
        "event_type": event.event_type,
        "priority": str(event.priority),
        "time": iso(event.time),
        "device_id": event.device_id,
    }
    keys = [k for k in _DOSE if k in event.fields]
    keys += [k for k in event.fields if k not in _DOSE]
    for key in keys:
        value = event.fields[key]
        if isinstance(value, dt.datetime):
            value = iso(value)
        elif isinstance(value, float | int):
            value = number(value)
        out[key] = value
    out["message"] = event.message
    return out


def from_json(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON object (times stay ISO strings in `fields`)."""
    fields = {k: v for k, v in data.items() if k not in _HEAD and k != "message"}
    return Event(
        id=data["id"],
        seq=data["seq"],
        event_type=data["event_type"],
        priority=Priority(data["priority"]),
        time=dt.datetime.fromisoformat(data["time"]),
        device_id=data["device_id"],
        message=data["message"],
        fields=fields,
    )

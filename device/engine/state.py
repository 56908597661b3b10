"""The engine's mutable records (doses, alerts, per-medication and device state) and their rows."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field, fields
from typing import Any

from .events import Priority
from .plan import DoseSpec


class DoseState(enum.StrEnum):
    UPCOMING = "upcoming"
    WAITING = "waiting"
    TAKEN = "taken"
    MISSED = "missed"
    SKIPPED = "skipped"
    AWAY = "away"

    @property
    def final(self) -> bool:
        return self not in (DoseState.UPCOMING, DoseState.WAITING)


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _text(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class Dose:
    """A planned dose and what became of it."""

    spec: DoseSpec
    state: DoseState = DoseState.UPCOMING
    taken_at: dt.datetime | None = None
    source: str | None = None
    reason: str | None = None
    due_sent: bool = False
    overdue_sent: bool = False
    closed: bool = False
    from_dispenser: bool = False

    @property
    def dose_id(self) -> str:
        return self.spec.dose_id

    def row(self) -> dict[str, Any]:
        s = self.spec
        return {
            "dose_id": s.dose_id,
            "medication": s.medication,
            "local_date": s.local_date.isoformat(),
            "slot": s.slot,
            "scheduled_for": s.scheduled_for.isoformat(),
            "closes_at": s.closes_at.isoformat(),
            "dose_mg": s.dose_mg,
            "tablets": s.tablets,
            "state": str(self.state),
            "taken_at": _text(self.taken_at),
            "source": self.source,
            "reason": self.reason,
            "due_sent": int(self.due_sent),
            "overdue_sent": int(self.overdue_sent),
            "closed": int(self.closed),
            "from_dispenser": int(self.from_dispenser),
        }

    @classmethod
    def from_row(cls, spec: DoseSpec, row: dict[str, Any]) -> Dose:
        return cls(
            spec=spec,
            state=DoseState(row["state"]),
            taken_at=_time(row["taken_at"]),
            source=row["source"],
            reason=row["reason"],
            due_sent=bool(row["due_sent"]),
            overdue_sent=bool(row["overdue_sent"]),
            closed=bool(row["closed"]),
            from_dispenser=bool(row.get("from_dispenser", 0)),
        )


# Alerts that have no condition of their own: they resolve when acknowledged.
SELF_RESOLVING = frozenset(
    {"dose_missed", "extra_access", "intake_resumed", "intake_reduced", "help_requested", "withdrawal_watch"}
)


@dataclass
class Alert:
    id: str
    event_type: str
    priority: Priority
    since: dt.datetime
    message: str
    medication: str | None = None
    dose_id: str | None = None
    acknowledged: bool = False
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.resolved_at is None

    def public(self) -> dict[str, Any]:
        """The alert as listed on MQTT `alerts` and the API."""
        out: dict[str, Any] = {
            "id": self.id,
            "event_type": self.event_type,
            "priority": str(self.priority),
            "since": self.since.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
            "message": self.message,
            "acknowledged": self.acknowledged,
        }
        if self.acknowledged and self.acknowledged_by is not None:
            out["acknowledged_by"] = self.acknowledged_by
        if self.medication is not None:
            out["medication"] = self.medication
        if self.dose_id is not None:
            out["dose_id"] = self.dose_id
        if self.resolved_at is not None:
            out["resolved"] = True
        return out

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": self.event_type,
            "priority": str(self.priority),
            "since": self.since.isoformat(),
            "message": self.message,
            "medication": self.medication,
            "dose_id": self.dose_id,
            "acknowledged": int(self.acknowledged),
            "acknowledged_at": _text(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": _text(self.resolved_at),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        return cls(
            id=row["id"],
            event_type=row["event_type"],
            priority=Priority(row["priority"]),
            since=dt.datetime.fromisoformat(row["since"]),
            message=row["message"],
            medication=row["medication"],
            dose_id=row["dose_id"],
            acknowledged=bool(row["acknowledged"]),
            acknowledged_at=_time(row["acknowledged_at"]),
            acknowledged_by=row.get("acknowledged_by"),
            resolved_at=_time(row["resolved_at"]),
        )


@dataclass
class MedState:
    """Per-medication detection and stock state."""

    closed_through: dt.datetime | None = None  # every dose closing at or before this is final
    last_intake_at: dt.datetime | None = None
    detection_start: dt.datetime | None = None  # first start, the return from away, a restart's first dose
    detection_reason: str | None = None  # "away" or "restart" when detection_start is not the first start
    episode_alert: str | None = None  # the open intake_stopped alert's id
    episode_ref: dt.datetime | None = None  # last intake (or detection start) before the episode
    episode_announced_at: dt.datetime | None = None
    episode_quiet_until: dt.datetime | None = None
    stop_checked_for: dt.datetime | None = None  # rule (b) already decided for this reference
    last_reduced_at: dt.datetime | None = None
    episode_closed_at: dt.datetime | None = None  # intake_reduced never looks back past this
    stock: float | None = None
    stock_low_raised: bool = False
    stock_out_raised: bool = False


@dataclass
class DeviceState:
    first_start: dt.datetime | None = None
    last_midnight: dt.date | None = None
    lid_open: bool = False
    lid_opened_at: dt.datetime | None = None
    lid_alert: str | None = None
    lid_alert_priority: str | None = None
    refill_mode_until: dt.datetime | None = None
    away_from: dt.datetime | None = None
    away_until: dt.datetime | None = None
    away_active: bool = False
    away_by: str | None = None
    clock_alert: str | None = None
    meds: dict[str, MedState] = field(default_factory=dict)


def _encode(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        return {"t": obj.isoformat()}
    if isinstance(obj, dt.date):
        return {"d": obj.isoformat()}
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"t"}:
            return dt.datetime.fromisoformat(obj["t"])
        if set(obj) == {"d"}:
            return dt.date.fromisoformat(obj["d"])
        return {k: _decode(v) for k, v in obj.items()}
    return obj


def device_to_blob(
    state: DeviceState, memo: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """The state as JSON-ready data; `memo` keeps each medication's encoding while it does not change."""
    blob = {k: _encode(v) for k, v in vars(state).items() if k != "meds"}
    meds: dict[str, Any] = {}
    for name, ms in state.meds.items():
        values = vars(ms)
        key = tuple(values.values())
        hit = memo.get(name) if memo is not None else None
        if hit is None or hit[0] != key:
            hit = (key, {k: _encode(v) for k, v in values.items()})
            if memo is not None:
                memo[name] = hit
        meds[name] = hit[1]
    blob["meds"] = meds
    return blob


def device_from_blob(blob: dict[str, Any]) -> DeviceState:
    data = {k: _decode(v) for k, v in blob.items()}
    known = {f.name for f in fields(MedState)}
    meds = {
        name: MedState(**{k: v for k, v in med.items() if k in known}) for name, med in data.pop("meds", {}).items()
    }
    known_dev = {f.name for f in fields(DeviceState)}
    return DeviceState(meds=meds, **{k: v for k, v in data.items() if k in known_dev})

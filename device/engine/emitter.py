"""Emission: each event of a step numbered, stamped and attributed, with the doses and alerts it changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .events import EVENT_TYPES, Event, Priority
from .plan import DoseSpec
from .state import Alert, Dose


@dataclass
class Changes:
    """What one step produced, for one commit: its events, and the doses and alerts it changed."""

    events: list[Event] = field(default_factory=list)
    doses: dict[str, Dose] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)


class Emitter:
    """Numbers and stamps events at the engine's current instant, and collects the step's changes."""

    def __init__(self, device_id: str, new_id: Callable[[], str], seq: int, last_time: dt.datetime | None) -> None:
        self.device_id = device_id
        self.new_id = new_id
        self.seq = seq
        self.last_time = last_time
        self.now = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.by: str | None = None  # who caused the events of the command being handled
        self.changes = Changes()

    def stamp(self) -> dt.datetime:
        """Now, or the last event's time if that is later: event times never go back."""
        if self.last_time is not None and self.last_time > self.now:
            return self.last_time
        return self.now

    def emit(
        self,
        event_type: str,
        message: str,
        *,
        priority: Priority | None = None,
        dose: DoseSpec | None = None,
        medication: str | None = None,
        **extra: Any,
    ) -> Event:
        prio = priority or EVENT_TYPES[event_type]
        fields: dict[str, Any] = {}
        if dose is not None:
            fields.update(
                medication=dose.medication,
                dose_id=dose.dose_id,
                scheduled_for=dose.scheduled_for,
                dose_mg=dose.dose_mg,
                tablets=dose.tablets,
            )
        elif medication is not None:
            fields["medication"] = medication
        fields.update(extra)
        if fields.get("by") is None:
            fields.pop("by", None)
            if self.by is not None:
                fields["by"] = self.by
        self.seq += 1
        stamp = self.stamp()
        event = Event(self.new_id(), self.seq, event_type, prio, stamp, self.device_id, message, fields)
        self.changes.events.append(event)
        self.last_time = stamp
        return event

    def touch(self, dose: Dose) -> None:
        self.changes.doses[dose.dose_id] = dose

    def changed(self, alert: Alert) -> None:
        self.changes.alerts[alert.id] = alert

    def take(self) -> Changes:
        """The step's changes, handed over for the commit; the next step starts empty and unattributed."""
        done, self.changes = self.changes, Changes()
        self.by = None
        return done

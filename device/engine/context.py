"""What every part of the engine shares: the plan, the device's state and where events go."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import NotFound
from .alerts import AlertBook
from .emitter import Emitter
from .events import Event, Priority, opens_alert
from .model import Config, Medication
from .plan import DoseSpec, Schedule
from .state import DeviceState, Dose, MedState


@dataclass
class Context:
    """The configuration and plan, the device's state, the emitter and the alert book its events open."""

    config: Config
    tz: ZoneInfo
    meds: tuple[Medication, ...]
    schedules: list[Schedule]
    dev: DeviceState
    emitter: Emitter
    alerts: AlertBook

    @property
    def now(self) -> dt.datetime:
        """The instant the engine is handling."""
        return self.emitter.now

    def ms(self, i: int) -> MedState:
        return self.dev.meds[self.meds[i].name]

    def med_states(self) -> list[MedState]:
        return [self.dev.meds[m.name] for m in self.meds]

    def med_index(self, name: str) -> int:
        for i, med in enumerate(self.meds):
            if name in (med.name, med.slug):
                return i
        names = ", ".join(m.name for m in self.meds)
        raise NotFound(f"medication: no medication named {name!r} (known: {names}).")

    def emit(
        self,
        event_type: str,
        message: str,
        *,
        priority: Priority | None = None,
        dose: DoseSpec | None = None,
        medication: str | None = None,
        raise_alert: bool = True,
        **extra: Any,
    ) -> Event:
        """Emit an event; one that opens an alert (SPEC 8) opens it in the book."""
        event = self.emitter.emit(event_type, message, priority=priority, dose=dose, medication=medication, **extra)
        if raise_alert and opens_alert(event_type, event.priority):
            self.alerts.open(event)
        return event

    def touch(self, dose: Dose) -> None:
        self.emitter.touch(dose)

    def in_away(self, spec: DoseSpec) -> bool:
        """The dose falls in the away span set (started or not): it comes from another supply."""
        dev = self.dev
        return (
            dev.away_from is not None
            and dev.away_until is not None
            and dev.away_from <= spec.scheduled_for < dev.away_until
        )

"""The alert book: the alerts still active, opened by events and resolved or acknowledged by the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from .emitter import Emitter
from .events import Event, Priority
from .state import Alert

_ORDER = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2, Priority.INFO: 3}


class AlertBook:
    """Active alerts by id; every change is recorded in the emitter's step."""

    def __init__(self, emitter: Emitter, alerts: Iterable[Alert]) -> None:
        self.emitter = emitter
        self.active: dict[str, Alert] = {a.id: a for a in alerts if a.active}
        # The same alerts by dose, in the order they opened: a dose's alerts are found without a scan.
        self._by_dose: dict[str, list[Alert]] = {}
        for alert in self.active.values():
            self._index(alert)

    def open(self, event: Event) -> None:
        """The alert an event raises, under the event's id."""
        alert = Alert(
            id=event.id,
            event_type=event.event_type,
            priority=event.priority,
            since=event.time,
            message=event.message,
            medication=event.fields.get("medication"),
            dose_id=event.fields.get("dose_id"),
        )
        self.active[alert.id] = alert
        self._index(alert)
        self.emitter.changed(alert)

    def _index(self, alert: Alert) -> None:
        if alert.dose_id is not None:
            self._by_dose.setdefault(alert.dose_id, []).append(alert)

    def _unindex(self, alert: Alert) -> None:
        same = self._by_dose.get(alert.dose_id or "")
        if same is None:
            return
        kept = [a for a in same if a is not alert]
        if kept:
            self._by_dose[alert.dose_id or ""] = kept
        else:
            del self._by_dose[alert.dose_id or ""]

    def get(self, alert_id: str | None) -> Alert | None:
        return self.active.get(alert_id or "")

    def resolve(self, alert_id: str) -> None:
        """Its condition is over: resolved now, with an alert_resolved event (once)."""
        alert = self.active.get(alert_id)
        if alert is None or not alert.active:
            return
        alert.resolved_at = self.emitter.stamp()
        self.emitter.changed(alert)
        self.emitter.emit(
            "alert_resolved",
            f"Resolved: {alert.message}",
            medication=alert.medication,
            alert_id=alert.id,
        )

    def resolve_where(self, wanted: Callable[[Alert], bool]) -> None:
        for alert in list(self.active.values()):
            if wanted(alert):
                self.resolve(alert.id)

    def resolve_dose(self, dose_id: str, types: Iterable[str] = ()) -> None:
        """A dose's overdue alert, and its alerts of `types`, are over."""
        wanted = set(types) | {"dose_overdue"}
        for alert in list(self._by_dose.get(dose_id, ())):
            if alert.event_type in wanted:
                self.resolve(alert.id)

    def acknowledge(self, alert: Alert, now: dt.datetime, by: str | None) -> None:
        alert.acknowledged, alert.acknowledged_at, alert.acknowledged_by = True, now, by
        self.emitter.changed(alert)
        self.emitter.emit(
            "alert_acknowledged",
            f"Alert acknowledged: {alert.message}",
            medication=alert.medication,
            alert_id=alert.id,
        )

    def rearm(self, alert_id: str | None) -> None:
        """A reminder makes an acknowledged alert unacknowledged again."""
        alert = self.get(alert_id)
        if alert is not None and alert.acknowledged:
            alert.acknowledged, alert.acknowledged_at, alert.acknowledged_by = False, None, None
            self.emitter.changed(alert)

    def unacknowledged(self, *, but_high: bool = False) -> list[Alert]:
        return [
            a for a in self.active.values() if not a.acknowledged and not (but_high and a.priority is Priority.HIGH)
        ]

    def listed(self) -> list[Alert]:
        """The active alerts, the most urgent first, then the oldest."""
        return sorted(self.active.values(), key=lambda a: (_ORDER[a.priority], a.since))

    def settle(self, changed: Iterable[Alert]) -> None:
        """After the commit: resolved alerts leave the book."""
        for alert in changed:
            if not alert.active:
                gone = self.active.pop(alert.id, None)
                if gone is not None:
                    self._unindex(gone)

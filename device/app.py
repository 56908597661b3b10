"""The application façade: the one set of commands and queries every edge calls — the page, the API,
MQTT, and next notifications and the fleet. It owns the lock and returns plain data (dicts, lists),
so no edge takes the daemon's lock or reads the engine's state. After each commit the daemon hands
the new events to the listeners registered here (the MQTT outbox pump, the notification sender).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .daemon import Daemon
from .engine.engine import Engine
from .engine.events import Event
from .engine.model import Config
from .engine.plan import Schedule
from .errors import ActionError
from .formats import alert_json, away_json, dose_json, event_json, iso

T = TypeVar("T")
DAY = dt.timedelta(days=1)
MAX_LISTED = 100
MOCK_ACTIONS = ("lid_open", "lid_close", "press", "hold")


class EventListener(Protocol):
    """Told of every batch of events right after it was committed, in seq order."""

    def on_events(self, events: list[Event]) -> None: ...


@dataclass
class Snapshot:
    """Everything the dashboard shows, read under one lock at one moment."""

    now: dt.datetime
    state: dict[str, Any]
    alerts: list[dict[str, Any]]
    today: list[dict[str, Any]]
    days_of_supply: list[float | None]
    refill_mode_until: dt.datetime | None
    away: dict[str, Any]
    away_from: dt.datetime | None
    away_until: dt.datetime | None
    adherence_30d: float | None
    daily_counts: dict[str, dict[str, int]]
    hardware: dict[str, Any]
    hub: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _listed(engine: Engine) -> list[dict[str, Any]]:
    """The alert list: high first, then by time; the 100 newest when there are more (SPEC 9)."""
    alerts = engine.active_alerts()
    if len(alerts) > MAX_LISTED:
        newest = {a.id for a in sorted(alerts, key=lambda a: a.since)[-MAX_LISTED:]}
        alerts = [a for a in alerts if a.id in newest]
    return [alert_json(a) for a in alerts]


class Pillbox:
    """Commands (`acknowledge(alert_id, by)`, …) and queries (`status()`, `doses(first, last)`, …)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.config: Config = daemon.config

    # ------------------------------------------------------------------------------ plumbing

    def add_listener(self, listener: EventListener) -> None:
        self.daemon.listeners.append(listener.on_events)

    def _command(self, action: Callable[[Engine, dt.datetime], T]) -> T:
        return self.daemon.call(action)

    def _read(self, read: Callable[[Engine, dt.datetime], T]) -> T:
        with self.daemon.lock:
            return read(self.daemon.engine, self.daemon.wall())

    @property
    def started(self) -> bool:
        return self.daemon.core.started

    @property
    def schedules(self) -> list[Schedule]:
        return self.daemon.engine.schedules

    def now(self) -> dt.datetime:
        return self.daemon.wall()

    # ------------------------------------------------------------------------------ commands

    def acknowledge(self, alert_id: str, *, by: str | None) -> dict[str, Any]:
        """One alert by id (idempotent); the alert as it now stands."""
        chosen, _ = self._command(lambda engine, now: engine.acknowledge(alert_id, now, by=by))
        return alert_json(chosen[0])

    def acknowledge_all(self, *, by: str | None) -> int:
        """Every alert but the high ones; how many were acknowledged."""
        chosen, _ = self._command(lambda engine, now: engine.acknowledge("all", now, by=by))
        return len(chosen)

    def refill(self, medication: str | None, tablets: float, *, by: str | None) -> dict[str, Any]:
        events = self._command(lambda engine, now: engine.refill(medication, tablets, now, by=by))
        return event_json(next(e for e in events if e.event_type == "refill"))

    def refill_mode(self, *, by: str | None) -> dict[str, Any]:
        self._command(lambda engine, now: engine.start_refill_mode(now, by=by))
        return {"refill_mode_until": iso(self._read(lambda engine, now: engine.dev.refill_mode_until))}

    def set_away(self, start: dt.datetime | None, until: dt.datetime, *, by: str | None) -> dict[str, Any]:
        self._command(lambda engine, now: engine.set_away(start or now, until, now, by=by))
        return self.away()

    def end_away(self, *, by: str | None) -> dict[str, Any]:
        self._command(lambda engine, now: engine.end_away(now, by=by))
        return self.away()

    def skip(self, dose_id: str, reason: str, *, by: str | None) -> dict[str, Any]:
        self._command(lambda engine, now: engine.skip(dose_id, reason, now, by=by))
        return self.dose(dose_id)

    def mark_taken(
        self, dose_id: str, *, at: dt.datetime | None, from_dispenser: bool, by: str | None
    ) -> dict[str, Any]:
        self._command(lambda engine, now: engine.mark_taken(dose_id, now, at=at, from_dispenser=from_dispenser, by=by))
        return self.dose(dose_id)

    def silence(self) -> None:
        """The buzzer quiet for 10 minutes (the hub's `cmd/silence`)."""
        self.daemon.silence()

    def mock(self, action: str) -> dict[str, Any]:
        """On mock hardware: act on the virtual dispenser's pins, as the patient would."""
        hw = self.daemon.hardware
        if action not in MOCK_ACTIONS:
            raise ActionError(f"action: must be one of {', '.join(MOCK_ACTIONS)}.")
        hw.mock(action)
        return {"hardware": hw.snapshot()}

    # ------------------------------------------------------------------------------- queries

    def state(self) -> dict[str, Any]:
        """Every field of `B/state` (SPEC section 9), in its order."""
        with self.daemon.lock:
            return self._state(self.daemon.wall())

    def _state(self, now: dt.datetime) -> dict[str, Any]:
        daemon = self.daemon
        state = daemon.engine.state(now)
        return {
            "next_dose_at": state["next_dose_at"],
            "next_dose_medication": state["next_dose_medication"],
            "next_dose_mg": state["next_dose_mg"],
            "dose_due": state["dose_due"],
            "last_taken_at": state["last_taken_at"],
            "hours_since_last_dose": state["hours_since_last_dose"],
            "adherence_7d": daemon.store.adherence(now - 7 * DAY, now),
            "lid": "open" if daemon.core.lid_open else "closed",
            "alert_level": state["alert_level"],
            "active_alerts": state["active_alerts"],
            "stock": state["stock"],
            "days_of_supply": state["days_of_supply"],
            "clock_synced": daemon.clock_synced,
            "away": state["away"],
        }

    def alerts(self) -> list[dict[str, Any]]:
        """Active and acknowledged alerts as on `B/alerts`: high first, then by time; at most 100."""
        return self._read(lambda engine, now: _listed(engine))

    def status(self) -> dict[str, Any]:
        """`GET /api/v1/status`: the state, today's doses, the hub."""
        with self.daemon.lock:
            now = self.daemon.wall()
            state = self._state(now)
            today = now.astimezone(self.config.tz).date()
            state["today"] = [dose_json(d) for d in self.daemon.engine.doses_between(today, today)]
        state["hub_connected"] = self.daemon.mqtt_connected()
        state["outbox_waiting"] = self.daemon.store.outbox_waiting() if self.config.mqtt.enabled else 0
        return state

    def today(self) -> dt.date:
        return self.now().astimezone(self.config.tz).date()

    def doses(self, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
        """Doses of the local dates first..last (inclusive)."""
        return self._read(lambda engine, now: [dose_json(d) for d in engine.doses_between(first, last)])

    def dose(self, dose_id: str) -> dict[str, Any]:
        found = self._read(lambda engine, now: engine.dose(dose_id))
        if found is None:
            raise ActionError(f"dose: no planned dose with id {dose_id!r}.")
        return dose_json(found)

    def events(self, *, after_seq: int = 0, event_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.daemon.store.events(after_seq=after_seq, event_type=event_type, limit=limit)

    def history(
        self, *, start: str | None, end: str | None, event_type: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Events newest first with time in [start, end), optionally of one type; and their total."""
        return self.daemon.store.events_between(start=start, end=end, event_type=event_type, limit=limit, offset=offset)

    def healthy(self) -> bool:
        """The scheduler runs and the database answers (`/healthz`)."""
        return self.daemon.healthy()

    def away(self) -> dict[str, Any]:
        return self._read(lambda engine, now: away_json(engine.dev))

    @property
    def hardware_is_mock(self) -> bool:
        return bool(self.daemon.hardware.is_mock)

    def hardware(self) -> dict[str, Any]:
        return self.daemon.hardware.snapshot()

    def snapshot(self) -> Snapshot:
        """What the dashboard shows, under one lock."""
        daemon = self.daemon
        with daemon.lock:
            now = daemon.wall()
            engine = daemon.engine
            state = self._state(now)
            today = now.astimezone(self.config.tz).date()
            todays = [dose_json(d) | {"final": d.state.final} for d in engine.doses_between(today, today)]
            supplies = [engine.days_of_supply(i, now) for i in range(len(self.config.medications))]
            alerts = _listed(engine)
            dev = engine.dev
            snap = Snapshot(
                now=now,
                state=state,
                alerts=alerts,
                today=todays,
                days_of_supply=supplies,
                refill_mode_until=dev.refill_mode_until,
                away=away_json(dev),
                away_from=dev.away_from,
                away_until=dev.away_until,
                adherence_30d=daemon.store.adherence(now - 30 * DAY, now),
                daily_counts=daemon.store.daily_counts((today - 29 * DAY).isoformat(), today.isoformat()),
                hardware=daemon.hardware.snapshot(),
                hub={
                    "enabled": self.config.mqtt.enabled,
                    "connected": daemon.mqtt_connected(),
                    "waiting": daemon.store.outbox_waiting() if self.config.mqtt.enabled else 0,
                },
            )
        return snap

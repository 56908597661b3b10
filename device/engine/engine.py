"""The dose engine: given the plan, what the store holds and the time, decide what happens.

The engine never reads the clock: every call takes `now`. The daemon drives it from the wall clock,
`simulate` from a virtual one; both ask `next_wakeup()` when to call `tick()` next.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ActionError, Conflict, NotFound
from . import messages as say
from .detections import StopDetection, hours_of
from .events import EVENT_TYPES, Event, Priority, iso, number, opens_alert
from .model import Config
from .plan import DAY, DoseSpec, Schedule, local_midnight
from .planwarn import plan_steps
from .prompts import View
from .state import (
    SELF_RESOLVING,
    Alert,
    DeviceState,
    Dose,
    DoseState,
    MedState,
    device_from_blob,
    device_to_blob,
)
from .supply import Supply

MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
EXTRA_ACCESS_AFTER = 30 * MIN
LID_OPEN_ALERT_AFTER = 10 * MIN
REFILL_MODE_FOR = 15 * MIN
ACK_QUIET_FOR = 12 * HOUR
CORRECTION_WITHIN = 6 * HOUR  # taken elsewhere: at most this far from the dose's time
CLOSED_KEPT = 64  # closed doses kept in memory per medication (covers 48 h and the stop rule)


@dataclass
class Snapshot:
    """What the store hands the engine at start."""

    state: dict[str, Any] | None = None
    last_seq: int = 0
    last_time: dt.datetime | None = None
    open_doses: list[dict[str, Any]] = field(default_factory=list)
    closed_doses: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


class Store(Protocol):
    def load(self) -> Snapshot: ...

    def find_dose(self, dose_id: str) -> dict[str, Any] | None: ...

    def find_alert(self, alert_id: str) -> dict[str, Any] | None: ...

    def commit(
        self,
        events: list[Event],
        doses: list[dict[str, Any]],
        alerts: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> None: ...


class Engine(StopDetection, Supply):
    """Decides every dose's fate and every alert, one instant at a time."""

    def __init__(self, config: Config, store: Store, *, new_id: Callable[[], str] | None = None) -> None:
        self.config = config
        self.store = store
        self.tz = config.tz
        self.device_id = config.device.id
        self.meds = config.medications
        self.schedules = [Schedule(m, self.tz) for m in self.meds]
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._events: list[Event] = []
        self._dirty_doses: dict[str, Dose] = {}
        self._dirty_alerts: dict[str, Alert] = {}
        self._now = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._catch_up_to: dt.datetime | None = None
        self._clock: dt.datetime | None = None  # the latest instant handled in this run
        self._first_dose = [s.first_dose() for s in self.schedules]
        self._steps = [{step.phase.index: step for step in plan_steps(m)} for m in self.meds]
        self._stop_cache: dict[int, tuple[dt.datetime, dt.datetime | None]] = {}
        self._by: str | None = None  # who caused the events of the command being handled
        self._blob_memo: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.started = False

        snap = store.load()
        self.seq = snap.last_seq
        self.last_time = snap.last_time
        self.dev = device_from_blob(snap.state) if snap.state else DeviceState()
        for med in self.meds:
            ms = self.dev.meds.setdefault(med.name, MedState(stock=med.stock))
            if med.stock is None:
                ms.stock = None
            elif ms.stock is None:
                ms.stock = med.stock
        self.alerts: dict[str, Alert] = {}
        for row in snap.alerts:
            alert = Alert.from_row(row)
            if alert.active:
                self.alerts[alert.id] = alert
        self.records: dict[str, Dose] = {}  # doses not closed yet that have a record
        self.active: list[list[Dose]] = [[] for _ in self.meds]  # window opened, not closed
        self.closed: list[deque[Dose]] = [deque(maxlen=CLOSED_KEPT) for _ in self.meds]
        by_slug = {m.slug: i for i, m in enumerate(self.meds)}
        for row in snap.open_doses:
            dose = self._dose_from_row(row, by_slug)
            if dose is not None:
                self.records[dose.dose_id] = dose
        for row in sorted(snap.closed_doses, key=lambda r: r["closes_at"]):
            dose = self._dose_from_row(row, by_slug)
            if dose is not None:
                self.closed[dose.spec.med_index].append(dose)
        self._cursor: list[Iterator[DoseSpec] | None] = [None for _ in self.meds]
        self._next_spec: list[DoseSpec | None] = [None for _ in self.meds]

    def _dose_from_row(self, row: dict[str, Any], by_slug: dict[str, int]) -> Dose | None:
        index = by_slug.get(row["dose_id"].partition("/")[0])
        spec = self.schedules[index].find(row["dose_id"]) if index is not None else None
        return Dose.from_row(spec, row) if spec is not None else None

    # ----------------------------------------------------------------------------------- driving

    def start(self, now: dt.datetime, *, lid_open: bool = False) -> list[Event]:
        """Start (or restart) at `now`: device_started, then whatever happened while it was off."""
        self._now = now
        if self.dev.first_start is None:
            self.dev.first_start = now
            today = now.astimezone(self.tz).date()
            # Started exactly at a local midnight: that midnight (a phase may start on it) is ours.
            self.dev.last_midnight = today - DAY if local_midnight(today, self.tz) == now else today
        for ms in self.dev.meds.values():
            if ms.closed_through is None:  # this medication's first start
                ms.closed_through = now
                ms.detection_start = now
        for i, ms in enumerate(self._med_states()):
            assert ms.closed_through is not None
            self._cursor[i] = self.schedules[i].forward(ms.closed_through, key="closes_at")
            self._next_spec[i] = next(self._cursor[i], None)  # type: ignore[arg-type]
        if self.dev.last_midnight is None:
            self.dev.last_midnight = now.astimezone(self.tz).date()
        self.started = True
        self._emit("device_started", f"{self.config.device.name} started.")
        if self.dev.lid_open and not lid_open:
            self._lid_closed()
        elif lid_open and not self.dev.lid_open:
            self.dev.lid_open, self.dev.lid_opened_at = True, now
        self._advance(now, downtime=True)
        for i in range(len(self.meds)):
            self._check_stock(i, now)  # a dispenser started with too few tablets says so at once
        return self._flush()

    def stop(self, now: dt.datetime) -> list[Event]:
        """A clean shutdown: device_stopped."""
        self._begin(now)
        self._emit("device_stopped", f"{self.config.device.name} stopped.")
        return self._flush()

    def tick(self, now: dt.datetime) -> list[Event]:
        """Handle every instant up to `now`."""
        self._begin(now)
        return self._flush()

    def next_wakeup(self) -> dt.datetime | None:
        """The next instant at which something happens by itself."""
        return self._next_instant()

    def clock_jump(self, now: dt.datetime, seconds: float) -> list[Event]:
        """The wall clock stepped by `seconds`; a forward step is handled like downtime."""
        self._now = now
        direction = "forward" if seconds > 0 else "back"
        self._emit(
            "clock_jump",
            f"The clock stepped {direction} by {abs(round(seconds))} seconds; schedules were rebuilt.",
            seconds=round(seconds, 1),
        )
        self._advance(now, downtime=seconds > 0)
        return self._flush()

    def clock_unsynced(self, now: dt.datetime) -> list[Event]:
        self._begin(now)
        if self.dev.clock_alert is None:
            event = self._emit(
                "clock_unsynced",
                "The clock is not synchronised: dose times may be wrong. Check the network connection.",
            )
            self.dev.clock_alert = event.id
        return self._flush()

    def clock_synced(self, now: dt.datetime) -> list[Event]:
        self._begin(now)
        if self.dev.clock_alert is not None:
            self._resolve(self.dev.clock_alert)
            self.dev.clock_alert = None
        return self._flush()

    # ------------------------------------------------------------------------- patient's inputs

    def lid_opened(self, now: dt.datetime) -> list[Event]:
        """The lid went from closed to open."""
        self._begin(now, by="patient")
        if self.dev.lid_open:
            return self._flush()
        self.dev.lid_open, self.dev.lid_opened_at = True, now
        self.dev.lid_alert = self.dev.lid_alert_priority = None
        if self._refill_mode(now):
            return self._flush()
        waiting = [d for doses in self.active for d in doses if d.state is DoseState.WAITING]
        if waiting:
            self._take(waiting, now, "lid")
        else:
            last = self._last_intake()
            if last is None or now - last >= EXTRA_ACCESS_AFTER:
                since = f" (last dose taken {say.when(last, self.tz)})" if last else ""
                self._emit(
                    "extra_access",
                    f"The lid was opened at {say.hhmm(now, self.tz)} when no dose was due{since}: "
                    "a possible extra dose. Check how many tablets are left.",
                )
        return self._flush()

    def lid_closed(self, now: dt.datetime) -> list[Event]:
        self._begin(now, by="patient")
        if self.dev.lid_open:
            self._lid_closed()
        return self._flush()

    def press(self, now: dt.datetime) -> tuple[bool, list[Event]]:
        """A short button press; True when it confirmed intake of the due doses."""
        self._begin(now, by="patient")
        due = [
            d for doses in self.active for d in doses if d.state is DoseState.WAITING and d.spec.scheduled_for <= now
        ]
        if due:
            self._take(due, now, "button")
        return bool(due), self._flush()

    def hold(self, now: dt.datetime) -> list[Event]:
        """The button held for help_hold_seconds: the patient asks for help."""
        self._begin(now, by="patient")
        self._emit(
            "help_requested",
            f"Help requested at the dispenser at {say.hhmm(now, self.tz)}. Contact the patient now.",
        )
        return self._flush()

    # ---------------------------------------------------------------------- caregiver's actions

    def skip(self, dose_id: str, reason: str, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        """Excuse a dose that has not reached a final state."""
        self._begin(now, by=by)
        dose = self._lookup(dose_id)
        if dose.state.final:
            raise Conflict(f"Dose {dose_id} is already {dose.state}; only upcoming or waiting doses can be skipped.")
        dose.state, dose.reason = DoseState.SKIPPED, reason
        self._touch(dose)
        spec = dose.spec
        self._emit(
            "dose_skipped",
            f"{say.dose(spec, self.tz)} on {spec.local_date:%d %b} was skipped: {reason}. "
            "It still counts as intake that did not happen.",
            dose=spec,
            reason=reason,
        )
        self._resolve_dose_alerts(dose_id, ("dose_overdue",))
        self._check_stock(spec.med_index, now)
        return self._flush()

    def mark_taken(
        self,
        dose_id: str,
        now: dt.datetime,
        at: dt.datetime | None = None,
        from_dispenser: bool = False,
        *,
        by: str | None = None,
    ) -> list[Event]:
        """A caregiver records a dose as taken (elsewhere, or missed by the sensors)."""
        self._begin(now, by=by)
        dose = self._lookup(dose_id)
        if dose.state not in (DoseState.UPCOMING, DoseState.WAITING, DoseState.MISSED):
            raise Conflict(
                f"Dose {dose_id} is {dose.state}; only upcoming, waiting or missed doses can be marked taken."
            )
        at = self._correction_time(dose, at, now)
        self._take([dose], at, "caregiver", from_dispenser=from_dispenser)
        self._resolve_dose_alerts(dose_id, ("dose_missed",))
        return self._flush()

    def _correction_time(self, dose: Dose, at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        """When a dose taken elsewhere was taken: near its time, never in the future (SPEC 4)."""
        spec = dose.spec
        local = f"{say.when(spec.scheduled_for, self.tz)}"
        if at is None:
            if dose.state is DoseState.MISSED:
                raise ActionError(
                    f"at: required for a missed dose (due {local}): say when it was taken; "
                    "'now' would record an intake that did not happen now."
                )
            at = now
        shown = f"{at.isoformat()} ({say.when(at, self.tz)})"
        if at > now:
            raise ActionError(f"at: {shown} is in the future.")
        if abs(at - spec.scheduled_for) > CORRECTION_WITHIN:
            raise ActionError(f"at: {shown} is more than 6 hours from the dose's time ({local}).")
        if dose.state is DoseState.MISSED:
            if at < spec.opens_at:
                raise ActionError(
                    f"at: {shown} is before the dose's window opened ({say.when(spec.opens_at, self.tz)})."
                )
            later = next(
                (
                    s
                    for s in self.schedules[spec.med_index].forward(spec.scheduled_for, key="scheduled_for")
                    if s.scheduled_for > spec.scheduled_for
                ),
                None,
            )
            if later is not None and at >= later.closes_at:
                raise ActionError(
                    f"at: {shown} is after the window of the next dose ({say.dose(later, self.tz)}) closed."
                )
        return at

    def refill(self, medication: str | None, tablets: float, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        """Tablets added; `medication` may be left out where there is only one."""
        self._begin(now, by=by)
        if not medication:
            if len(self.meds) != 1:
                raise ActionError("medication: required where there are several medications.")
            medication = self.meds[0].name
        i = self._med_index(medication)
        med, ms = self.meds[i], self._ms(i)
        if ms.stock is None:
            raise ActionError(f"medication: stock is not tracked for {med.name} (no 'stock' in the config).")
        if tablets <= 0 or tablets > 1000 or tablets * 2 != int(tablets * 2):
            raise ActionError(f"tablets: must be a whole or half number from 0.5 to 1000, not {tablets}.")
        ms.stock += tablets
        self.dev.refill_mode_until = None
        days = self.days_of_supply(i, now)
        self._emit(  # the cause first, then the alerts it resolves
            "refill",
            f"{say.tablets(tablets)} of {med.name} added; {say.tablets(ms.stock)} now"
            + (f", enough for {say.count(days, 'day')}." if days is not None else ", enough for the rest of the plan."),
            medication=med.name,
            stock=ms.stock,
            days_of_supply=days,
        )
        for alert in list(self.alerts.values()):
            if alert.medication == med.name and alert.event_type in ("stock_low", "stock_out"):
                self._resolve(alert.id)
        ms.stock_low_raised = ms.stock_out_raised = False
        self._check_stock(i, now)
        return self._flush()

    def start_refill_mode(self, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        """For 15 minutes (or until a refill), lid openings are neither intake nor extra access."""
        self._begin(now, by=by)
        self.dev.refill_mode_until = now + REFILL_MODE_FOR
        self._emit(
            "refill_mode",
            f"Refill mode until {say.hhmm(self.dev.refill_mode_until, self.tz)}: "
            "opening the lid does not count as a dose.",
        )
        return self._flush()

    def set_away(
        self, start: dt.datetime, until: dt.datetime, now: dt.datetime, *, by: str | None = None
    ) -> list[Event]:
        """The patient is away (hospital, holiday with another supply) from `start` to `until`."""
        self._begin(now, by=by)
        if until <= start:
            raise ActionError(f"until: {until.isoformat()} must be after from ({start.isoformat()}).")
        if until <= now:
            raise ActionError(f"until: {until.isoformat()} is in the past.")
        if self.dev.away_active:
            self._end_away(now)
        self.dev.away_from, self.dev.away_until, self.dev.away_by = start, until, by
        self._give_back(now)
        self._advance(now, downtime=False)
        return self._flush()

    def end_away(self, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        self._begin(now, by=by)
        if self.dev.away_active:
            self._end_away(now)
        else:
            self.dev.away_from = self.dev.away_until = self.dev.away_by = None
        self._give_back(now)
        return self._flush()

    def acknowledge(self, target: str, now: dt.datetime, *, by: str | None = None) -> tuple[list[Alert], list[Event]]:
        """Acknowledge one alert by id, or `all` (every alert but the high ones)."""
        self._begin(now, by=by)
        if target == "all":
            chosen = [a for a in self.alerts.values() if a.priority is not Priority.HIGH and not a.acknowledged]
        else:
            alert = self.alerts.get(target)
            if alert is None:
                row = self.store.find_alert(target)
                if row is None:
                    raise NotFound(f"alert: no alert with id {target!r}.")
                return [Alert.from_row(row)], self._flush()
            chosen = [alert]
        for alert in sorted(chosen, key=lambda a: a.since):
            if alert.acknowledged:
                continue
            alert.acknowledged, alert.acknowledged_at, alert.acknowledged_by = True, now, by
            self._dirty_alerts[alert.id] = alert
            self._emit(
                "alert_acknowledged",
                f"Alert acknowledged: {alert.message}",
                medication=alert.medication,
                alert_id=alert.id,
            )
            episode = next((i for i, ms in enumerate(self._med_states()) if ms.episode_alert == alert.id), None)
            if episode is not None and self.schedules[episode].ended_at(now):
                self._close_episode(episode, resolve=True)  # a stop that outlived the plan: seen, over
            elif episode is not None:
                self._ms(episode).episode_quiet_until = now + ACK_QUIET_FOR
            elif alert.event_type in SELF_RESOLVING or alert.event_type == "intake_stopped":
                self._resolve(alert.id)  # an intake_stopped whose episode a restart closed has no condition left
        return chosen, self._flush()

    # ------------------------------------------------------------------------------- queries

    def active_alerts(self) -> list[Alert]:
        order = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2, Priority.INFO: 3}
        return sorted(self.alerts.values(), key=lambda a: (order[a.priority], a.since))

    def view(self, now: dt.datetime) -> View:
        """The facts the patient's prompts depend on (SPEC section 6).

        Judged at the latest moment the engine has handled, so a wall clock stepping back does not
        make a due dose look not yet due (its prompts would stop until the overdue time).
        """
        if self._clock is not None and self._clock > now:
            now = self._clock
        due = [
            d for doses in self.active for d in doses if d.state is DoseState.WAITING and d.spec.scheduled_for <= now
        ]
        unacked = [a.priority for a in self.alerts.values() if not a.acknowledged]
        return View(
            due=bool(due),
            overdue=any(d.spec.overdue_at <= now for d in due),
            due_in_episode=any(self._ms(d.spec.med_index).episode_alert is not None for d in due),
            alert_level=max(unacked, key=lambda p: p.rank) if unacked else None,
            any_alert=bool(self.alerts),
        )

    def state(self, now: dt.datetime) -> dict[str, Any]:
        """The device's state as published on `B/state` (without adherence, which the store counts)."""
        upcoming: list[DoseSpec] = []
        for i in range(len(self.meds)):
            spec = next(self._consuming(i), None)
            if spec is not None:
                upcoming.append(spec)
        nxt = min(upcoming, key=lambda s: (s.scheduled_for, s.med_index)) if upcoming else None
        intakes = [ms.last_intake_at for ms in self._med_states() if ms.last_intake_at is not None]
        levels = [a.priority for a in self.alerts.values()]
        level = max(levels, key=lambda p: p.rank) if levels else None
        tracked = [(i, m) for i, m in enumerate(self.meds) if self._ms(i).stock is not None]
        return {
            "next_dose_at": iso(nxt.scheduled_for) if nxt else None,
            "next_dose_medication": nxt.medication if nxt else None,
            "next_dose_mg": number(nxt.dose_mg) if nxt else None,
            "dose_due": self.view(now).due,
            "last_taken_at": iso(max(intakes)) if intakes else None,
            "hours_since_last_dose": {
                m.name: (hours_of(now - ms.last_intake_at) if ms.last_intake_at else None)
                for m, ms in zip(self.meds, self._med_states(), strict=True)
            },
            "lid": "open" if self.dev.lid_open else "closed",
            "alert_level": str(level) if level else "none",
            "active_alerts": len(self.alerts),
            "stock": {m.name: number(self._ms(i).stock) for i, m in tracked},
            "days_of_supply": {m.name: self.days_of_supply(i, now) for i, m in tracked},
            "away": self.dev.away_active,
        }

    def taken_today(self, now: dt.datetime) -> int:
        """Doses taken today (local date), for the progress blinks."""
        today = now.astimezone(self.tz).date()
        seen = {
            d.dose_id: d
            for d in [*(x for q in self.closed for x in q), *self.records.values()]
            if d.state is DoseState.TAKEN and d.taken_at is not None
        }
        return sum(1 for d in seen.values() if d.taken_at and d.taken_at.astimezone(self.tz).date() == today)

    def stock(self, i: int) -> float | None:
        return self._ms(i).stock

    def dose(self, dose_id: str) -> Dose | None:
        try:
            return self._lookup(dose_id)
        except NotFound:
            return None

    def doses_between(self, start: dt.date, end: dt.date) -> list[Dose]:
        """Every planned dose on local dates start..end, with its current state."""
        out: list[Dose] = []
        for schedule in self.schedules:
            day = start
            while day <= end:
                for spec in schedule.doses_on(day):
                    out.append(self._known(spec) or self._fresh(spec))
                day += DAY
        return sorted(out, key=lambda d: (d.spec.scheduled_for, d.spec.med_index))

    # ------------------------------------------------------------------------------ internals

    def _med_states(self) -> list[MedState]:
        return [self.dev.meds[m.name] for m in self.meds]

    def _ms(self, i: int) -> MedState:
        return self.dev.meds[self.meds[i].name]

    def _med_index(self, name: str) -> int:
        for i, med in enumerate(self.meds):
            if name in (med.name, med.slug):
                return i
        names = ", ".join(m.name for m in self.meds)
        raise NotFound(f"medication: no medication named {name!r} (known: {names}).")

    def _begin(self, now: dt.datetime, *, by: str | None = None) -> None:
        """Catch up to `now`; what the command then emits was caused by `by` (SPEC 7)."""
        if not self.started:
            raise RuntimeError("engine not started")
        self._now = now
        self._by = None
        self._advance(now, downtime=False)
        self._by = by

    def _stamp(self) -> dt.datetime:
        if self.last_time is not None and self.last_time > self._now:
            return self.last_time
        return self._now

    def _touch(self, dose: Dose) -> None:
        self._dirty_doses[dose.dose_id] = dose

    def _flush(self) -> list[Event]:
        events = self._events
        self.store.commit(
            events,
            [d.row() for d in self._dirty_doses.values()],
            [a.row() for a in self._dirty_alerts.values()],
            device_to_blob(self.dev, self._blob_memo),
        )
        for alert in self._dirty_alerts.values():
            if not alert.active:
                self.alerts.pop(alert.id, None)
        self._events, self._dirty_doses, self._dirty_alerts = [], {}, {}
        self._by = None
        return events

    def _emit(
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
            if self._by is not None:
                fields["by"] = self._by
        self.seq += 1
        stamp = self._stamp()
        event = Event(self._new_id(), self.seq, event_type, prio, stamp, self.device_id, message, fields)
        self._events.append(event)
        self.last_time = stamp
        if raise_alert and opens_alert(event_type, prio):
            alert = Alert(
                id=event.id,
                event_type=event_type,
                priority=prio,
                since=stamp,
                message=message,
                medication=fields.get("medication"),
                dose_id=fields.get("dose_id"),
            )
            self.alerts[alert.id] = alert
            self._dirty_alerts[alert.id] = alert
        return event

    def _resolve(self, alert_id: str) -> None:
        alert = self.alerts.get(alert_id)
        if alert is None or not alert.active:
            return
        alert.resolved_at = self._stamp()
        self._dirty_alerts[alert.id] = alert
        self._emit(
            "alert_resolved",
            f"Resolved: {alert.message}",
            medication=alert.medication,
            alert_id=alert.id,
        )

    def _resolve_dose_alerts(self, dose_id: str, types: Iterable[str]) -> None:
        wanted = set(types) | {"dose_overdue"}
        for alert in list(self.alerts.values()):
            if alert.dose_id == dose_id and alert.event_type in wanted:
                self._resolve(alert.id)

    # ---------------------------------------------------------------------------- the clockwork

    def _advance(self, now: dt.datetime, *, downtime: bool) -> None:
        self._catch_up_to = now if downtime else None
        guard = 0
        while True:
            t = self._next_instant()
            if t is None or t > now:
                break
            self._process(t)
            guard += 1
            if guard > 1_000_000:
                raise RuntimeError(f"engine made no progress at {t.isoformat()}")
        self._catch_up_to = None

    def _next_instant(self) -> dt.datetime | None:
        dev = self.dev
        found: list[dt.datetime] = []
        if dev.away_active and dev.away_until is not None:
            found.append(dev.away_until)
        elif dev.away_from is not None:
            found.append(dev.away_from)
        for i in range(len(self.meds)):
            spec = self._next_spec[i]
            if spec is not None:
                found.append(spec.opens_at)
            for dose in self.active[i]:
                found.append(dose.spec.closes_at)
                if dose.state is DoseState.WAITING:
                    if not dose.due_sent:
                        found.append(dose.spec.scheduled_for)
                    elif not dose.overdue_sent:
                        found.append(dose.spec.overdue_at)
            if self.meds[i].taper_required:
                stop_at = self._stop_instant(i)
                if stop_at is not None:
                    found.append(stop_at)
                remind_at = self._reminder_instant(i)
                if remind_at is not None:
                    found.append(remind_at)
        if dev.lid_open and dev.lid_alert is None and dev.lid_opened_at is not None:
            found.append(dev.lid_opened_at + LID_OPEN_ALERT_AFTER)
        if dev.refill_mode_until is not None:
            found.append(dev.refill_mode_until)
        if dev.last_midnight is not None:
            found.append(local_midnight(dev.last_midnight + DAY, self.tz))
        return min(found) if found else None

    def _process(self, t: dt.datetime) -> None:
        # An instant found late (a threshold that moved) is handled as of the latest moment seen.
        if self._clock is not None and t < self._clock:
            t = self._clock
        self._clock = t
        dev = self.dev
        if dev.away_active and dev.away_until is not None and dev.away_until <= t:
            self._end_away(t)
        elif not dev.away_active and dev.away_from is not None and dev.away_from <= t:
            self._start_away(t)
        closed: set[int] = set()
        for i in range(len(self.meds)):
            while (spec := self._next_spec[i]) is not None and spec.opens_at <= t:
                self._open(spec)
                cursor = self._cursor[i]
                self._next_spec[i] = next(cursor, None) if cursor is not None else None
            for dose in list(self.active[i]):
                if dose.spec.closes_at <= t:
                    self._close(dose)
                    closed.add(i)
                elif dose.state is DoseState.WAITING:
                    self._prompt(dose, t)
        for i, med in enumerate(self.meds):
            if med.taper_required:
                if i in closed:
                    self._check_stop_by_count(i, t)
                stop_at = self._stop_instant(i)
                if stop_at is not None and stop_at <= t:
                    self._check_stop_by_time(i, t)
                remind_at = self._reminder_instant(i)
                if remind_at is not None and remind_at <= t:
                    self._remind(i, t)
                if i in closed:
                    self._check_reduction(i, t)
            if i in closed:
                self._check_stock(i, t)
        opened = dev.lid_opened_at
        if dev.lid_open and dev.lid_alert is None and opened is not None and opened + LID_OPEN_ALERT_AFTER <= t:
            self._lid_left_open(t)
        if dev.refill_mode_until is not None and dev.refill_mode_until <= t:
            dev.refill_mode_until = None
        while dev.last_midnight is not None and local_midnight(dev.last_midnight + DAY, self.tz) <= t:
            dev.last_midnight += DAY
            self._midnight(dev.last_midnight, t)

    def _downtime_hides(self, spec: DoseSpec) -> bool:
        """While catching up, a dose whose window closed before now is only reported as missed."""
        return self._catch_up_to is not None and spec.closes_at <= self._catch_up_to

    def _open(self, spec: DoseSpec) -> None:
        dose = self.records.get(spec.dose_id) or self._fresh(spec)
        self.records[spec.dose_id] = dose
        if dose.state is DoseState.UPCOMING:
            dose.state = DoseState.AWAY if self._in_away(spec) else DoseState.WAITING
            self._touch(dose)
        self.active[spec.med_index].append(dose)

    def _fresh(self, spec: DoseSpec) -> Dose:
        return Dose(spec)

    def _known(self, spec: DoseSpec) -> Dose | None:
        dose = self.records.get(spec.dose_id)
        if dose is not None:
            return dose
        for old in self.closed[spec.med_index]:
            if old.dose_id == spec.dose_id:
                return old
        row = self.store.find_dose(spec.dose_id)
        return Dose.from_row(spec, row) if row is not None else None

    def _prompt(self, dose: Dose, t: dt.datetime) -> None:
        spec = dose.spec
        if not dose.due_sent and spec.scheduled_for <= t:
            dose.due_sent = True
            self._touch(dose)
            if not self._downtime_hides(spec):
                self._dose_due(dose)
        if dose.due_sent and not dose.overdue_sent and spec.overdue_at <= t:
            dose.overdue_sent = True
            self._touch(dose)
            if not self._downtime_hides(spec):
                self._emit(
                    "dose_overdue",
                    f"{say.dose(spec, self.tz)} has not been taken yet.",
                    dose=spec,
                )

    def _dose_due(self, dose: Dose) -> None:
        spec = dose.spec
        med = self.meds[spec.med_index]
        food = " Take with food." if med.with_food else ""
        self._emit(
            "dose_due",
            f"Time for {spec.medication} {say.mg(spec.dose_mg)} ({say.tablets(spec.tablets)}), "
            f"due at {say.hhmm(spec.scheduled_for, self.tz)}.{food}",
            dose=spec,
        )
        dev = self.dev
        if dev.lid_open and dev.lid_alert is not None and dev.lid_alert_priority == "low":
            old = dev.lid_alert
            self._lid_left_open(self._now, upgrade=True)
            self._resolve(old)

    def _close(self, dose: Dose) -> None:
        spec = dose.spec
        i = spec.med_index
        dose.closed = True
        if dose.state in (DoseState.WAITING, DoseState.UPCOMING):
            dose.state = DoseState.MISSED
            downtime = self._downtime_hides(spec)
            note = " while the dispenser was off (no record of intake)" if downtime else ""
            extra: dict[str, Any] = {"during_downtime": True} if downtime else {}
            self._emit(
                "dose_missed",
                f"{say.dose(spec, self.tz)} was not taken{note}. Do not double up at the next dose.",
                dose=spec,
                **extra,
            )
        self._resolve_dose_alerts(spec.dose_id, ())
        self._touch(dose)
        self.active[i].remove(dose)
        self.records.pop(spec.dose_id, None)
        self.closed[i].append(dose)
        ms = self._ms(i)
        if ms.closed_through is None or spec.closes_at > ms.closed_through:
            ms.closed_through = spec.closes_at

    # ------------------------------------------------------------------------------- intake

    def _take(self, doses: list[Dose], at: dt.datetime, source: str, *, from_dispenser: bool = True) -> None:
        for dose in doses:
            spec = dose.spec
            i = spec.med_index
            med, ms = self.meds[i], self._ms(i)
            dose.state, dose.taken_at, dose.source = DoseState.TAKEN, at, source
            dose.from_dispenser = source != "caregiver" or from_dispenser
            self._touch(dose)
            if dose.from_dispenser and ms.stock is not None:
                ms.stock = max(0.0, ms.stock - spec.tablets)
            delay = round((at - spec.scheduled_for).total_seconds() / 60, 1)
            on_time = at < spec.overdue_at
            how = {"lid": "lid opened", "button": "button pressed", "caregiver": "recorded by a caregiver"}[source]
            timing = "on time" if on_time else f"{number(round(delay))} minutes late"
            self._emit(
                "dose_taken",
                f"{say.dose(spec, self.tz)} taken at {say.hhmm(at, self.tz)} ({how}, {timing}).",
                dose=spec,
                delay_minutes=delay,
                on_time=on_time,
                source=source,
            )
            self._resolve_dose_alerts(spec.dose_id, ())
            previous = ms.last_intake_at
            if previous is None or at > previous:
                ms.last_intake_at = at
            if ms.episode_alert is not None:
                self._resume(i, at)
            if med.stock is not None:
                self._check_stock(i, self._now)

    def _last_intake(self) -> dt.datetime | None:
        times = [ms.last_intake_at for ms in self._med_states() if ms.last_intake_at is not None]
        return max(times) if times else None

    def _lookup(self, dose_id: str) -> Dose:
        slug = dose_id.partition("/")[0]
        for i, med in enumerate(self.meds):
            if med.slug == slug:
                spec = self.schedules[i].find(dose_id)
                if spec is None:
                    break
                dose = self._known(spec)
                if dose is None:
                    dose = self._fresh(spec)
                    if spec.closes_at <= (self._ms(i).closed_through or spec.closes_at):
                        raise Conflict(f"Dose {dose_id} is from before this dispenser started.")
                    self.records[dose_id] = dose
                return dose
        raise NotFound(f"dose: no planned dose with id {dose_id!r}.")

    # ------------------------------------------------------------------------- modes and lid

    def _refill_mode(self, now: dt.datetime) -> bool:
        until = self.dev.refill_mode_until
        return until is not None and now < until

    def _lid_left_open(self, t: dt.datetime, *, upgrade: bool = False) -> None:
        dev = self.dev
        due = any(d.state is DoseState.WAITING and d.spec.scheduled_for <= t for doses in self.active for d in doses)
        priority = Priority.MEDIUM if due or upgrade else Priority.LOW
        extra = " A dose is due: press the button after taking it." if priority is Priority.MEDIUM else ""
        event = self._emit(
            "lid_left_open",
            f"The lid has been open since {say.hhmm(dev.lid_opened_at or t, self.tz)}. Close it to keep the "
            f"tablets dry.{extra}",
            priority=priority,
        )
        dev.lid_alert, dev.lid_alert_priority = event.id, str(priority)

    def _lid_closed(self) -> None:
        dev = self.dev
        dev.lid_open, dev.lid_opened_at = False, None
        if dev.lid_alert is not None:
            self._resolve(dev.lid_alert)
        dev.lid_alert = dev.lid_alert_priority = None

    def _in_away(self, spec: DoseSpec) -> bool:
        dev = self.dev
        return (
            dev.away_from is not None
            and dev.away_until is not None
            and dev.away_from <= spec.scheduled_for < dev.away_until
        )

    def _start_away(self, t: dt.datetime) -> None:
        dev = self.dev
        dev.away_active = True
        assert dev.away_until is not None
        self._emit(
            "away_started",
            f"The patient is away until {say.when(dev.away_until, self.tz)}: no prompts or alerts for doses "
            "until then.",
            by=dev.away_by or self._by,
        )
        for doses in self.active:
            for dose in doses:
                if dose.state is DoseState.WAITING and self._in_away(dose.spec):
                    dose.state = DoseState.AWAY
                    self._touch(dose)
                    self._resolve_dose_alerts(dose.dose_id, ())
        for i, ms in enumerate(self._med_states()):
            if ms.episode_alert is not None:  # the patient is in others' care
                self._close_episode(i, resolve=True)

    def _end_away(self, t: dt.datetime) -> None:
        dev = self.dev
        dev.away_active = False
        dev.away_from = dev.away_until = dev.away_by = None
        for ms in self._med_states():
            ms.detection_start, ms.detection_reason = t, "away"
            ms.stop_checked_for = None
        self._emit("away_ended", "The patient is back: prompts and alerts resume.")

    def _give_back(self, new_end: dt.datetime) -> None:
        """A span cancelled or cut short at `new_end`: the doses it no longer covers, scheduled at or
        after the new end, are the patient's to take again (waiting if their window is open). A dose
        scheduled before stays away: it was taken from the other supply."""
        opened = {d.dose_id for doses in self.active for d in doses}
        for dose in [d for doses in self.active for d in doses] + list(self.records.values()):
            if dose.state is not DoseState.AWAY or self._in_away(dose.spec) or dose.spec.scheduled_for < new_end:
                continue
            dose.state = DoseState.WAITING if dose.dose_id in opened else DoseState.UPCOMING
            self._touch(dose)

"""The dose engine: given the plan, what the store holds and the time, decide what happens.

The engine never reads the clock: every call takes `now`. The daemon drives it from the wall clock,
`simulate` from a virtual one; both ask `next_wakeup()` when to call `tick()` next. It is composed of
parts sharing one context: the doses, the alert book, stop detection, supply, the modes, intake and
the clockwork; the engine turns each command into calls on them and commits what they changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import Conflict, NotFound
from . import messages as say
from .alerts import AlertBook
from .clockwork import Clockwork
from .context import Context
from .detections import StopDetection
from .doses import Doses, correction_time
from .emitter import Emitter
from .events import Event
from .intake import Intake
from .model import Config, Medication
from .modes import Modes
from .phases import Phases
from .plan import DAY, Schedule, local_midnight
from .ports import Snapshot, Store
from .prompts import View
from .readmodel import ReadModel
from .state import SELF_RESOLVING, Alert, DeviceState, Dose, DoseState, MedState, device_from_blob, device_to_blob
from .supply import Supply

__all__ = ["Engine", "Snapshot", "Store"]


def _device_state(snap: Snapshot, meds: tuple[Medication, ...]) -> DeviceState:
    """The stored device state, with each configured medication's stock as the config says."""
    dev = device_from_blob(snap.state) if snap.state else DeviceState()
    for med in meds:
        ms = dev.meds.setdefault(med.name, MedState(stock=med.stock))
        if med.stock is None:
            ms.stock = None
        elif ms.stock is None:
            ms.stock = med.stock
    return dev


class Engine:
    """Decides every dose's fate and every alert, one instant at a time."""

    def __init__(self, config: Config, store: Store, *, new_id: Callable[[], str] | None = None) -> None:
        self.config = config
        self.store = store
        self.tz = config.tz
        self.device_id = config.device.id
        self.meds = config.medications
        self.schedules = [Schedule(m, self.tz) for m in self.meds]
        self.started = False
        self._blob_memo: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

        snap = store.load()
        emitter = Emitter(self.device_id, new_id or (lambda: str(uuid.uuid4())), snap.last_seq, snap.last_time)
        book = AlertBook(emitter, (Alert.from_row(row) for row in snap.alerts))
        ctx = Context(config, self.tz, self.meds, self.schedules, _device_state(snap, self.meds), emitter, book)
        self._ctx = ctx
        self._doses = Doses(ctx, store.find_dose, snap.open_doses, snap.closed_doses)
        self._detection = StopDetection(ctx, self._doses)
        self._supply = Supply(ctx, self._doses)
        self._modes = Modes(ctx, self._doses, self._detection)
        self._intake = Intake(ctx, self._detection, self._supply)
        self._clockwork = Clockwork(ctx, self._doses, self._modes, self._detection, self._supply, Phases(ctx))
        self._read = ReadModel(ctx, self._doses, self._supply, self._clockwork)

    # ------------------------------------------------------------------- what the edges read

    @property
    def dev(self) -> DeviceState:
        return self._ctx.dev

    @property
    def alerts(self) -> dict[str, Alert]:
        """The active alerts by id."""
        return self._ctx.alerts.active

    @property
    def records(self) -> dict[str, Dose]:
        """Doses not closed yet that have a record."""
        return self._doses.records

    @property
    def active(self) -> list[list[Dose]]:
        """Per medication, the doses whose window is open."""
        return self._doses.active

    @property
    def closed(self) -> list[deque[Dose]]:
        """Per medication, the doses closed most recently."""
        return self._doses.closed

    @property
    def seq(self) -> int:
        return self._ctx.emitter.seq

    @property
    def last_time(self) -> dt.datetime | None:
        return self._ctx.emitter.last_time

    # ----------------------------------------------------------------------------------- driving

    def start(self, now: dt.datetime, *, lid_open: bool = False) -> list[Event]:
        """Start (or restart) at `now`: device_started, then whatever happened while it was off."""
        self._ctx.emitter.now = now
        dev = self.dev
        if dev.first_start is None:
            dev.first_start = now
            today = now.astimezone(self.tz).date()
            # Started exactly at a local midnight: that midnight (a phase may start on it) is ours.
            dev.last_midnight = today - DAY if local_midnight(today, self.tz) == now else today
        for ms in dev.meds.values():
            if ms.closed_through is None:  # this medication's first start
                ms.closed_through = now
                ms.detection_start = now
        self._clockwork.rewind()
        if dev.last_midnight is None:
            dev.last_midnight = now.astimezone(self.tz).date()
        self.started = True
        self._ctx.emit("device_started", f"{self.config.device.name} started.")
        if dev.lid_open and not lid_open:
            self._modes.lid_closed()
        elif lid_open and not dev.lid_open:
            dev.lid_open, dev.lid_opened_at = True, now
        self._clockwork.advance(now, downtime=True)
        for i in range(len(self.meds)):
            self._supply.check(i, now)  # a dispenser started with too few tablets says so at once
        return self._flush()

    def stop(self, now: dt.datetime) -> list[Event]:
        """A clean shutdown: device_stopped."""
        self._begin(now)
        self._ctx.emit("device_stopped", f"{self.config.device.name} stopped.")
        return self._flush()

    def tick(self, now: dt.datetime) -> list[Event]:
        """Handle every instant up to `now`."""
        self._begin(now)
        return self._flush()

    def next_wakeup(self) -> dt.datetime | None:
        """The next instant at which something happens by itself."""
        return self._clockwork.next_instant()

    def clock_jump(self, now: dt.datetime, seconds: float) -> list[Event]:
        """The wall clock stepped by `seconds`; a forward step is handled like downtime."""
        self._ctx.emitter.now = now
        direction = "forward" if seconds > 0 else "back"
        self._ctx.emit(
            "clock_jump",
            f"The clock stepped {direction} by {abs(round(seconds))} seconds; schedules were rebuilt.",
            seconds=round(seconds, 1),
        )
        self._clockwork.advance(now, downtime=seconds > 0)
        return self._flush()

    def clock_unsynced(self, now: dt.datetime) -> list[Event]:
        self._begin(now)
        if self.dev.clock_alert is None:
            event = self._ctx.emit(
                "clock_unsynced",
                "The clock is not synchronised: dose times may be wrong. Check the network connection.",
            )
            self.dev.clock_alert = event.id
        return self._flush()

    def clock_synced(self, now: dt.datetime) -> list[Event]:
        self._begin(now)
        if self.dev.clock_alert is not None:
            self._ctx.alerts.resolve(self.dev.clock_alert)
            self.dev.clock_alert = None
        return self._flush()

    # ------------------------------------------------------------------------- patient's inputs

    def lid_opened(self, now: dt.datetime) -> list[Event]:
        """The lid went from closed to open."""
        self._begin(now, by="patient")
        if self._modes.lid_opened(now) and not self._modes.refilling(now):
            waiting = self._doses.waiting()
            if waiting:
                self._intake.take(waiting, now, "lid")
            else:
                self._intake.lid_without_dose(now)
        return self._flush()

    def lid_closed(self, now: dt.datetime) -> list[Event]:
        self._begin(now, by="patient")
        if self.dev.lid_open:
            self._modes.lid_closed()
        return self._flush()

    def press(self, now: dt.datetime) -> tuple[bool, list[Event]]:
        """A short button press; True when it confirmed intake of the due doses."""
        self._begin(now, by="patient")
        due = self._doses.due(now)
        if due:
            self._intake.take(due, now, "button")
        return bool(due), self._flush()

    def hold(self, now: dt.datetime) -> list[Event]:
        """The button held for help_hold_seconds: the patient asks for help."""
        self._begin(now, by="patient")
        self._ctx.emit(
            "help_requested",
            f"Help requested at the dispenser at {say.hhmm(now, self.tz)}. Contact the patient now.",
        )
        return self._flush()

    # ---------------------------------------------------------------------- caregiver's actions

    def skip(self, dose_id: str, reason: str, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        """Excuse a dose that has not reached a final state."""
        self._begin(now, by=by)
        dose = self._doses.lookup(dose_id)
        if dose.state.final:
            raise Conflict(f"Dose {dose_id} is already {dose.state}; only upcoming or waiting doses can be skipped.")
        dose.state, dose.reason = DoseState.SKIPPED, reason
        self._ctx.touch(dose)
        spec = dose.spec
        self._ctx.emit(
            "dose_skipped",
            f"{say.dose(spec, self.tz)} on {spec.local_date:%d %b} was skipped: {reason}. "
            "It still counts as intake that did not happen.",
            dose=spec,
            reason=reason,
        )
        self._ctx.alerts.resolve_dose(dose_id, ("dose_overdue",))
        self._supply.check(spec.med_index, now)
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
        dose = self._doses.lookup(dose_id)
        if dose.state not in (DoseState.UPCOMING, DoseState.WAITING, DoseState.MISSED):
            raise Conflict(
                f"Dose {dose_id} is {dose.state}; only upcoming, waiting or missed doses can be marked taken."
            )
        at = correction_time(self._ctx, dose, at, now)
        self._intake.take([dose], at, "caregiver", from_dispenser=from_dispenser)
        self._ctx.alerts.resolve_dose(dose_id, ("dose_missed",))
        return self._flush()

    def refill(self, medication: str | None, tablets: float, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        """Tablets added; `medication` may be left out where there is only one."""
        self._begin(now, by=by)
        self._supply.refill(medication, tablets, now)
        self._modes.end_refill_mode()  # a refill ends refill mode
        return self._flush()

    def start_refill_mode(self, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        """For 15 minutes (or until a refill), lid openings are neither intake nor extra access."""
        self._begin(now, by=by)
        self._modes.start_refill_mode(now)
        return self._flush()

    def set_away(
        self, start: dt.datetime, until: dt.datetime, now: dt.datetime, *, by: str | None = None
    ) -> list[Event]:
        """The patient is away (hospital, holiday with another supply) from `start` to `until`."""
        self._begin(now, by=by)
        self._modes.set_away(start, until, now, by)
        self._clockwork.advance(now, downtime=False)
        return self._flush()

    def end_away(self, now: dt.datetime, *, by: str | None = None) -> list[Event]:
        self._begin(now, by=by)
        self._modes.cancel_away(now)
        return self._flush()

    def acknowledge(self, target: str, now: dt.datetime, *, by: str | None = None) -> tuple[list[Alert], list[Event]]:
        """Acknowledge one alert by id, or `all` (every alert but the high ones)."""
        self._begin(now, by=by)
        book = self._ctx.alerts
        if target == "all":
            chosen = book.unacknowledged(but_high=True)
        else:
            alert = book.get(target)
            if alert is None:
                row = self.store.find_alert(target)
                if row is None:
                    raise NotFound(f"alert: no alert with id {target!r}.")
                return [Alert.from_row(row)], self._flush()
            chosen = [alert]
        for alert in sorted(chosen, key=lambda a: a.since):
            if alert.acknowledged:
                continue
            book.acknowledge(alert, now, by)
            if self._detection.acknowledged(alert.id, now):
                continue
            if alert.event_type in SELF_RESOLVING or alert.event_type == "intake_stopped":
                book.resolve(alert.id)  # an intake_stopped whose episode a restart closed has no condition left
        return chosen, self._flush()

    # ------------------------------------------------------------------------------- queries

    def active_alerts(self) -> list[Alert]:
        return self._ctx.alerts.listed()

    def view(self, now: dt.datetime) -> View:
        """The facts the patient's prompts depend on (SPEC section 6)."""
        return self._read.view(now)

    def state(self, now: dt.datetime) -> dict[str, Any]:
        """The device's state as published on `B/state` (without adherence, which the store counts)."""
        return self._read.state(now)

    def taken_today(self, now: dt.datetime) -> int:
        """Doses taken today (local date), for the progress blinks."""
        return self._doses.taken_on(now.astimezone(self.tz).date())

    def stock(self, i: int) -> float | None:
        return self._supply.stock(i)

    def dose(self, dose_id: str) -> Dose | None:
        try:
            return self._doses.lookup(dose_id)
        except NotFound:
            return None

    def doses_between(self, start: dt.date, end: dt.date) -> list[Dose]:
        """Every planned dose on local dates start..end, with its current state."""
        return self._doses.between(start, end)

    def days_of_supply(self, i: int, now: dt.datetime) -> float | None:
        """Days from now until the first planned dose the stock cannot cover; None if it covers all."""
        return self._supply.days_of_supply(i, now)

    # ------------------------------------------------------------------------------ internals

    def _begin(self, now: dt.datetime, *, by: str | None = None) -> None:
        """Catch up to `now`; what the command then emits was caused by `by` (SPEC 7)."""
        if not self.started:
            raise RuntimeError("engine not started")
        emitter = self._ctx.emitter
        emitter.now = now
        emitter.by = None
        self._clockwork.advance(now, downtime=False)
        emitter.by = by

    def _flush(self) -> list[Event]:
        """Commit the step's events, changed doses and alerts and the device state, in one write."""
        emitter = self._ctx.emitter
        changes = emitter.changes
        self.store.commit(
            changes.events,
            [d.row() for d in changes.doses.values()],
            [a.row() for a in changes.alerts.values()],
            device_to_blob(self.dev, self._blob_memo),
        )
        self._ctx.alerts.settle(changes.alerts.values())
        emitter.take()
        return changes.events

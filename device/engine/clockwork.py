"""The clockwork: the instants at which something happens by itself, handled one at a time, in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from . import messages as say
from .context import Context
from .detections import StopDetection
from .doses import Doses
from .modes import Modes
from .phases import Phases
from .plan import DAY, DoseSpec, local_midnight
from .state import Dose, DoseState
from .supply import Supply


class Clockwork:
    """Windows opening and closing, prompts, the detections' and the modes' instants, and midnights."""

    def __init__(
        self, ctx: Context, doses: Doses, modes: Modes, detection: StopDetection, supply: Supply, phases: Phases
    ) -> None:
        self.ctx = ctx
        self.doses = doses
        self.modes = modes
        self.detection = detection
        self.supply = supply
        self.phases = phases
        self.clock: dt.datetime | None = None  # the latest instant handled in this run
        self._catch_up_to: dt.datetime | None = None
        self._cursor: list[Iterator[DoseSpec] | None] = [None for _ in ctx.meds]
        self._next_spec: list[DoseSpec | None] = [None for _ in ctx.meds]

    def rewind(self) -> None:
        """Find each medication's next window to open: the first closing after all that is final."""
        for i, ms in enumerate(self.ctx.med_states()):
            assert ms.closed_through is not None
            cursor = self.ctx.schedules[i].forward(ms.closed_through, key="closes_at")
            self._cursor[i] = cursor
            self._next_spec[i] = next(cursor, None)

    def latest(self, now: dt.datetime) -> dt.datetime:
        """`now`, or the latest instant handled if the wall clock has since stepped back."""
        return self.clock if self.clock is not None and self.clock > now else now

    def advance(self, now: dt.datetime, *, downtime: bool) -> None:
        """Handle every instant up to `now`; after downtime, doses already over are only reported missed."""
        self._catch_up_to = now if downtime else None
        guard = 0
        while True:
            t = self.next_instant()
            if t is None or t > now:
                break
            self._process(t)
            guard += 1
            if guard > 1_000_000:
                raise RuntimeError(f"engine made no progress at {t.isoformat()}")
        self._catch_up_to = None

    def next_instant(self) -> dt.datetime | None:
        ctx = self.ctx
        found = self.modes.instants()
        for i, med in enumerate(ctx.meds):
            spec = self._next_spec[i]
            if spec is not None:
                found.append(spec.opens_at)
            for dose in self.doses.active[i]:
                found.append(dose.spec.closes_at)
                if dose.state is DoseState.WAITING:
                    if not dose.due_sent:
                        found.append(dose.spec.scheduled_for)
                    elif not dose.overdue_sent:
                        found.append(dose.spec.overdue_at)
            if med.taper_required:
                stop_at = self.detection.stop_instant(i)
                if stop_at is not None:
                    found.append(stop_at)
                remind_at = self.detection.reminder_instant(i)
                if remind_at is not None:
                    found.append(remind_at)
        if ctx.dev.last_midnight is not None:
            found.append(local_midnight(ctx.dev.last_midnight + DAY, ctx.tz))
        return min(found) if found else None

    def _process(self, t: dt.datetime) -> None:
        # An instant found late (a threshold that moved) is handled as of the latest moment seen.
        if self.clock is not None and t < self.clock:
            t = self.clock
        self.clock = t
        self.modes.handle_away(t)
        closed = self._windows(t)
        for i, med in enumerate(self.ctx.meds):
            if med.taper_required:
                self.detection.handle(i, t, closed=i in closed)
            if i in closed:
                self.supply.check(i, t)
        self.modes.handle_lid_and_refill(t)
        dev = self.ctx.dev
        while dev.last_midnight is not None and local_midnight(dev.last_midnight + DAY, self.ctx.tz) <= t:
            dev.last_midnight += DAY
            self._midnight(dev.last_midnight, t)

    def _windows(self, t: dt.datetime) -> set[int]:
        """Open the windows due by `t`, close those over, prompt the rest; the medications that closed one."""
        closed: set[int] = set()
        for i in range(len(self.ctx.meds)):
            while (spec := self._next_spec[i]) is not None and spec.opens_at <= t:
                self.doses.open(spec)
                cursor = self._cursor[i]
                self._next_spec[i] = next(cursor, None) if cursor is not None else None
            for dose in list(self.doses.active[i]):
                if dose.spec.closes_at <= t:
                    self.doses.close(dose, during_downtime=self._downtime_hides(dose.spec))
                    closed.add(i)
                elif dose.state is DoseState.WAITING:
                    self._prompt(dose, t)
        return closed

    def _downtime_hides(self, spec: DoseSpec) -> bool:
        """While catching up, a dose whose window closed before now is only reported as missed."""
        return self._catch_up_to is not None and spec.closes_at <= self._catch_up_to

    def _prompt(self, dose: Dose, t: dt.datetime) -> None:
        ctx, spec = self.ctx, dose.spec
        if not dose.due_sent and spec.scheduled_for <= t:
            dose.due_sent = True
            ctx.touch(dose)
            if not self._downtime_hides(spec):
                self._dose_due(dose)
        if dose.due_sent and not dose.overdue_sent and spec.overdue_at <= t:
            dose.overdue_sent = True
            ctx.touch(dose)
            if not self._downtime_hides(spec):
                ctx.emit("dose_overdue", f"{say.dose(spec, ctx.tz)} has not been taken yet.", dose=spec)

    def _dose_due(self, dose: Dose) -> None:
        ctx, spec = self.ctx, dose.spec
        food = " Take with food." if ctx.meds[spec.med_index].with_food else ""
        ctx.emit(
            "dose_due",
            f"Time for {spec.medication} {say.mg(spec.dose_mg)} ({say.tablets(spec.tablets)}), "
            f"due at {say.hhmm(spec.scheduled_for, ctx.tz)}.{food}",
            dose=spec,
        )
        self.modes.dose_came_due()

    def _midnight(self, day: dt.date, t: dt.datetime) -> None:
        """A local midnight: each medication's new phase, then its stock looked at again."""
        for i in range(len(self.ctx.meds)):
            started = self.phases.started(i, day)
            if started is not None:
                old, step = started
                if step.phase.ends_plan:
                    self.detection.plan_ended(i, old)
                elif old == 0 and step.previous_weekly_ug == 0:
                    self.detection.plan_restarted(i, day)
            self.supply.check(i, t)

"""Days and supply: dose_changed at a phase's midnight, days of supply, stock_low and stock_out."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import messages as say
from .model import Medication, daily_mg, to_ug
from .plan import DAY, DoseSpec, local_midnight

if TYPE_CHECKING:
    from .events import Event
    from .plan import Schedule
    from .planwarn import PlanStep
    from .state import DeviceState, Dose, MedState


@functools.cache
def _most_tablets_a_day(med: Medication) -> float:
    """An upper bound of the tablets one calendar day of the plan can take."""
    return max((med.tablets(p.dose_mg) * len(p.times) for p in med.plan if not p.ends_plan), default=0.0)


class Supply:
    """Mixed into the Engine: the calendar day's changes and the stock the dispenser holds."""

    if TYPE_CHECKING:
        meds: tuple[Medication, ...]
        schedules: list[Schedule]
        records: dict[str, Dose]
        dev: DeviceState
        tz: Any
        _now: dt.datetime
        _steps: list[dict[int, PlanStep]]

        def _ms(self, i: int) -> MedState: ...
        def _emit(self, event_type: str, message: str, **kw: Any) -> Event: ...
        def _resolve(self, alert_id: str) -> None: ...
        def _in_away(self, spec: DoseSpec) -> bool: ...
        def _plan_ended(self, i: int, old: int) -> None: ...
        def _plan_restarted(self, i: int, day: dt.date) -> None: ...

    def days_of_supply(self, i: int, now: dt.datetime) -> float | None:
        """Days from now until the first planned dose the stock cannot cover; None if it covers all."""
        uncovered, exhausted = self._first_uncovered(i, now, horizon=None)
        if uncovered is None:
            return None if exhausted else 3650.0
        days = (uncovered.scheduled_for - now) / DAY
        return max(0.0, math.floor(days * 10) / 10)

    def _midnight(self, day: dt.date, t: dt.datetime) -> None:
        for i, (med, schedule) in enumerate(zip(self.meds, self.schedules, strict=True)):
            phase = schedule.phase_on(day)
            if phase is not None and phase.start == day:
                step = self._steps[i][phase.index]
                old, new = schedule.weekly_ug_on(day - DAY), phase.weekly_ug
                if old != new:
                    self._dose_changed(i, old, new, step, day)
                if med.taper_required and new < old and step.warned:
                    self._withdrawal_watch(i, old, new, step)
                if phase.ends_plan:
                    self._plan_ended(i, old)
                elif old == 0 and step.previous_weekly_ug == 0:
                    self._plan_restarted(i, day)
            self._check_stock(i, t)

    def _dose_changed(self, i: int, old: int, new: int, step: PlanStep, day: dt.date) -> None:
        med = self.meds[i]
        old_mg, new_mg = daily_mg(old), daily_mg(new)
        first = next(self.schedules[i].forward(local_midnight(day, self.tz), key="scheduled_for"), None)
        if new == 0:
            change = f"{med.name}: the plan ends today (it was {say.mg(old_mg)} a day)."
        elif first is not None and first.local_date == day:
            change = f"{med.name} daily dose changes today from {say.mg(old_mg)} to {say.mg(new_mg)}."
        else:
            on = f" (the first dose is on {first.local_date:%a %d %b})" if first is not None else ""
            change = f"{med.name} daily dose changes from today, from {say.mg(old_mg)} to {say.mg(new_mg)}{on}."
        if step.phase.days is not None and new:
            change += " That is the week's dose averaged over seven days."
        if new > old:
            advice = (
                " Avoid driving or machinery until you know how the new dose affects you." if med.taper_required else ""
            )
        elif step.found:
            advice = (
                " A plan warning names this step: keep the remaining tablets until the prescriber says otherwise "
                "(they may be needed to taper) and watch for withdrawal signs over the next 72 hours."
            )
        elif new == 0:
            advice = (
                " The plan has ended as prescribed. Take leftover tablets to a pharmacy take-back; never flush them."
            )
        else:
            advice = " This is a taper step: watch for withdrawal signs." if med.taper_required else ""
        self._emit("dose_changed", change + advice, medication=med.name, old_daily_mg=old_mg, new_daily_mg=new_mg)

    def _withdrawal_watch(self, i: int, old: int, new: int, step: PlanStep) -> None:
        med, phase = self.meds[i], step.phase
        what = "stops" if new == 0 else f"drops to {say.mg(daily_mg(new))} a day"
        self._emit(
            "withdrawal_watch",
            f"{med.name} {what} today (from {say.mg(daily_mg(old))} a day), a step that a plan warning names "
            f"and the prescriber has not confirmed (medication[{med.index}].plan[{phase.index}], from "
            f"{phase.start}). Withdrawal signs — {say.WITHDRAWAL_SIGNS} — may begin 12 to 72 hours after "
            "the change: watch for them and get medical help at once if they appear.",
            medication=med.name,
            old_daily_mg=daily_mg(old),
            new_daily_mg=daily_mg(new),
        )

    def _consuming(self, i: int) -> Iterator[DoseSpec]:
        """Doses still to take from the dispenser, in order (waiting ones first)."""
        ms = self._ms(i)
        start = ms.closed_through or self._now
        for spec in self.schedules[i].forward(start, key="closes_at"):
            dose = self.records.get(spec.dose_id)
            if dose is not None and dose.state.final:
                continue
            if self._in_away(spec):
                continue
            yield spec

    def _first_uncovered(self, i: int, now: dt.datetime, horizon: dt.datetime | None) -> tuple[DoseSpec | None, bool]:
        """The first dose the stock cannot cover (and whether the plan ran out before it)."""
        left = to_ug(self._ms(i).stock or 0)
        for count, spec in enumerate(self._consuming(i)):
            if horizon is not None and spec.scheduled_for > horizon:
                return None, False
            need = to_ug(spec.tablets)
            if left < need:
                return spec, False
            left -= need
            if count > 20000:
                return None, False
        return None, True

    def _check_stock(self, i: int, now: dt.datetime) -> None:
        """stock_low when supply falls to refill_warning_days; stock_out when the next dose can't be met."""
        med, ms = self.meds[i], self._ms(i)
        if ms.stock is None or (ms.stock_low_raised and ms.stock_out_raised):
            return
        horizon = now + dt.timedelta(days=med.refill_warning_days + 1)
        start = min(ms.closed_through or now, now)
        if ms.stock >= _most_tablets_a_day(med) * ((horizon - start).days + 2):
            return  # plenty: no dose up to the horizon can be short (the common case, and cheap)
        uncovered, _ = self._first_uncovered(i, now, horizon)
        if uncovered is None:
            return
        days = self.days_of_supply(i, now)
        low = days is not None and days <= med.refill_warning_days
        nxt = next(self._consuming(i), None)
        out = nxt is not None and nxt.dose_id == uncovered.dose_id
        if (low or out) and not ms.stock_low_raised:
            ms.stock_low_raised = True
            self._emit(
                "stock_low",
                f"{med.name}: {say.tablets(ms.stock)} left, enough for {say.count(days or 0, 'day')}. "
                "Order a refill now; running out means an abrupt stop.",
                medication=med.name,
                stock=ms.stock,
                days_of_supply=days,
            )
        if out and not ms.stock_out_raised:
            ms.stock_out_raised = True
            self._emit(
                "stock_out",
                f"{med.name} has run out: {say.tablets(ms.stock)} left, not enough for the dose due at "
                f"{say.hhmm(uncovered.scheduled_for, self.tz)}. Refill today: running out is an abrupt stop.",
                medication=med.name,
                stock=ms.stock,
                days_of_supply=days,
            )

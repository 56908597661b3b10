"""A phase's first midnight: dose_changed, and withdrawal_watch for a reduction a plan warning names."""

from __future__ import annotations

import datetime as dt

from . import messages as say
from .context import Context
from .model import daily_mg
from .plan import DAY, local_midnight
from .planwarn import PlanStep, plan_steps


class Phases:
    """Announces each medication's new phase on the midnight it starts."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._steps = [{step.phase.index: step for step in plan_steps(m)} for m in ctx.meds]

    def started(self, i: int, day: dt.date) -> tuple[int, PlanStep] | None:
        """The weekly dose before the phase starting on `day`, and its step; None if none starts."""
        med, schedule = self.ctx.meds[i], self.ctx.schedules[i]
        phase = schedule.phase_on(day)
        if phase is None or phase.start != day:
            return None
        step = self._steps[i][phase.index]
        old, new = schedule.weekly_ug_on(day - DAY), phase.weekly_ug
        if old != new:
            self._dose_changed(i, old, new, step, day)
        if med.taper_required and new < old and step.warned:
            self._withdrawal_watch(i, old, new, step)
        return old, step

    def _dose_changed(self, i: int, old: int, new: int, step: PlanStep, day: dt.date) -> None:
        med = self.ctx.meds[i]
        old_mg, new_mg = daily_mg(old), daily_mg(new)
        first = next(self.ctx.schedules[i].forward(local_midnight(day, self.ctx.tz), key="scheduled_for"), None)
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
        self.ctx.emit("dose_changed", change + advice, medication=med.name, old_daily_mg=old_mg, new_daily_mg=new_mg)

    def _withdrawal_watch(self, i: int, old: int, new: int, step: PlanStep) -> None:
        med, phase = self.ctx.meds[i], step.phase
        what = "stops" if new == 0 else f"drops to {say.mg(daily_mg(new))} a day"
        self.ctx.emit(
            "withdrawal_watch",
            f"{med.name} {what} today (from {say.mg(daily_mg(old))} a day), a step that a plan warning names "
            f"and the prescriber has not confirmed (medication[{med.index}].plan[{phase.index}], from "
            f"{phase.start}). Withdrawal signs — {say.WITHDRAWAL_SIGNS} — may begin 12 to 72 hours after "
            "the change: watch for them and get medical help at once if they appear.",
            medication=med.name,
            old_daily_mg=daily_mg(old),
            new_daily_mg=daily_mg(new),
        )

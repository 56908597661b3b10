"""Plan warnings: taper steps that look like an abrupt stop or drop (SPEC section 3, "Plan warnings")."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from device.engine.model import Medication, Phase

STOP_FROM_UG = 15_000  # a step to 0 from above this daily dose is an abrupt stop
BIG_DROP_FROM_UG = 30_000  # above this daily dose, a step may remove at most a third
MIN_DAYS_BETWEEN_REDUCTIONS = 3
MIN_TAPER_DAYS = 14


class StepKind(enum.Enum):
    """How a phase's daily dose compares with the phase before it."""

    START = "start"
    UP = "up"
    DOWN = "down"
    END = "end"
    SAME = "same"


@dataclass(frozen=True)
class PlanStep:
    """One phase of a plan with its daily dose and the step into it."""

    phase: Phase
    daily_ug: int
    previous_daily_ug: int | None  # None for the first phase
    kind: StepKind


def format_mg(ug: int) -> str:
    """Whole micrograms as milligrams without float noise: 7500 -> "7.5", 20000 -> "20"."""
    return str(ug // 1000) if ug % 1000 == 0 else repr(ug / 1000)


def plan_steps(med: Medication) -> list[PlanStep]:
    """Each phase in order, with its daily dose and whether the step into it goes up, down or ends."""
    steps: list[PlanStep] = []
    previous: int | None = None
    for phase in med.plan:
        daily = phase.daily_ug
        if previous is None:
            kind = StepKind.END if daily == 0 else StepKind.START
        elif daily == previous:
            kind = StepKind.SAME
        elif daily == 0:
            kind = StepKind.END
        else:
            kind = StepKind.UP if daily > previous else StepKind.DOWN
        steps.append(PlanStep(phase, daily, previous, kind))
        previous = daily
    return steps


def plan_warnings(med: Medication) -> list[str]:
    """Warnings about steps down that risk withdrawal; empty unless the medication is taper_required."""
    if not med.taper_required:
        return []
    warnings: list[str] = []
    first_reduction: Phase | None = None  # of the taper under way (reset by any step up)
    last_reduction: Phase | None = None
    for step in plan_steps(med):
        old, new, phase = step.previous_daily_ug, step.daily_ug, step.phase
        if old is None or new >= old:
            if old is None or new > old:
                first_reduction = last_reduction = None
            continue
        found = _step_warnings(med, old, new, phase, first_reduction, last_reduction)
        if not phase.prescriber_confirmed:
            where = f"{med.name} medication[{med.index}].plan[{phase.index}] (from {phase.start})"
            warnings.extend(f"{where}: {text}" for text in found)
        first_reduction = first_reduction or phase
        last_reduction = phase
        if new == 0:
            first_reduction = last_reduction = None  # a later restart tapers afresh
    return warnings


def _step_warnings(
    med: Medication, old: int, new: int, phase: Phase, first: Phase | None, last: Phase | None
) -> list[str]:
    """The warnings about one step down from `old` to `new` micrograms a day into `phase`."""
    found: list[str] = []
    confirm = "or set prescriber_confirmed = true on this phase if the prescriber ordered it"
    if new == 0 and old > STOP_FROM_UG:
        found.append(
            f"abrupt stop from {format_mg(old)} mg/day to 0; withdrawal risk — taper down to "
            f"{format_mg(STOP_FROM_UG)} mg/day or less first, {confirm}"
        )
    if new > 0 and old > BIG_DROP_FROM_UG and (old - new) * 3 > old:
        found.append(
            f"abrupt reduction from {format_mg(old)} to {format_mg(new)} mg/day removes more than a third "
            f"of the daily dose; use smaller steps, {confirm}"
        )
    if last is not None and (phase.start - last.start).days < MIN_DAYS_BETWEEN_REDUCTIONS:
        days = (phase.start - last.start).days
        found.append(
            f"abrupt taper: this reduction comes {days} day{'s' if days != 1 else ''} after the one in "
            f"medication[{med.index}].plan[{last.index}] (from {last.start}); keep reduction steps at least "
            f"{MIN_DAYS_BETWEEN_REDUCTIONS} days apart, {confirm}"
        )
    if new == 0 and first is None and old <= STOP_FROM_UG:
        found.append(
            f"abrupt stop from {format_mg(old)} mg/day to 0 with no taper before it; a taper should take "
            f"at least {MIN_TAPER_DAYS} days, {confirm}"
        )
    elif new == 0 and first is not None and (phase.start - first.start).days < MIN_TAPER_DAYS:
        found.append(
            f"abrupt end of the taper: the plan reaches 0 {(phase.start - first.start).days} days after "
            f"its first reduction step (medication[{med.index}].plan[{first.index}], from {first.start}); "
            f"a taper should take at least {MIN_TAPER_DAYS} days, {confirm}"
        )
    return found

"""Plan warnings: taper steps that look like an abrupt stop or drop (SPEC section 3, "Plan warnings")."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from device.engine.model import Medication, Phase, daily_mg

# Thresholds of SPEC 3 in micrograms a week (a daily dose is the week's dose / 7).
STOP_FROM_UG = 15_000 * 7  # a step to 0 from above 15 mg/day is an abrupt stop
BIG_DROP_FROM_UG = 30_000 * 7  # above 30 mg/day, a step may remove at most a third
MIN_DAYS_BETWEEN_REDUCTIONS = 3
MIN_TAPER_DAYS = 14
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
    weekly_ug: int
    previous_weekly_ug: int | None  # None for the first phase
    kind: StepKind
    found: tuple[str, ...] = ()  # warnings about this step or phase, whether confirmed or not

    @property
    def reduction(self) -> bool:
        return self.kind in (StepKind.DOWN, StepKind.END) and self.previous_weekly_ug is not None

    @property
    def warned(self) -> bool:
        """A plan warning names this step and the prescriber has not confirmed it (withdrawal_watch)."""
        return bool(self.found) and not self.phase.prescriber_confirmed


def format_mg(ug: int) -> str:
    """Whole micrograms as milligrams without float noise: 7500 -> "7.5", 20000 -> "20"."""
    return str(ug // 1000) if ug % 1000 == 0 else repr(ug / 1000)


def format_daily(weekly_ug: int) -> str:
    """A daily dose (the week's / 7) rounded to 0.1 mg: 180000 a week -> "25.7"."""
    mg = daily_mg(weekly_ug)
    return str(int(mg)) if mg.is_integer() else str(mg)


def plan_steps(med: Medication) -> list[PlanStep]:
    """Each phase in order, with its daily dose, the step into it and the warnings that name it."""
    steps: list[PlanStep] = []
    previous: int | None = None
    first_reduction: Phase | None = None  # of the taper under way (reset by any step up)
    last_reduction: Phase | None = None
    for phase in med.plan:
        weekly = phase.weekly_ug
        if previous is None:
            kind = StepKind.END if weekly == 0 else StepKind.START
        elif weekly == previous:
            kind = StepKind.SAME
        elif weekly == 0:
            kind = StepKind.END
        else:
            kind = StepKind.UP if weekly > previous else StepKind.DOWN
        found: list[str] = []
        if med.taper_required:
            if previous is not None and weekly < previous:
                found += _step_warnings(med, previous, weekly, phase, first_reduction, last_reduction)
                first_reduction = first_reduction or phase
                last_reduction = phase
                if weekly == 0:
                    first_reduction = last_reduction = None  # a later restart tapers afresh
            elif previous is None or weekly > previous:
                first_reduction = last_reduction = None
            found += _weekly_gap_warning(med, phase)
        steps.append(PlanStep(phase, weekly, previous, kind, tuple(found)))
        previous = weekly
    return steps


def plan_warnings(med: Medication) -> list[str]:
    """Warnings about steps down that risk withdrawal; empty unless the medication is taper_required."""
    warnings: list[str] = []
    for step in plan_steps(med):
        if step.phase.prescriber_confirmed:
            continue
        where = f"{med.name} medication[{med.index}].plan[{step.phase.index}] (from {step.phase.start})"
        warnings.extend(f"{where}: {text}" for text in step.found)
    return warnings


def _weekly_gap_warning(med: Medication, phase: Phase) -> list[str]:
    """A phase limited by `days` whose longest interval between doses exceeds cessation_hours."""
    if phase.days is None or phase.ends_plan:
        return []
    slots = sorted(int(t[:2]) * 60 + int(t[3:]) for t in phase.times)
    moments = sorted(day * 1440 + m for day in phase.days for m in slots)
    gaps = [(b - a, a) for a, b in zip(moments, [*moments[1:], moments[0] + 7 * 1440], strict=True)]
    longest, after = max(gaps)
    if longest <= med.cessation_hours * 60:
        return []
    day, minute = divmod(after % (7 * 1440), 1440)
    return [
        f"abrupt weekly stop: the doses on {', '.join(WEEKDAYS[d] for d in sorted(phase.days))} leave "
        f"{longest / 60:g} hours without a dose after {WEEKDAYS[day]} {minute // 60:02d}:{minute % 60:02d}, "
        f"longer than cessation_hours = {med.cessation_hours:g}; every week would look (and act) like a "
        "stop — spread the doses over the week, or set prescriber_confirmed = true on this phase if the "
        "prescriber ordered it"
    ]


def _step_warnings(
    med: Medication, old: int, new: int, phase: Phase, first: Phase | None, last: Phase | None
) -> list[str]:
    """The warnings about one step down from `old` to `new` micrograms a week into `phase`."""
    found: list[str] = []
    confirm = "or set prescriber_confirmed = true on this phase if the prescriber ordered it"
    if new == 0 and old > STOP_FROM_UG:
        found.append(
            f"abrupt stop from {format_daily(old)} mg/day to 0; withdrawal risk — taper down to "
            f"{format_daily(STOP_FROM_UG)} mg/day or less first, {confirm}"
        )
    if new > 0 and old > BIG_DROP_FROM_UG and (old - new) * 3 > old:
        found.append(
            f"abrupt reduction from {format_daily(old)} to {format_daily(new)} mg/day removes more than a third "
            f"of the daily dose; use smaller steps, {confirm}"
        )
    elif new > 0 and old > STOP_FROM_UG and new * 3 <= old:
        found.append(
            f"abrupt reduction from {format_daily(old)} to {format_daily(new)} mg/day leaves a third of the "
            f"daily dose or less; withdrawal risk — use smaller steps, {confirm}"
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
            f"abrupt stop from {format_daily(old)} mg/day to 0 with no taper before it; a taper should take "
            f"at least {MIN_TAPER_DAYS} days, {confirm}"
        )
    elif new == 0 and first is not None and (phase.start - first.start).days < MIN_TAPER_DAYS:
        found.append(
            f"abrupt end of the taper: the plan reaches 0 {(phase.start - first.start).days} days after "
            f"its first reduction step (medication[{med.index}].plan[{first.index}], from {first.start}); "
            f"a taper should take at least {MIN_TAPER_DAYS} days, {confirm}"
        )
    return found

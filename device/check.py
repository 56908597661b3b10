"""`pillbox check`: the validated plan of each medication and its warnings, for the installer."""

from __future__ import annotations

from device.engine.model import Config, Medication, to_ug
from device.engine.planwarn import PlanStep, StepKind, format_daily, format_mg, plan_steps, plan_warnings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HEADER = ("phase", "from", "times", "dose", "tablets", "daily", "step")


def format_check(config: Config) -> str:
    """The report printed by `pillbox check` on standard output (config already valid)."""
    device = config.device
    lines = [
        f"{config.path}: valid.",
        f'Device "{device.id}" ({device.name}), time zone {device.timezone}, state in {device.state_dir}.',
    ]
    total = 0
    for med in config.medications:
        warnings = plan_warnings(med)
        total += len(warnings)
        lines += ["", *_medication_lines(med), *(f"warning: {text}" for text in warnings)]
    lines += ["", f"{total} plan warning{'' if total == 1 else 's'}." if total else "No plan warnings."]
    return "\n".join(lines) + "\n"


def _medication_lines(med: Medication) -> list[str]:
    facts = [f"{format_mg(to_ug(med.strength_mg))} mg tablets"]
    if med.max_daily_mg is not None:
        facts.append(f"at most {format_mg(to_ug(med.max_daily_mg))} mg/day")
    facts.append(f"stock {med.stock:g} tablets" if med.stock is not None else "stock not tracked")
    facts.append("taper required" if med.taper_required else "no taper required")
    if med.with_food:
        facts.append("with food")
    rows = [HEADER, *(_row(med, step) for step in plan_steps(med))]
    widths = [max(len(row[col]) for row in rows) for col in range(len(HEADER))]
    table = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    last = med.plan[-1]
    ending = "the plan has ended" if last.ends_plan else "the last phase continues with no end date"
    title = f"{med.name} (medication[{med.index}]): {', '.join(facts)}"
    return [title, *table, f"  From {last.start}, {ending}."]


def _row(med: Medication, step: PlanStep) -> tuple[str, ...]:
    phase = step.phase
    if phase.ends_plan:
        times, dose, tablets = "-", "0 mg", "0"
    else:
        times = " ".join(phase.times)
        if phase.days is not None:
            times += " (" + ",".join(WEEKDAYS[d] for d in sorted(phase.days)) + ")"
        dose, tablets = f"{format_mg(to_ug(phase.dose_mg))} mg", f"{med.tablets(phase.dose_mg):g}"
    return (
        f"plan[{phase.index}]",
        phase.start.isoformat(),
        times,
        dose,
        tablets,
        f"{format_daily(step.weekly_ug)} mg/day",
        _step_label(step),
    )


def _step_label(step: PlanStep) -> str:
    if step.kind is StepKind.UP:
        return "plan restarts" if step.previous_weekly_ug == 0 else "titration step up"
    if step.kind is StepKind.DOWN:
        return "taper step down"
    if step.kind is StepKind.END:
        return "plan ends"
    if step.kind is StepKind.SAME:
        return "same daily dose"
    return "first phase"

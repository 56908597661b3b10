"""Everything the dashboard shows, gathered in one place (the template only lays it out)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from device.engine.messages import WITHDRAWAL_SIGNS
from device.engine.planwarn import plan_warnings
from device.formats import adherence, number

from .services import services

DAY = dt.timedelta(days=1)
WHAT_TO_DO = {
    "intake_stopped": (
        f"Intake has stopped abruptly. Call the patient or go and see them now. Withdrawal signs: "
        f"{WITHDRAWAL_SIGNS}. Get medical help at once if they appear; do not restart at full dose without "
        "the prescriber."
    ),
    "help_requested": "The patient pressed and held the button for help. Call or go to them now.",
    "stock_out": "The dispenser cannot cover the next dose: refill it today. Running out is an abrupt stop.",
    "intake_reduced": "Less was taken than planned over two days. Check with the patient; a sharp drop can cause "
    "withdrawal.",
    "intake_resumed": "Doses have started again after a stop. Ask the prescriber before going back to the full "
    "dose; never double up.",
    "dose_missed": "Do not double up at the next dose.",
    "extra_access": "The lid was opened when no dose was due: check how many tablets are left.",
}


@dataclass
class MedView:
    name: str
    slug: str
    doses: list[dict[str, Any]]
    phase: str
    coming: list[str]
    warnings: list[str]
    stock: float | None
    days_of_supply: float | None
    run_out: str | None
    hours_since: float | None
    notes: str | None
    interactions: list[str]
    storage: str | None
    with_food: bool


@dataclass
class Dashboard:
    now: dt.datetime
    alerts: list[dict[str, Any]]
    meds: list[MedView]
    next_dose: str | None
    adherence_7d: float | None
    adherence_30d: float | None
    chart: list[dict[str, Any]]
    away: dict[str, Any]
    refill_mode_until: str | None
    hub: dict[str, Any]
    clock_synced: bool
    hardware: dict[str, Any]
    mock: bool
    lid: str
    extra: dict[str, Any] = field(default_factory=dict)


def local(moment: dt.datetime | str | None, fmt: str = "%a %d %b %H:%M") -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(services().config.tz).strftime(fmt)


def build() -> Dashboard:
    sv = services()
    config = sv.config
    snap = sv.app.snapshot()  # everything, read under one lock at one moment
    status, now = snap.state, snap.now
    today = now.astimezone(config.tz).date()
    meds: list[MedView] = []
    for i, med in enumerate(config.medications):
        phase = sv.app.schedules[i].phase_on(today)
        phase_text = (
            "plan not started" if phase is None else "plan ended" if phase.ends_plan
            else f"{number(phase.dose_mg)} mg at {', '.join(phase.times)} since {phase.start:%d %b}"
        )  # fmt: skip
        coming = [
            (
                f"{p.start:%a %d %b}: "
                + ("plan ends" if p.ends_plan else f"{number(p.dose_mg)} mg at {', '.join(p.times)}")
            )
            for p in med.plan
            if p.start > today
        ][:5]
        days = snap.days_of_supply[i]
        meds.append(
            MedView(
                name=med.name,
                slug=med.slug,
                doses=[
                    {**d, "time": local(d["scheduled_for"], "%H:%M"), "taken_time": local(d["taken_at"], "%H:%M")}
                    for d in snap.today
                    if d["medication"] == med.name
                ],
                phase=phase_text,
                coming=coming,
                warnings=plan_warnings(med),
                stock=status["stock"].get(med.name),
                days_of_supply=days,
                run_out=local(now + dt.timedelta(days=days), "%a %d %b") if days is not None else None,
                hours_since=status["hours_since_last_dose"].get(med.name),
                notes=med.notes,
                interactions=list(med.interactions),
                storage=med.storage,
                with_food=med.with_food,
            )
        )
    alerts = [
        {**alert, "since_local": local(alert["since"]), "todo": WHAT_TO_DO.get(alert["event_type"])}
        for alert in snap.alerts
    ]
    nxt = None
    if status["next_dose_at"]:
        nxt = f"{status['next_dose_medication']} {number(status['next_dose_mg'])} mg, {local(status['next_dose_at'])}"
    first = today - 29 * DAY
    chart = []
    for k in range(30):
        day = first + k * DAY
        c = snap.daily_counts.get(day.isoformat(), {})
        taken, missed = c.get("taken", 0), c.get("missed", 0)
        chart.append(
            {"day": day, "label": day.strftime("%d %b"), "taken": taken, "missed": missed,
             "pct": None if (pct := adherence(taken, missed, digits=0)) is None else int(pct)}
        )  # fmt: skip
    return Dashboard(
        now=now,
        alerts=alerts,
        meds=meds,
        next_dose=nxt,
        adherence_7d=status["adherence_7d"],
        adherence_30d=snap.adherence_30d,
        chart=chart,
        away={**snap.away, "from_local": local(snap.away_from), "until_local": local(snap.away_until)},
        refill_mode_until=local(snap.refill_mode_until, "%H:%M") if snap.refill_mode_until else None,
        hub=snap.hub,
        clock_synced=status["clock_synced"],
        hardware=snap.hardware,
        mock=sv.mock,
        lid=status["lid"],
    )


def state_word(state: str) -> str:
    return {
        "upcoming": "upcoming",
        "waiting": "due now",
        "taken": "taken",
        "missed": "missed",
        "skipped": "skipped",
        "away": "away",
    }.get(state, state)

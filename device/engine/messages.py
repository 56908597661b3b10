"""Plain sentences for caregivers, with local times."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .events import number
from .plan import DoseSpec

WITHDRAWAL_SIGNS = (
    "hallucinations, confusion, agitation, disorientation, dizziness, insomnia, nausea, seizures or high fever"
)


def mg(value: float) -> str:
    return f"{number(value)} mg"


def tablets(count: float) -> str:
    whole = number(count)
    return f"{whole} tablet" if count == 1 else f"{whole} tablets"


def hhmm(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def when(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def dose(spec: DoseSpec, tz: ZoneInfo) -> str:
    """'Baclofen 10 mg due at 08:00' (the date as well when it is not today's slot)."""
    return f"{spec.medication} {mg(spec.dose_mg)} due at {hhmm(spec.scheduled_for, tz)}"


def hours(delta: dt.timedelta) -> str:
    return hours_text(round(delta.total_seconds() / 3600, 1))


def hours_text(value: float | None) -> str:
    """'13.9 hours', '1 hour', 'less than 0.1 hours'."""
    if value is None:
        return "an unknown number of hours"
    if value < 0.1:
        return "less than 0.1 hours"
    return "1 hour" if value == 1 else f"{number(value)} hours"


def count(n: int | float, noun: str) -> str:
    """'1 dose', '2 doses'."""
    return f"{number(n)} {noun}" if n == 1 else f"{number(n)} {noun}s"

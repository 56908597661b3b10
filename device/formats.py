"""Formats in one place: events, doses, alerts and away as JSON, times as ISO 8601, and adherence.

Every edge (MQTT, the page and API, simulate, the report) gets its JSON and its numbers from here,
so that one change of format is made once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .engine.events import iso, number, to_json
from .engine.state import Alert, DeviceState, Dose

__all__ = ["adherence", "alert_json", "away_json", "dose_json", "event_json", "iso", "number"]


def event_json(event: Any) -> dict[str, Any]:
    """An event as the JSON object of SPEC section 7."""
    return to_json(event)


def adherence(taken: int, missed: int, *, digits: int = 1) -> float | None:
    """Doses taken as a percent of taken + missed (skipped and away left out); None without doses."""
    if taken + missed == 0:
        return None
    return round(100 * taken / (taken + missed), digits)


def dose_json(dose: Dose) -> dict[str, Any]:
    """A dose as the API lists it (`GET /api/v1/doses`, `today` in the status)."""
    s = dose.spec
    return {
        "dose_id": s.dose_id,
        "medication": s.medication,
        "scheduled_for": iso(s.scheduled_for),
        "dose_mg": number(s.dose_mg),
        "tablets": number(s.tablets),
        "state": str(dose.state),
        "taken_at": iso(dose.taken_at),
        "source": dose.source,
        "reason": dose.reason,
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as listed on `B/alerts` and `GET /api/v1/alerts`."""
    item = alert.public()
    item.pop("resolved", None)
    return item


def away_json(dev: DeviceState) -> dict[str, Any]:
    return {"away": dev.away_active, "from": iso(dev.away_from), "until": iso(dev.away_until)}


def local_text(moment: dt.datetime | str | None, tz: Any, fmt: str = "%a %d %b %H:%M") -> str | None:
    """A moment as the device's local time, for people."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(tz).strftime(fmt)

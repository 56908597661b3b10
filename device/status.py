"""The device's state for the hub (`B/state`) and the API: the engine's view plus what the store counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .daemon import Daemon

DAY = dt.timedelta(days=1)


def device_state(daemon: Daemon) -> dict[str, Any]:
    """Every field of `B/state` (SPEC section 9), in its order."""
    with daemon.lock:
        now = daemon.wall()
        state = daemon.engine.state(now)
        adherence = daemon.store.adherence(now - 7 * DAY, now)
        lid = "open" if daemon.hardware.lid_open else "closed"
    return {
        "next_dose_at": state["next_dose_at"],
        "next_dose_medication": state["next_dose_medication"],
        "next_dose_mg": state["next_dose_mg"],
        "dose_due": state["dose_due"],
        "last_taken_at": state["last_taken_at"],
        "hours_since_last_dose": state["hours_since_last_dose"],
        "adherence_7d": adherence,
        "lid": lid,
        "alert_level": state["alert_level"],
        "active_alerts": state["active_alerts"],
        "stock": state["stock"],
        "days_of_supply": state["days_of_supply"],
        "clock_synced": daemon.clock_synced,
        "away": state["away"],
    }


def alert_list(daemon: Daemon) -> list[dict[str, Any]]:
    """Active and acknowledged alerts as on `B/alerts`: high first, then by time."""
    with daemon.lock:
        alerts = daemon.engine.active_alerts()
    out = []
    for alert in alerts:
        item = alert.public()
        item.pop("resolved", None)
        out.append(item)
    return out

"""Read models: what the prompts depend on, and the device's state as published."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .clockwork import Clockwork
from .context import Context
from .detections import hours_of
from .doses import Doses
from .events import iso, number
from .plan import DoseSpec
from .prompts import View
from .supply import Supply


class ReadModel:
    """Answers from the engine's parts, changing nothing."""

    def __init__(self, ctx: Context, doses: Doses, supply: Supply, clockwork: Clockwork) -> None:
        self.ctx = ctx
        self.doses = doses
        self.supply = supply
        self.clockwork = clockwork

    def view(self, now: dt.datetime) -> View:
        """The facts the patient's prompts depend on (SPEC section 6).

        Judged at the latest moment the engine has handled, so a wall clock stepping back does not
        make a due dose look not yet due (its prompts would stop until the overdue time).
        """
        now = self.clockwork.latest(now)
        due = self.doses.due(now)
        alerts = self.ctx.alerts.active
        unacked = [a.priority for a in alerts.values() if not a.acknowledged]
        return View(
            due=bool(due),
            overdue=any(d.spec.overdue_at <= now for d in due),
            due_in_episode=any(self.ctx.ms(d.spec.med_index).episode_alert is not None for d in due),
            alert_level=max(unacked, key=lambda p: p.rank) if unacked else None,
            any_alert=bool(alerts),
        )

    def state(self, now: dt.datetime) -> dict[str, Any]:
        """The device's state as published on `B/state` (without adherence, which the store counts)."""
        ctx = self.ctx
        nxt = self._next_dose()
        intakes = [ms.last_intake_at for ms in ctx.med_states() if ms.last_intake_at is not None]
        levels = [a.priority for a in ctx.alerts.active.values()]
        level = max(levels, key=lambda p: p.rank) if levels else None
        tracked = [(i, m) for i, m in enumerate(ctx.meds) if ctx.ms(i).stock is not None]
        return {
            "next_dose_at": iso(nxt.scheduled_for) if nxt else None,
            "next_dose_medication": nxt.medication if nxt else None,
            "next_dose_mg": number(nxt.dose_mg) if nxt else None,
            "dose_due": self.view(now).due,
            "last_taken_at": iso(max(intakes)) if intakes else None,
            "hours_since_last_dose": {
                m.name: (hours_of(now - ms.last_intake_at) if ms.last_intake_at else None)
                for m, ms in zip(ctx.meds, ctx.med_states(), strict=True)
            },
            "lid": "open" if ctx.dev.lid_open else "closed",
            "alert_level": str(level) if level else "none",
            "active_alerts": len(ctx.alerts.active),
            "stock": {m.name: number(ctx.ms(i).stock) for i, m in tracked},
            "days_of_supply": {m.name: self.supply.days_of_supply(i, now) for i, m in tracked},
            "away": ctx.dev.away_active,
        }

    def _next_dose(self) -> DoseSpec | None:
        """The next dose to take from the dispenser, of any medication."""
        upcoming: list[DoseSpec] = []
        for i in range(len(self.ctx.meds)):
            spec = next(self.supply.consuming(i), None)
            if spec is not None:
                upcoming.append(spec)
        return min(upcoming, key=lambda s: (s.scheduled_for, s.med_index)) if upcoming else None

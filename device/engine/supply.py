"""Supply: the stock the dispenser holds, days of supply, refills, stock_low and stock_out."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator

from ..errors import ActionError
from . import messages as say
from .context import Context
from .doses import Doses
from .model import Medication, to_ug
from .plan import DAY, DoseSpec


@functools.cache
def _most_tablets_a_day(med: Medication) -> float:
    """An upper bound of the tablets one calendar day of the plan can take."""
    return max((med.tablets(p.dose_mg) * len(p.times) for p in med.plan if not p.ends_plan), default=0.0)


class Supply:
    """The tablets each tracked medication has left, and what that means for the doses still to come."""

    def __init__(self, ctx: Context, doses: Doses) -> None:
        self.ctx = ctx
        self.doses = doses

    def stock(self, i: int) -> float | None:
        return self.ctx.ms(i).stock

    def refill(self, medication: str | None, tablets: float, now: dt.datetime) -> None:
        """Tablets added; `medication` may be left out where there is only one."""
        ctx = self.ctx
        if not medication:
            if len(ctx.meds) != 1:
                raise ActionError("medication: required where there are several medications.")
            medication = ctx.meds[0].name
        i = ctx.med_index(medication)
        med, ms = ctx.meds[i], ctx.ms(i)
        if ms.stock is None:
            raise ActionError(f"medication: stock is not tracked for {med.name} (no 'stock' in the config).")
        if tablets <= 0 or tablets > 1000 or tablets * 2 != int(tablets * 2):
            raise ActionError(f"tablets: must be a whole or half number from 0.5 to 1000, not {tablets}.")
        ms.stock += tablets
        days = self.days_of_supply(i, now)
        ctx.emit(  # the cause first, then the alerts it resolves
            "refill",
            f"{say.tablets(tablets)} of {med.name} added; {say.tablets(ms.stock)} now"
            + (f", enough for {say.count(days, 'day')}." if days is not None else ", enough for the rest of the plan."),
            medication=med.name,
            stock=ms.stock,
            days_of_supply=days,
        )
        ctx.alerts.resolve_where(lambda a: a.medication == med.name and a.event_type in ("stock_low", "stock_out"))
        ms.stock_low_raised = ms.stock_out_raised = False
        self.check(i, now)

    def days_of_supply(self, i: int, now: dt.datetime) -> float | None:
        """Days from now until the first planned dose the stock cannot cover; None if it covers all."""
        uncovered, exhausted = self.first_uncovered(i, now, horizon=None)
        if uncovered is None:
            return None if exhausted else 3650.0
        days = (uncovered.scheduled_for - now) / DAY
        return max(0.0, math.floor(days * 10) / 10)

    def consuming(self, i: int) -> Iterator[DoseSpec]:
        """Doses still to take from the dispenser, in order (waiting ones first)."""
        ms = self.ctx.ms(i)
        start = ms.closed_through or self.ctx.now
        records, in_away = self.doses.records, self.ctx.in_away
        for spec in self.ctx.schedules[i].forward(start, key="closes_at"):
            dose = records.get(spec.dose_id)
            if dose is not None and dose.state.final:
                continue
            if in_away(spec):
                continue
            yield spec

    def first_uncovered(self, i: int, now: dt.datetime, horizon: dt.datetime | None) -> tuple[DoseSpec | None, bool]:
        """The first dose the stock cannot cover (and whether the plan ran out before it)."""
        left = to_ug(self.ctx.ms(i).stock or 0)
        for count, spec in enumerate(self.consuming(i)):
            if horizon is not None and spec.scheduled_for > horizon:
                return None, False
            need = to_ug(spec.tablets)
            if left < need:
                return spec, False
            left -= need
            if count > 20000:
                return None, False
        return None, True

    def check(self, i: int, now: dt.datetime) -> None:
        """stock_low when supply falls to refill_warning_days; stock_out when the next dose can't be met."""
        med, ms = self.ctx.meds[i], self.ctx.ms(i)
        if ms.stock is None or (ms.stock_low_raised and ms.stock_out_raised):
            return
        horizon = now + dt.timedelta(days=med.refill_warning_days + 1)
        start = min(ms.closed_through or now, now)
        if ms.stock >= _most_tablets_a_day(med) * ((horizon - start).days + 2):
            return  # plenty: no dose up to the horizon can be short (the common case, and cheap)
        uncovered, _ = self.first_uncovered(i, now, horizon)
        if uncovered is None:
            return
        days = self.days_of_supply(i, now)
        low = days is not None and days <= med.refill_warning_days
        nxt = next(self.consuming(i), None)
        out = nxt is not None and nxt.dose_id == uncovered.dose_id
        if (low or out) and not ms.stock_low_raised:
            ms.stock_low_raised = True
            self.ctx.emit(
                "stock_low",
                f"{med.name}: {say.tablets(ms.stock)} left, enough for {say.count(days or 0, 'day')}. "
                "Order a refill now; running out means an abrupt stop.",
                medication=med.name,
                stock=ms.stock,
                days_of_supply=days,
            )
        if out and not ms.stock_out_raised:
            ms.stock_out_raised = True
            self.ctx.emit(
                "stock_out",
                f"{med.name} has run out: {say.tablets(ms.stock)} left, not enough for the dose due at "
                f"{say.hhmm(uncovered.scheduled_for, self.ctx.tz)}. Refill today: running out is an abrupt stop.",
                medication=med.name,
                stock=ms.stock,
                days_of_supply=days,
            )

"""Intake: doses taken (lid, button, caregiver), and a lid opened when nothing was due."""

from __future__ import annotations

import datetime as dt

from . import messages as say
from .context import Context
from .detections import StopDetection
from .events import number
from .state import Dose, DoseState
from .supply import Supply

MIN = dt.timedelta(minutes=1)
EXTRA_ACCESS_AFTER = 30 * MIN

_HOW = {"lid": "lid opened", "button": "button pressed", "caregiver": "recorded by a caregiver"}


class Intake:
    """Records intake and what follows from it: stock taken out, alerts over, an episode ended."""

    def __init__(self, ctx: Context, detection: StopDetection, supply: Supply) -> None:
        self.ctx = ctx
        self.detection = detection
        self.supply = supply

    def take(self, doses: list[Dose], at: dt.datetime, source: str, *, from_dispenser: bool = True) -> None:
        for dose in doses:
            self._take(dose, at, source, from_dispenser)

    def _take(self, dose: Dose, at: dt.datetime, source: str, from_dispenser: bool) -> None:
        ctx, spec = self.ctx, dose.spec
        i = spec.med_index
        med, ms = ctx.meds[i], ctx.ms(i)
        dose.state, dose.taken_at, dose.source = DoseState.TAKEN, at, source
        dose.from_dispenser = source != "caregiver" or from_dispenser
        ctx.touch(dose)
        if dose.from_dispenser and ms.stock is not None:
            ms.stock = max(0.0, ms.stock - spec.tablets)
        delay = round((at - spec.scheduled_for).total_seconds() / 60, 1)
        on_time = at < spec.overdue_at
        timing = "on time" if on_time else f"{number(round(delay))} minutes late"
        ctx.emit(
            "dose_taken",
            f"{say.dose(spec, ctx.tz)} taken at {say.hhmm(at, ctx.tz)} ({_HOW[source]}, {timing}).",
            dose=spec,
            delay_minutes=delay,
            on_time=on_time,
            source=source,
        )
        ctx.alerts.resolve_dose(spec.dose_id)
        previous = ms.last_intake_at
        if previous is None or at > previous:
            ms.last_intake_at = at
        if ms.episode_alert is not None:
            self.detection.resume(i, at)
        if med.stock is not None:
            self.supply.check(i, ctx.now)

    def last_intake(self) -> dt.datetime | None:
        times = [ms.last_intake_at for ms in self.ctx.med_states() if ms.last_intake_at is not None]
        return max(times) if times else None

    def lid_without_dose(self, now: dt.datetime) -> None:
        """The lid opened with no dose waiting: a possible extra dose, unless one was just taken."""
        last = self.last_intake()
        if last is None or now - last >= EXTRA_ACCESS_AFTER:
            tz = self.ctx.tz
            since = f" (last dose taken {say.when(last, tz)})" if last else ""
            self.ctx.emit(
                "extra_access",
                f"The lid was opened at {say.hhmm(now, tz)} when no dose was due{since}: "
                "a possible extra dose. Check how many tablets are left.",
            )

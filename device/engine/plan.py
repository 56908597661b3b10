"""The plan in time: which doses exist, when each window opens and closes, DST rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .model import Medication, Phase, to_ug

DAY = dt.timedelta(days=1)


def local_instant(day: dt.date, hhmm: str, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall-clock slot.

    A slot that does not exist (spring gap) moves forward by the gap; an ambiguous one (autumn fold)
    is its first occurrence. zoneinfo with fold=0 does exactly both.
    """
    hour, minute = int(hhmm[:2]), int(hhmm[3:5])
    naive = dt.datetime(day.year, day.month, day.day, hour, minute)
    return naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return local_instant(day, "00:00", tz)


@dataclass(frozen=True)
class DoseSpec:
    """One planned dose: a slot on a local date, with its window as UTC instants."""

    dose_id: str
    med_index: int
    medication: str
    slot: str
    local_date: dt.date
    scheduled_for: dt.datetime
    dose_mg: float
    tablets: float
    opens_at: dt.datetime
    overdue_at: dt.datetime
    closes_at: dt.datetime

    @property
    def dose_ug(self) -> int:
        return to_ug(self.dose_mg)


class Schedule:
    """The doses one medication's plan gives, generated on demand and cached per local day."""

    def __init__(self, med: Medication, tz: ZoneInfo) -> None:
        self.med = med
        self.tz = tz
        self._days: dict[dt.date, tuple[DoseSpec, ...]] = {}
        self._early = dt.timedelta(minutes=med.early_minutes)
        self._late = dt.timedelta(minutes=med.late_after_minutes)
        self._missed = dt.timedelta(minutes=med.missed_after_minutes)
        # After this date no phase gives doses again (None: the plan goes on for ever).
        last = med.plan[-1]
        self.last_day: dt.date | None = last.start - DAY if last.ends_plan else None
        self.first_day = med.plan[0].start

    def phase_on(self, day: dt.date) -> Phase | None:
        current = None
        for phase in self.med.plan:
            if phase.start <= day:
                current = phase
            else:
                break
        return current

    def weekly_ug_on(self, day: dt.date) -> int:
        phase = self.phase_on(day)
        return phase.weekly_ug if phase else 0

    def doses_on(self, day: dt.date) -> tuple[DoseSpec, ...]:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        phase = self.phase_on(day)
        out: list[DoseSpec] = []
        if phase is not None and not phase.ends_plan and (phase.days is None or day.weekday() in phase.days):
            for slot in phase.times:
                at = local_instant(day, slot, self.tz)
                out.append(
                    DoseSpec(
                        dose_id=f"{self.med.slug}/{day.isoformat()}T{slot}",
                        med_index=self.med.index,
                        medication=self.med.name,
                        slot=slot,
                        local_date=day,
                        scheduled_for=at,
                        dose_mg=phase.dose_mg,
                        tablets=self.med.tablets(phase.dose_mg),
                        opens_at=at - self._early,
                        overdue_at=at + self._late,
                        closes_at=at + self._missed,
                    )
                )
        out.sort(key=lambda d: d.scheduled_for)
        result = tuple(out)
        if len(self._days) > 4000:
            self._days.clear()
        self._days[day] = result
        return result

    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def forward(self, after: dt.datetime, *, key: str = "closes_at") -> Iterator[DoseSpec]:
        """Doses in time order whose `key` instant is after `after`; ends where the plan ends."""
        day = max(self.local_date(after) - 2 * DAY, self.first_day)
        empty = 0
        while (self.last_day is None or day <= self.last_day) and empty < 3700:
            doses = self.doses_on(day)
            empty = 0 if doses else empty + 1
            for dose in doses:
                if getattr(dose, key) > after:
                    yield dose
            day += DAY

    def backward(self, before: dt.datetime) -> Iterator[DoseSpec]:
        """Doses scheduled before `before`, newest first; ends at the plan's first day."""
        day = self.local_date(before) + DAY
        if self.last_day is not None and day > self.last_day:
            day = self.last_day
        while day >= self.first_day:
            for dose in reversed(self.doses_on(day)):
                if dose.scheduled_for < before:
                    yield dose
            day -= DAY

    def first_dose(self) -> DoseSpec | None:
        before = local_midnight(self.first_day, self.tz) - DAY
        return next(self.forward(before, key="scheduled_for"), None)

    def find(self, dose_id: str) -> DoseSpec | None:
        """The planned dose with this id, or None."""
        slug, _, rest = dose_id.partition("/")
        if slug != self.med.slug or len(rest) != 16 or rest[10] != "T":
            return None
        try:
            day = dt.date.fromisoformat(rest[:10])
        except ValueError:
            return None
        for dose in self.doses_on(day):
            if dose.slot == rest[11:]:
                return dose
        return None

    def ended_at(self, moment: dt.datetime) -> bool:
        """True while the phase in force at `moment` gives no doses (tapered to zero)."""
        phase = self.phase_on(self.local_date(moment))
        return phase is None or phase.ends_plan

    def stop_threshold(
        self, since: dt.datetime, cessation: dt.timedelta, not_before: dt.datetime | None = None
    ) -> dt.datetime | None:
        """The first instant T at which 'no intake since `since`' is an abrupt stop (rule b).

        T - since >= max(cessation, longest gap between consecutive planned doses up to T (the gap
        into the first dose after `since` included) + missed_after), with a dose planned in
        [since, T], and T no earlier than `not_before` (the close of the next dose not yet taken).
        None when no dose is planned after `since`.
        """
        first_after = next(self.forward(since, key="scheduled_for"), None)
        if first_after is None and not self._has_dose_at(since):
            return None
        prev = next(self.backward(since), None)
        threshold = since + cessation
        if first_after is not None:
            threshold = max(threshold, first_after.scheduled_for)
        if not_before is not None:
            threshold = max(threshold, not_before)
        for _ in range(1000):
            gap = dt.timedelta(0)
            last = prev.scheduled_for if prev else None
            for dose in self.forward(since, key="scheduled_for"):
                if dose.scheduled_for > threshold:
                    break
                if last is not None:
                    gap = max(gap, dose.scheduled_for - last)
                last = dose.scheduled_for
            needed = max(cessation, gap + self._missed)
            if threshold - since >= needed:
                return threshold
            threshold = since + needed
        return threshold

    def _has_dose_at(self, moment: dt.datetime) -> bool:
        return any(d.scheduled_for == moment for d in self.doses_on(self.local_date(moment)))

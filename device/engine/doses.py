"""The doses: records of the doses not closed yet, the open windows, the recently closed, and lookups."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ActionError, Conflict, NotFound
from . import messages as say
from .context import Context
from .plan import DAY, DoseSpec
from .state import Dose, DoseState

HOUR = dt.timedelta(hours=1)
CORRECTION_WITHIN = 6 * HOUR  # taken elsewhere: at most this far from the dose's time
CLOSED_KEPT = 64  # closed doses kept in memory per medication (covers 48 h and the stop rule)

FindDose = Callable[[str], dict[str, Any] | None]


class Doses:
    """Every dose the engine holds: by id while not closed, open per medication, closed per medication."""

    def __init__(
        self, ctx: Context, find: FindDose, open_rows: Iterable[dict[str, Any]], closed_rows: Iterable[dict[str, Any]]
    ) -> None:
        self.ctx = ctx
        self._find = find
        self.records: dict[str, Dose] = {}  # doses not closed yet that have a record
        self.active: list[list[Dose]] = [[] for _ in ctx.meds]  # window opened, not closed
        self.closed: list[deque[Dose]] = [deque(maxlen=CLOSED_KEPT) for _ in ctx.meds]
        by_slug = {m.slug: i for i, m in enumerate(ctx.meds)}
        for row in open_rows:
            dose = self._from_row(row, by_slug)
            if dose is not None:
                self.records[dose.dose_id] = dose
        for row in sorted(closed_rows, key=lambda r: r["closes_at"]):
            dose = self._from_row(row, by_slug)
            if dose is not None:
                self.closed[dose.spec.med_index].append(dose)

    def _from_row(self, row: dict[str, Any], by_slug: dict[str, int]) -> Dose | None:
        index = by_slug.get(row["dose_id"].partition("/")[0])
        spec = self.ctx.schedules[index].find(row["dose_id"]) if index is not None else None
        return Dose.from_row(spec, row) if spec is not None else None

    # ------------------------------------------------------------------------------ windows

    def open(self, spec: DoseSpec) -> None:
        """The dose's window opens: it waits to be taken, unless the patient is away for it."""
        dose = self.records.get(spec.dose_id) or Dose(spec)
        self.records[spec.dose_id] = dose
        if dose.state is DoseState.UPCOMING:
            dose.state = DoseState.AWAY if self.ctx.in_away(spec) else DoseState.WAITING
            self.ctx.touch(dose)
        self.active[spec.med_index].append(dose)

    def close(self, dose: Dose, *, during_downtime: bool) -> None:
        """The dose's window closes: final now, missed if it was not taken, skipped or away."""
        ctx, spec = self.ctx, dose.spec
        i = spec.med_index
        dose.closed = True
        if dose.state in (DoseState.WAITING, DoseState.UPCOMING):
            dose.state = DoseState.MISSED
            note = " while the dispenser was off (no record of intake)" if during_downtime else ""
            extra: dict[str, Any] = {"during_downtime": True} if during_downtime else {}
            ctx.emit(
                "dose_missed",
                f"{say.dose(spec, ctx.tz)} was not taken{note}. Do not double up at the next dose.",
                dose=spec,
                **extra,
            )
        ctx.alerts.resolve_dose(spec.dose_id)
        ctx.touch(dose)
        self.active[i].remove(dose)
        self.records.pop(spec.dose_id, None)
        self.closed[i].append(dose)
        ms = ctx.ms(i)
        if ms.closed_through is None or spec.closes_at > ms.closed_through:
            ms.closed_through = spec.closes_at

    def opened(self) -> list[Dose]:
        """Every dose whose window is open, medication by medication."""
        return [d for doses in self.active for d in doses]

    def waiting(self) -> list[Dose]:
        return [d for doses in self.active for d in doses if d.state is DoseState.WAITING]

    def due(self, now: dt.datetime) -> list[Dose]:
        """The waiting doses whose time has come."""
        return [
            d for doses in self.active for d in doses if d.state is DoseState.WAITING and d.spec.scheduled_for <= now
        ]

    # ------------------------------------------------------------------------------ lookups

    def known(self, spec: DoseSpec) -> Dose | None:
        """The dose's record, in memory or in the store; None if nothing has happened to it."""
        dose = self.records.get(spec.dose_id)
        if dose is not None:
            return dose
        for old in self.closed[spec.med_index]:
            if old.dose_id == spec.dose_id:
                return old
        row = self._find(spec.dose_id)
        return Dose.from_row(spec, row) if row is not None else None

    def lookup(self, dose_id: str) -> Dose:
        """A planned dose by id, to act on; one from before the first start has no record to change."""
        slug = dose_id.partition("/")[0]
        for i, med in enumerate(self.ctx.meds):
            if med.slug == slug:
                spec = self.ctx.schedules[i].find(dose_id)
                if spec is None:
                    break
                dose = self.known(spec)
                if dose is None:
                    dose = Dose(spec)
                    if spec.closes_at <= (self.ctx.ms(i).closed_through or spec.closes_at):
                        raise Conflict(f"Dose {dose_id} is from before this dispenser started.")
                    self.records[dose_id] = dose
                return dose
        raise NotFound(f"dose: no planned dose with id {dose_id!r}.")

    def between(self, start: dt.date, end: dt.date) -> list[Dose]:
        """Every planned dose on local dates start..end, with its current state."""
        out: list[Dose] = []
        for schedule in self.ctx.schedules:
            day = start
            while day <= end:
                for spec in schedule.doses_on(day):
                    out.append(self.known(spec) or Dose(spec))
                day += DAY
        return sorted(out, key=lambda d: (d.spec.scheduled_for, d.spec.med_index))

    def taken_on(self, today: dt.date) -> int:
        tz = self.ctx.tz
        seen = {
            d.dose_id: d
            for d in [*(x for q in self.closed for x in q), *self.records.values()]
            if d.state is DoseState.TAKEN and d.taken_at is not None
        }
        return sum(1 for d in seen.values() if d.taken_at and d.taken_at.astimezone(tz).date() == today)


def correction_time(ctx: Context, dose: Dose, at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When a dose taken elsewhere was taken: near its time, never in the future (SPEC 4)."""
    spec, tz = dose.spec, ctx.tz
    local = f"{say.when(spec.scheduled_for, tz)}"
    if at is None:
        if dose.state is DoseState.MISSED:
            raise ActionError(
                f"at: required for a missed dose (due {local}): say when it was taken; "
                "'now' would record an intake that did not happen now."
            )
        at = now
    shown = f"{at.isoformat()} ({say.when(at, tz)})"
    if at > now:
        raise ActionError(f"at: {shown} is in the future.")
    if abs(at - spec.scheduled_for) > CORRECTION_WITHIN:
        raise ActionError(f"at: {shown} is more than 6 hours from the dose's time ({local}).")
    if dose.state is DoseState.MISSED:
        _within_missed_window(ctx, spec, at, shown)
    return at


def _within_missed_window(ctx: Context, spec: DoseSpec, at: dt.datetime, shown: str) -> None:
    """A missed dose was taken after its window opened and before the next dose's window closed."""
    if at < spec.opens_at:
        raise ActionError(f"at: {shown} is before the dose's window opened ({say.when(spec.opens_at, ctx.tz)}).")
    later = next(
        (
            s
            for s in ctx.schedules[spec.med_index].forward(spec.scheduled_for, key="scheduled_for")
            if s.scheduled_for > spec.scheduled_for
        ),
        None,
    )
    if later is not None and at >= later.closes_at:
        raise ActionError(f"at: {shown} is after the window of the next dose ({say.dose(later, ctx.tz)}) closed.")

"""The device's modes: the patient away (and the doses a shortened span gives back), refill mode, the lid."""

from __future__ import annotations

import datetime as dt

from ..errors import ActionError
from . import messages as say
from .context import Context
from .detections import StopDetection
from .doses import Doses
from .events import Priority
from .state import DoseState

MIN = dt.timedelta(minutes=1)
LID_OPEN_ALERT_AFTER = 10 * MIN
REFILL_MODE_FOR = 15 * MIN


class Modes:
    """Away spans, refill mode and the lid left open, over the device state in the context."""

    def __init__(self, ctx: Context, doses: Doses, detection: StopDetection) -> None:
        self.ctx = ctx
        self.doses = doses
        self.detection = detection

    def instants(self) -> list[dt.datetime]:
        """When a mode next changes by itself: away starts or ends, the lid alert, refill mode ends."""
        dev = self.ctx.dev
        found: list[dt.datetime] = []
        if dev.away_active and dev.away_until is not None:
            found.append(dev.away_until)
        elif dev.away_from is not None:
            found.append(dev.away_from)
        if dev.lid_open and dev.lid_alert is None and dev.lid_opened_at is not None:
            found.append(dev.lid_opened_at + LID_OPEN_ALERT_AFTER)
        if dev.refill_mode_until is not None:
            found.append(dev.refill_mode_until)
        return found

    # ------------------------------------------------------------------------------------ away

    def handle_away(self, t: dt.datetime) -> None:
        """At instant `t`: an away span that ends or starts."""
        dev = self.ctx.dev
        if dev.away_active and dev.away_until is not None and dev.away_until <= t:
            self.end_away(t)
        elif not dev.away_active and dev.away_from is not None and dev.away_from <= t:
            self._start_away(t)

    def set_away(self, start: dt.datetime, until: dt.datetime, now: dt.datetime, by: str | None) -> None:
        """A new span replaces the one set; what it no longer covers is given back."""
        if until <= start:
            raise ActionError(f"until: {until.isoformat()} must be after from ({start.isoformat()}).")
        if until <= now:
            raise ActionError(f"until: {until.isoformat()} is in the past.")
        dev = self.ctx.dev
        if dev.away_active:
            self.end_away(now)
        dev.away_from, dev.away_until, dev.away_by = start, until, by
        self._give_back(now)

    def cancel_away(self, now: dt.datetime) -> None:
        dev = self.ctx.dev
        if dev.away_active:
            self.end_away(now)
        else:
            dev.away_from = dev.away_until = dev.away_by = None
        self._give_back(now)

    def _start_away(self, t: dt.datetime) -> None:
        ctx, dev = self.ctx, self.ctx.dev
        dev.away_active = True
        assert dev.away_until is not None
        ctx.emit(
            "away_started",
            f"The patient is away until {say.when(dev.away_until, ctx.tz)}: no prompts or alerts for doses until then.",
            by=dev.away_by or ctx.emitter.by,
        )
        for dose in self.doses.opened():
            if dose.state is DoseState.WAITING and ctx.in_away(dose.spec):
                dose.state = DoseState.AWAY
                ctx.touch(dose)
                ctx.alerts.resolve_dose(dose.dose_id)
        self.detection.away_started()

    def end_away(self, t: dt.datetime) -> None:
        dev = self.ctx.dev
        dev.away_active = False
        dev.away_from = dev.away_until = dev.away_by = None
        self.detection.count_from(t, "away")
        self.ctx.emit("away_ended", "The patient is back: prompts and alerts resume.")

    def _give_back(self, new_end: dt.datetime) -> None:
        """A span cancelled or cut short at `new_end`: the doses it no longer covers, scheduled at or
        after the new end, are the patient's to take again (waiting if their window is open). A dose
        scheduled before stays away: it was taken from the other supply."""
        ctx = self.ctx
        opened = self.doses.opened()
        ids = {d.dose_id for d in opened}
        for dose in opened + list(self.doses.records.values()):
            if dose.state is not DoseState.AWAY or ctx.in_away(dose.spec) or dose.spec.scheduled_for < new_end:
                continue
            dose.state = DoseState.WAITING if dose.dose_id in ids else DoseState.UPCOMING
            ctx.touch(dose)

    # ----------------------------------------------------------------------- refill mode, lid

    def refilling(self, now: dt.datetime) -> bool:
        """In refill mode: lid openings are neither intake nor extra access."""
        until = self.ctx.dev.refill_mode_until
        return until is not None and now < until

    def start_refill_mode(self, now: dt.datetime) -> None:
        ctx = self.ctx
        ctx.dev.refill_mode_until = now + REFILL_MODE_FOR
        ctx.emit(
            "refill_mode",
            f"Refill mode until {say.hhmm(ctx.dev.refill_mode_until, ctx.tz)}: "
            "opening the lid does not count as a dose.",
        )

    def end_refill_mode(self) -> None:
        self.ctx.dev.refill_mode_until = None

    def handle_lid_and_refill(self, t: dt.datetime) -> None:
        """At instant `t`: the lid open too long, refill mode over."""
        dev = self.ctx.dev
        opened = dev.lid_opened_at
        if dev.lid_open and dev.lid_alert is None and opened is not None and opened + LID_OPEN_ALERT_AFTER <= t:
            self._lid_left_open(t)
        if dev.refill_mode_until is not None and dev.refill_mode_until <= t:
            dev.refill_mode_until = None

    def lid_opened(self, now: dt.datetime) -> bool:
        """The lid is open from `now`; False if it already was."""
        dev = self.ctx.dev
        if dev.lid_open:
            return False
        dev.lid_open, dev.lid_opened_at = True, now
        dev.lid_alert = dev.lid_alert_priority = None
        return True

    def lid_closed(self) -> None:
        dev = self.ctx.dev
        dev.lid_open, dev.lid_opened_at = False, None
        if dev.lid_alert is not None:
            self.ctx.alerts.resolve(dev.lid_alert)
        dev.lid_alert = dev.lid_alert_priority = None

    def dose_came_due(self) -> None:
        """A lid left open with no dose due becomes more urgent when one falls due."""
        dev = self.ctx.dev
        if dev.lid_open and dev.lid_alert is not None and dev.lid_alert_priority == "low":
            old = dev.lid_alert
            self._lid_left_open(self.ctx.now, upgrade=True)
            self.ctx.alerts.resolve(old)

    def _lid_left_open(self, t: dt.datetime, *, upgrade: bool = False) -> None:
        ctx, dev = self.ctx, self.ctx.dev
        due = bool(self.doses.due(t))
        priority = Priority.MEDIUM if due or upgrade else Priority.LOW
        extra = " A dose is due: press the button after taking it." if priority is Priority.MEDIUM else ""
        event = ctx.emit(
            "lid_left_open",
            f"The lid has been open since {say.hhmm(dev.lid_opened_at or t, ctx.tz)}. Close it to keep the "
            f"tablets dry.{extra}",
            priority=priority,
        )
        dev.lid_alert, dev.lid_alert_priority = event.id, str(priority)

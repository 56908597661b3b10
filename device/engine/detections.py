"""Abrupt stop and reduction of intake (SPEC section 5): the rules, their instants, episodes, reminders."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from . import messages as say
from .context import Context
from .doses import Doses
from .plan import DoseSpec, local_midnight
from .state import Dose, DoseState

HOUR = dt.timedelta(hours=1)
REMIND_EVERY = 6 * HOUR
ACK_QUIET_FOR = 12 * HOUR
REDUCTION_SPAN = 48 * HOUR
WITHDRAWAL_ONSET_ENDS = 72 * HOUR  # reminders of a stop outliving the plan end this long after the last intake
KEEP_OPEN_ABOVE_UG = 15_000 * 7  # a stop from above 15 mg/day is not closed by the plan's end


def hours_of(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


class StopDetection:
    """Everything about intake that stops or drops abruptly, watched over the doses the engine holds."""

    def __init__(self, ctx: Context, doses: Doses) -> None:
        self.ctx = ctx
        self.doses = doses
        self._first_dose: list[DoseSpec | None] = [s.first_dose() for s in ctx.schedules]
        self._stop_cache: dict[int, tuple[dt.datetime, dt.datetime | None]] = {}

    # ------------------------------------------------------------------ what the clockwork asks

    def handle(self, i: int, t: dt.datetime, *, closed: bool) -> None:
        """At instant `t` (with a dose just closed or not): the stop rules, a reminder, the reduction rule."""
        if closed:
            self.check_stop_by_count(i, t)
        stop_at = self.stop_instant(i)
        if stop_at is not None and stop_at <= t:
            self.check_stop_by_time(i, t)
        remind_at = self.reminder_instant(i)
        if remind_at is not None and remind_at <= t:
            self.remind(i, t)
        if closed:
            self.check_reduction(i, t)

    def away_started(self) -> None:
        """The patient is in others' care: open stop episodes are over."""
        for i, ms in enumerate(self.ctx.med_states()):
            if ms.episode_alert is not None:
                self.close_episode(i, resolve=True)

    def count_from(self, t: dt.datetime, reason: str) -> None:
        """Detection counts afresh from `t` (the return from away)."""
        for ms in self.ctx.med_states():
            ms.detection_start, ms.detection_reason = t, reason
            ms.stop_checked_for = None

    def acknowledged(self, alert_id: str, now: dt.datetime) -> bool:
        """An episode's alert was acknowledged: quiet for a while, or over if the plan has ended."""
        episode = next((i for i, ms in enumerate(self.ctx.med_states()) if ms.episode_alert == alert_id), None)
        if episode is None:
            return False
        if self.ctx.schedules[episode].ended_at(now):
            self.close_episode(episode, resolve=True)  # a stop that outlived the plan: seen, over
        else:
            self.ctx.ms(episode).episode_quiet_until = now + ACK_QUIET_FOR
        return True

    # ------------------------------------------------------------------------------- the rules

    def _counted(self, i: int) -> list[Dose]:
        """Closed doses that count for stop and reduction detection, oldest first."""
        start = self.ctx.ms(i).detection_start
        return [
            d
            for d in self.doses.closed[i]
            if d.state is not DoseState.AWAY and (start is None or d.spec.closes_at > start)
        ]

    def _stop_reference(self, i: int) -> dt.datetime:
        """The last intake, or the detection start (no earlier than the plan's first dose)."""
        ms = self.ctx.ms(i)
        start = ms.detection_start or self.ctx.dev.first_start or self.ctx.now
        if ms.last_intake_at is not None and ms.last_intake_at >= start:
            return ms.last_intake_at
        first = self._first_dose[i]
        return max(start, first.scheduled_for) if first is not None else start

    def close_episode(self, i: int, *, resolve: bool) -> None:
        """The stop episode is over; its alert is resolved, or left for an acknowledgement."""
        ms = self.ctx.ms(i)
        alert_id = ms.episode_alert
        ms.episode_alert = ms.episode_announced_at = ms.episode_quiet_until = ms.episode_ref = None
        ms.stop_checked_for = None
        ms.episode_closed_at = self.ctx.now
        if alert_id is not None and resolve:
            self.ctx.alerts.resolve(alert_id)

    def plan_ended(self, i: int, old_weekly_ug: int) -> None:
        """At the midnight the plan ends: a stop from a low dose has nothing left to watch."""
        if self.ctx.ms(i).episode_alert is not None and old_weekly_ug <= KEEP_OPEN_ABOVE_UG:
            self.close_episode(i, resolve=True)

    def plan_restarted(self, i: int, day: dt.date) -> None:
        """After a planned pause, detection counts from the restart's first dose as from a first start."""
        ms = self.ctx.ms(i)
        if ms.episode_alert is not None:
            self.close_episode(i, resolve=False)  # its alert stays listed until acknowledged
        first = next(self.ctx.schedules[i].forward(local_midnight(day, self.ctx.tz), key="scheduled_for"), None)
        if first is not None:
            ms.detection_start, ms.detection_reason = first.scheduled_for, "restart"
            ms.stop_checked_for = None

    def _detecting(self, i: int, t: dt.datetime) -> bool:
        ms = self.ctx.ms(i)
        ended = self.ctx.schedules[i].ended_at(t) or self.ctx.schedules[i].ended_at(max(t, self.ctx.now))
        return ms.episode_alert is None and not self.ctx.dev.away_active and not ended

    def stop_instant(self, i: int) -> dt.datetime | None:
        ms = self.ctx.ms(i)
        if ms.episode_alert is not None or self.ctx.dev.away_active:
            return None
        ref = self._stop_reference(i)
        if ms.stop_checked_for == ref:
            return None
        cached = self._stop_cache.get(i)
        if cached is None or cached[0] != ref:
            hours = dt.timedelta(hours=self.ctx.meds[i].cessation_hours)
            # Never while the next dose not yet taken can still be taken in its window: an early
            # intake must not shorten the time the patient has for the next dose.
            pending = next(
                (
                    spec
                    for spec in self.ctx.schedules[i].forward(ref, key="scheduled_for")
                    if (known := self.doses.records.get(spec.dose_id)) is None or known.state is not DoseState.TAKEN
                ),
                None,
            )
            not_before = pending.closes_at if pending is not None else None
            cached = (ref, self.ctx.schedules[i].stop_threshold(ref, hours, not_before))
            self._stop_cache[i] = cached
        return cached[1]

    def check_stop_by_count(self, i: int, t: dt.datetime) -> None:
        need = self.ctx.meds[i].cessation_missed_doses
        counted = self._counted(i)
        last = counted[-need:]
        if len(last) == need and all(d.state is not DoseState.TAKEN for d in last) and self._detecting(i, t):
            self._stopped(i, t)

    def check_stop_by_time(self, i: int, t: dt.datetime) -> None:
        self.ctx.ms(i).stop_checked_for = self._stop_reference(i)
        if self._detecting(i, t):
            self._stopped(i, t)

    def _stop_fields(self, i: int, t: dt.datetime, reminder: bool) -> dict[str, Any]:
        ms = self.ctx.ms(i)
        in_a_row = 0
        for dose in reversed(self._counted(i)):
            if dose.state is DoseState.TAKEN:
                break
            in_a_row += 1
        last = ms.last_intake_at
        ref = ms.episode_ref if reminder and ms.episode_ref is not None else self._stop_reference(i)
        return {
            "medication": self.ctx.meds[i].name,
            "missed_in_a_row": in_a_row,
            # Time away or off the plan is not time without the drug: counted from the restart.
            "hours_since_last_dose": hours_of(t - min(ref, t)) if last is not None else None,
            "last_taken_at": last,
            "reminder": reminder,
        }

    def _stop_message(self, i: int, fields: dict[str, Any]) -> str:
        ms = self.ctx.ms(i)
        name = self.ctx.meds[i].name
        last = fields["last_taken_at"]
        start = ms.detection_start
        if last is None:
            since = f"No {name} taken since the dispenser started"
        elif start is not None and last < start and ms.detection_reason in ("away", "restart"):
            counted = "the patient came back" if ms.detection_reason == "away" else "the plan restarted"
            since = (
                f"No {name} taken in the {say.hours_text(fields['hours_since_last_dose'])} since {counted} "
                f"({say.when(start, self.ctx.tz)})"
            )
        else:
            since = (
                f"No {name} taken for {say.hours_text(fields['hours_since_last_dose'])} "
                f"(last dose {say.when(last, self.ctx.tz)})"
            )
        count = fields["missed_in_a_row"]
        row = f"; {say.count(count, 'dose')} in a row not taken" if count else ""
        again = "Still: " if fields["reminder"] else ""
        return (
            f"{again}{since}{row}. Stopping {name} abruptly can cause dangerous withdrawal: "
            f"watch for {say.WITHDRAWAL_SIGNS}. Contact the patient now; get medical help at once if "
            "they appear; do not restart at full dose without the prescriber."
        )

    def _stopped(self, i: int, t: dt.datetime) -> None:
        ms = self.ctx.ms(i)
        fields = self._stop_fields(i, t, reminder=False)
        medication = fields.pop("medication")
        event = self.ctx.emit("intake_stopped", self._stop_message(i, fields), medication=medication, **fields)
        ms.episode_alert = event.id
        ms.episode_ref = self._stop_reference(i)
        ms.episode_announced_at = event.time
        ms.episode_quiet_until = None

    def reminder_instant(self, i: int) -> dt.datetime | None:
        ms = self.ctx.ms(i)
        if ms.episode_alert is None or ms.episode_announced_at is None or self.ctx.dev.away_active:
            return None
        due = ms.episode_announced_at + REMIND_EVERY
        if ms.episode_quiet_until is not None:
            due = max(due, ms.episode_quiet_until)
        when = max(due, self.ctx.now)  # a reminder caught up after downtime is announced now
        if self.ctx.schedules[i].ended_at(when):
            # A stop that outlived the plan: reminded until the withdrawal onset window has passed.
            last = ms.last_intake_at or ms.episode_ref
            if last is None or when > last + WITHDRAWAL_ONSET_ENDS:
                return None
        return due

    def remind(self, i: int, t: dt.datetime) -> None:
        ms = self.ctx.ms(i)
        fields = self._stop_fields(i, t, reminder=True)
        medication = fields.pop("medication")
        event = self.ctx.emit(
            "intake_stopped",
            self._stop_message(i, fields),
            medication=medication,
            raise_alert=False,
            alert_id=ms.episode_alert,
            **fields,
        )
        ms.episode_announced_at = event.time
        ms.episode_quiet_until = None
        self.ctx.alerts.rearm(ms.episode_alert)

    def resume(self, i: int, at: dt.datetime) -> None:
        ms = self.ctx.ms(i)
        name = self.ctx.meds[i].name
        ref = ms.episode_ref
        without = hours_of(at - ref) if ref is not None else None
        alert_id = ms.episode_alert
        self.close_episode(i, resolve=False)
        span = f"after {say.hours_text(without)} without it" if without is not None else "again"
        self.ctx.emit(
            "intake_resumed",
            f"{name} taken again at {say.hhmm(at, self.ctx.tz)}, {span}. Ask the prescriber before going back "
            "to the full dose; never double up.",
            medication=name,
            hours_without=without,
        )
        if alert_id is not None:
            self.ctx.alerts.resolve(alert_id)

    def check_reduction(self, i: int, t: dt.datetime) -> None:
        ms, med = self.ctx.ms(i), self.ctx.meds[i]
        if not self._detecting(i, t):
            return
        if ms.last_reduced_at is not None and t - ms.last_reduced_at < REDUCTION_SPAN:
            return
        after = max(t - REDUCTION_SPAN, ms.episode_closed_at or t - REDUCTION_SPAN)
        window = [d for d in self._counted(i) if after < d.spec.closes_at <= t]
        if len(window) < 3:
            return
        planned = sum(d.spec.dose_ug for d in window)
        taken = sum(d.spec.dose_ug for d in window if d.state is DoseState.TAKEN)
        ratio = Fraction(str(med.reduction_ratio))
        if taken * ratio.denominator < ratio.numerator * planned:
            ms.last_reduced_at = t
            self.ctx.emit(
                "intake_reduced",
                f"{med.name}: only {say.mg(taken / 1000)} of {say.mg(planned / 1000)} planned was taken in "
                "the last 48 hours. A sharp drop can cause withdrawal; check with the patient.",
                medication=med.name,
                taken_mg=taken / 1000,
                planned_mg=planned / 1000,
            )

"""The safety fixes found by testing: each scenario with the exact times computed from the SPEC."""

from __future__ import annotations

import re

import pytest

from device.errors import ActionError

from .conftest import brief, config_toml, local, med_toml, of_type


def phase(start: str, dose: float, extra: str = "") -> str:
    return f'  [[medication.plan]]\n  start = "{start}"\n  dose_mg = {dose}\n{extra}'


def states(r, first: str, last: str) -> dict[str, str]:
    return {
        d.dose_id: str(d.state)
        for d in r.engine.doses_between(local(first + "T12:00").date(), local(last + "T12:00").date())
    }


def ack(r, at, alert_id: str, by: str = "Anna") -> list[dict]:
    """Acknowledge at `at`; the events the acknowledgement made."""
    r.advance(at)
    before = len(r.events)
    r.do(at, lambda e, t: e.acknowledge(alert_id, t, by=by))
    return r.events[before:]


# ------------------------------------------------------------------ 1. no double dose after away


def test_a_dose_scheduled_inside_away_is_not_prompted_at_the_return(rig):
    # 10 mg at 08:00, 14:00, 20:00; away from 11-05 12:00 until 11-06 08:30; lid opened at 08:40.
    r = rig(config_toml())
    r.start(local("2026-11-05T07:00"))
    r.do(local("2026-11-05T07:30"), lambda e, t: e.set_away(local("2026-11-05T12:00"), local("2026-11-06T08:30"), t))
    r.do(local("2026-11-05T08:05"), lambda e, t: e.lid_opened(t))
    r.do(local("2026-11-05T08:06"), lambda e, t: e.lid_closed(t))
    r.advance(local("2026-11-06T08:30"))
    events = r.do(local("2026-11-06T08:40"), lambda e, t: e.lid_opened(t))
    assert brief(r.events, "away_ended") == [("away_ended", "2026-11-06T08:30")]
    assert [e for e in r.events if e.get("dose_id") == "baclofen/2026-11-06T08:00"] == []
    assert of_type(events, "dose_taken") == []
    assert states(r, "2026-11-06", "2026-11-06")["baclofen/2026-11-06T08:00"] == "away"
    # The 14:00 dose after the return is prompted and taken as usual.
    r.do(local("2026-11-06T08:41"), lambda e, t: e.lid_closed(t))
    r.advance(local("2026-11-06T14:00"))
    assert brief(r.events, "dose_due")[-1] == ("dose_due", "2026-11-06T14:00")


def test_not_opening_the_lid_after_away_raises_no_false_alarms(rig):
    r = rig(config_toml())
    r.start(local("2026-11-05T07:00"))
    r.do(local("2026-11-05T07:30"), lambda e, t: e.set_away(local("2026-11-05T12:00"), local("2026-11-06T08:30"), t))
    r.do(local("2026-11-05T08:05"), lambda e, t: e.lid_opened(t))
    r.do(local("2026-11-05T08:06"), lambda e, t: e.lid_closed(t))
    r.advance(local("2026-11-06T12:00"))
    assert of_type(r.events, "dose_missed", "intake_reduced", "intake_stopped") == []
    # Nothing taken after the return: counted from 08:30 as from a first start, the 14:00 and 20:00
    # doses missed make the stop at 22:00 (not six hours earlier with the away dose counted).
    r.advance(local("2026-11-07T06:00"))
    first = [e for e in of_type(r.events, "intake_stopped") if not e["reminder"]]
    assert [(e["time"][:16], e["hours_since_last_dose"]) for e in first] == [("2026-11-06T22:00", 13.5)]
    assert "since the patient came back" in first[0]["message"]


def test_cutting_away_short_gives_back_only_the_doses_after_the_new_end(rig):
    r = rig(config_toml())
    r.start(local("2026-11-05T06:00"))
    r.do(local("2026-11-05T06:10"), lambda e, t: e.set_away(local("2026-11-05T06:30"), local("2026-11-05T20:30"), t))
    r.advance(local("2026-11-05T07:30"))  # 08:00 window open, inside the span: away
    r.do(local("2026-11-05T07:40"), lambda e, t: e.end_away(t))  # home early, before 08:00
    assert states(r, "2026-11-05", "2026-11-05")["baclofen/2026-11-05T08:00"] == "waiting"
    r2 = type(r)(config_toml(), r.db.with_name("second.db"))
    r2.start(local("2026-11-05T06:00"))
    r2.do(local("2026-11-05T06:10"), lambda e, t: e.set_away(local("2026-11-05T06:30"), local("2026-11-05T20:30"), t))
    r2.advance(local("2026-11-05T08:30"))
    r2.do(local("2026-11-05T08:40"), lambda e, t: e.end_away(t))  # the 08:00 dose was before the new end
    assert states(r2, "2026-11-05", "2026-11-05")["baclofen/2026-11-05T08:00"] == "away"


# ------------------------------------------------------------- 2. a stop that outlives the plan


END_ON_10TH = phase("2026-11-10", 0, "  prescriber_confirmed = true\n")


def stopped_before_end(sim, extra_actions: str = "") -> list[dict]:
    med = med_toml(dose=20, phases=END_ON_10TH)
    scen = (
        'start = "2026-11-06T00:00"\nend = "2026-11-14T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[patient.period]]\nfrom = "2026-11-08T00:00"\nuntil = "2026-11-14T00:00"\ntakes = "none"\n' + extra_actions
    )
    return sim(config_toml(med), scen)


def test_a_stop_before_the_end_stays_open_past_the_end(sim):
    events = stopped_before_end(sim)
    first = [e for e in of_type(events, "intake_stopped") if not e["reminder"]]
    assert [(e["time"][:16]) for e in first] == ["2026-11-08T16:00"]
    alert_id = first[0]["id"]
    assert alert_id not in [e.get("alert_id") for e in of_type(events, "alert_resolved")]
    reminders = [e for e in of_type(events, "intake_stopped") if e["reminder"]]
    # Every 6 hours after 16:00 while unacknowledged, until 72 h after the last intake (11-07 20:05).
    assert [e["time"][:16] for e in reminders][-1] == "2026-11-10T16:00"
    assert all(e["time"] <= "2026-11-10T20:05:00+00:00" for e in reminders)
    assert len(reminders) == 8
    assert all(e["alert_id"] == alert_id for e in reminders)


def test_ack_all_after_the_end_leaves_the_stop_open(sim):
    events = stopped_before_end(sim, '[[action]]\nat = "2026-11-11T09:00"\ndo = "ack_all"\n')
    # ack_all never acknowledges a high alert: still open
    alert_id = next(e for e in of_type(events, "intake_stopped") if not e["reminder"])["id"]
    assert alert_id not in [e.get("alert_id") for e in of_type(events, "alert_resolved")]


def test_acknowledge_after_the_end_closes_the_episode(rig):
    med = med_toml(dose=20, phases=END_ON_10TH)
    r = rig(config_toml(med))
    r.start(local("2026-11-07T07:00"))
    r.do(local("2026-11-07T08:05"), lambda e, t: e.lid_opened(t))
    r.do(local("2026-11-07T08:06"), lambda e, t: e.lid_closed(t))
    r.advance(local("2026-11-10T12:00"))
    stop = next(e for e in of_type(r.events, "intake_stopped") if not e["reminder"])
    assert stop["time"][:16] == "2026-11-07T22:00"
    assert r.engine.active_alerts()[0].id == stop["id"]
    events = ack(r, local("2026-11-10T12:30"), stop["id"])
    assert [e["event_type"] for e in events] == ["alert_acknowledged", "alert_resolved"]
    assert all(e["by"] == "Anna" for e in events)
    r.advance(local("2026-11-14T00:00"))
    assert of_type(r.events, "intake_stopped")[-1]["time"] < "2026-11-10T12:30:00+00:00"
    assert [a for a in r.engine.active_alerts() if a.event_type == "intake_stopped"] == []


def test_a_stop_at_or_below_15_mg_a_day_closes_at_the_end(sim):
    med = med_toml(dose=5, phases=END_ON_10TH)
    scen = (
        'start = "2026-11-06T00:00"\nend = "2026-11-12T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[patient.period]]\nfrom = "2026-11-08T00:00"\nuntil = "2026-11-14T00:00"\ntakes = "none"\n'
    )
    events = sim(config_toml(med), scen)
    stop = of_type(events, "intake_stopped")[0]
    resolved = [e for e in of_type(events, "alert_resolved") if e["alert_id"] == stop["id"]]
    assert [e["time"][:16] for e in resolved] == ["2026-11-10T00:00"]


def test_away_closes_an_open_episode(rig):
    r = rig(config_toml())
    r.start(local("2026-11-05T07:00"))
    r.advance(local("2026-11-05T17:00"))
    stop = of_type(r.events, "intake_stopped")[0]
    r.do(local("2026-11-05T17:10"), lambda e, t: e.set_away(t, local("2026-11-06T12:00"), t))
    assert stop["id"] in [e["alert_id"] for e in of_type(r.events, "alert_resolved")]


# ------------------------------------------------------------------------- 3. withdrawal watch


def test_withdrawal_watch_at_a_named_unconfirmed_step(sim):
    # 20 mg three times a day (60 mg/day), then 30 mg/day from 11-05: removes half, not confirmed.
    med = med_toml(dose=20, phases=phase("2026-11-05", 10))
    scen = 'start = "2026-11-03T00:00"\nend = "2026-11-07T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
    events = sim(config_toml(med), scen)
    watch = of_type(events, "withdrawal_watch")
    assert [(e["time"][:16], e["priority"], e["old_daily_mg"], e["new_daily_mg"]) for e in watch] == [
        ("2026-11-05T00:00", "medium", 60, 30)
    ]
    assert "12" in watch[0]["message"] and "72 hours" in watch[0]["message"]
    assert "hallucinations" in watch[0]["message"] and "medical help" in watch[0]["message"]
    changed = of_type(events, "dose_changed")
    assert "keep the remaining tablets" in changed[0]["message"].lower()


def test_withdrawal_watch_fires_at_the_plans_end_and_is_resolved_by_an_acknowledgement(rig):
    med = med_toml(dose=10, phases=phase("2026-11-05", 0))
    r = rig(config_toml(med))
    r.start(local("2026-11-04T07:00"))
    r.advance(local("2026-11-05T06:00"))
    watch = of_type(r.events, "withdrawal_watch")
    assert [e["time"][:16] for e in watch] == ["2026-11-05T00:00"]
    changed = of_type(r.events, "dose_changed")[-1]
    assert "keep the remaining tablets" in changed["message"].lower()
    events = ack(r, local("2026-11-05T08:00"), watch[0]["id"])
    assert [e["event_type"] for e in events] == ["alert_acknowledged", "alert_resolved"]


def test_no_withdrawal_watch_for_a_confirmed_step_or_an_unnamed_taper(sim):
    confirmed = med_toml(dose=20, phases=phase("2026-11-05", 10, "  prescriber_confirmed = true\n"))
    scen = 'start = "2026-11-03T00:00"\nend = "2026-11-07T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
    events = sim(config_toml(confirmed), scen)
    assert of_type(events, "withdrawal_watch") == []
    # ... but its dose_changed still says to keep the tablets: a warning names the step.
    assert "keep the remaining tablets" in of_type(events, "dose_changed")[0]["message"].lower()
    # 10 -> 5 mg/day, then 0 sixteen days after the first step: a gentle taper that no warning names.
    gentle = med_toml(dose=5, times='["08:00", "20:00"]', phases=phase("2026-11-04", 2.5) + phase("2026-11-20", 0))
    scen2 = 'start = "2026-11-03T00:00"\nend = "2026-11-22T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
    events = sim(config_toml(gentle.replace("strength_mg = 10", "strength_mg = 5")), scen2)
    assert of_type(events, "withdrawal_watch") == []
    end = of_type(events, "dose_changed")[-1]
    assert end["new_daily_mg"] == 0 and "take-back" in end["message"]


# ---------------------------------------------------------------- 4. daily dose of a weekly phase


def test_a_weekday_phase_daily_dose_is_the_weeks_mg_over_seven(sim):
    days = '  [[medication.plan]]\n  start = "2026-11-09"\n  days = ["mon", "wed", "fri"]\n'
    med = med_toml(dose=20, phases=days)
    scen = 'start = "2026-11-08T00:00"\nend = "2026-11-10T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
    events = sim(config_toml(med), scen)
    changed = of_type(events, "dose_changed")
    assert [(e["time"][:16], e["old_daily_mg"], e["new_daily_mg"]) for e in changed] == [("2026-11-09T00:00", 60, 25.7)]
    assert of_type(events, "withdrawal_watch")[0]["new_daily_mg"] == 25.7


# --------------------------------------------------- 5. no intake_reduced for what an episode said


def test_no_intake_reduced_for_doses_an_episode_already_reported(sim):
    scen = (
        'start = "2026-11-02T00:00"\nend = "2026-11-08T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[patient.period]]\nfrom = "2026-11-03T00:00"\nuntil = "2026-11-06T00:00"\ntakes = "none"\n'
    )
    events = sim(config_toml(), scen)
    assert brief(events, "intake_resumed") == [("intake_resumed", "2026-11-06T08:05")]
    assert of_type(events, "intake_reduced") == []


# ---------------------------------------------------------------- 6. a planned pause is not a stop


def test_a_planned_pause_is_not_time_without_the_drug(sim):
    med = med_toml(dose=5, phases=phase("2026-11-04", 0) + phase("2026-11-10", 5))
    scen = (
        'start = "2026-11-01T00:00"\nend = "2026-11-11T06:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[patient.period]]\nfrom = "2026-11-10T00:00"\nuntil = "2026-11-12T00:00"\ntakes = "none"\n'
    )
    events = sim(config_toml(med), scen)
    stops = of_type(events, "intake_stopped")
    # Counted from the restart's first dose (08:00): 08:00 and 14:00 not taken, the second closes 16:00.
    assert [(e["time"][:16], e["hours_since_last_dose"]) for e in stops[:1]] == [("2026-11-10T16:00", 8.0)]
    assert "158" not in stops[0]["message"]


# ------------------------------------------------------------------ 7. corrections near the dose


def test_taken_elsewhere_must_lie_within_six_hours_of_the_dose(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T08:03"))
    with pytest.raises(ActionError, match=r"^at: "):
        r.engine.mark_taken("baclofen/2026-11-02T20:00", local("2026-11-02T08:03"))
    with pytest.raises(ActionError, match=r"^at: "):
        r.engine.mark_taken("baclofen/2026-11-02T20:00", local("2026-11-02T08:03"), at=local("2026-11-02T13:59"))
    events = r.do(
        local("2026-11-02T14:10"),
        lambda e, t: e.mark_taken("baclofen/2026-11-02T20:00", t, at=local("2026-11-02T14:00"), by="Anna"),
    )
    assert [(e["event_type"], e["delay_minutes"], e["by"]) for e in of_type(events, "dose_taken")] == [
        ("dose_taken", -360, "Anna")
    ]


def test_a_missed_dose_needs_an_at_inside_its_span(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T12:30"))
    assert [e["dose_id"] for e in of_type(r.events, "dose_missed")] == ["baclofen/2026-11-02T08:00"]
    with pytest.raises(ActionError, match=r"^at: .*required"):
        r.engine.mark_taken("baclofen/2026-11-02T08:00", local("2026-11-02T12:30"))
    with pytest.raises(ActionError, match=r"^at: "):  # before its window opened (07:00)
        r.engine.mark_taken("baclofen/2026-11-02T08:00", local("2026-11-02T12:30"), at=local("2026-11-02T06:50"))
    r.advance(local("2026-11-02T16:30"))
    with pytest.raises(ActionError, match=r"^at: "):  # after the next dose's window closed (16:00)
        r.engine.mark_taken("baclofen/2026-11-02T08:00", local("2026-11-02T16:30"), at=local("2026-11-02T16:10"))
    events = r.do(
        local("2026-11-02T16:31"),
        lambda e, t: e.mark_taken("baclofen/2026-11-02T08:00", t, at=local("2026-11-02T09:30")),
    )
    assert [(e["delay_minutes"], e["on_time"]) for e in of_type(events, "dose_taken")] == [(90, False)]


# ---------------------------------------------------------------------------------- 8. words

ODD_WORDS = re.compile(r"(?<![\d.])1 (doses|tablets|days|hours)\b|\b0\.0 hours\b")


def test_messages_count_in_good_english(sim):
    # One dose a day and a stop by time: "1 dose in a row", not "1 doses"; a refill of 1 tablet.
    med = med_toml(times='["08:00"]', stock=2, extra="cessation_missed_doses = 9\nrefill_warning_days = 1")
    scen = (
        'start = "2026-11-02T00:00"\nend = "2026-11-05T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[patient.period]]\nfrom = "2026-11-03T00:00"\nuntil = "2026-11-05T00:00"\ntakes = "none"\n'
        '[[action]]\nat = "2026-11-02T12:00"\ndo = "refill"\ntablets = 1\n'
    )
    events = sim(config_toml(med), scen)
    stop = of_type(events, "intake_stopped")[0]
    assert "1 dose in a row" in stop["message"], stop["message"]
    assert "1 tablet of Baclofen added" in of_type(events, "refill")[0]["message"]
    assert [e["message"] for e in events if ODD_WORDS.search(e["message"])] == []


def test_driving_advice_only_for_taper_required_medications(sim):
    vitamin = (
        '[[medication]]\nname = "Vitamin D"\nstrength_mg = 0.025\ntaper_required = false\n'
        '  [[medication.plan]]\n  start = "2026-11-01"\n  times = ["08:00"]\n  dose_mg = 0.025\n'
        '  [[medication.plan]]\n  start = "2026-11-03"\n  dose_mg = 0.05\n'
    )
    scen = 'start = "2026-11-02T00:00"\nend = "2026-11-04T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
    events = sim(config_toml(vitamin), scen)
    changed = of_type(events, "dose_changed")
    assert [e["new_daily_mg"] for e in changed] == [0.05]
    assert "driv" not in changed[0]["message"]
    up = sim(config_toml(med_toml(phases=phase("2026-11-03", 20))), scen)
    assert "driving" in of_type(up, "dose_changed")[0]["message"]


def test_a_phase_starting_on_a_day_without_doses_does_not_say_today(sim):
    # Mon/Wed/Fri from Tue 03 Nov: no dose that day.
    days = '  [[medication.plan]]\n  start = "2026-11-03"\n  days = ["mon", "wed", "fri"]\n'
    scen = 'start = "2026-11-02T00:00"\nend = "2026-11-04T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
    events = sim(config_toml(med_toml(phases=days)), scen)
    message = of_type(events, "dose_changed")[0]["message"]
    assert "changes today" not in message
    assert "from today" in message and "Wed 04 Nov" in message, message


def test_a_refill_comes_before_the_alerts_it_resolves(rig):
    r = rig(config_toml(med_toml(stock=2)))
    r.start(local("2026-11-02T07:00"))
    low = of_type(r.events, "stock_low")
    assert low
    r.advance(local("2026-11-02T07:10"))
    events = r.do(local("2026-11-02T07:10"), lambda e, t: e.refill("Baclofen", 60, t, by="Anna"))
    assert [e["event_type"] for e in events] == ["refill", "alert_resolved"]
    assert events[1]["alert_id"] == low[0]["id"]
    assert all(e["by"] == "Anna" for e in events)


# ---------------------------------------------------------------------------------- 12. who did it


def test_the_patients_inputs_carry_by_patient_and_the_clock_carries_none(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    taken = r.do(local("2026-11-02T08:05"), lambda e, t: e.lid_opened(t))
    help_events = r.do(local("2026-11-02T08:06"), lambda e, t: e.hold(t))
    assert [(e["event_type"], e["by"]) for e in taken + help_events] == [
        ("dose_taken", "patient"),
        ("help_requested", "patient"),
    ]
    r.do(
        local("2026-11-02T12:00"),
        lambda e, t: e.set_away(local("2026-11-02T13:00"), local("2026-11-02T18:00"), t, by="Anna"),
    )
    r.advance(local("2026-11-02T19:00"))
    assert [(e["event_type"], e.get("by")) for e in of_type(r.events, "away_started", "away_ended")] == [
        ("away_started", "Anna"),
        ("away_ended", None),
    ]
    assert all("by" not in e for e in of_type(r.events, "dose_due", "device_started"))

"""Stock, refills, away, caregiver skips and corrections, alerts (SPEC sections 4, 5, 8)."""

from __future__ import annotations

import pytest

from device.errors import ActionError, Conflict, NotFound

from .conftest import brief, config_toml, local, med_toml, of_type


def test_stock_low_then_out_then_refill(sim):
    # 12 tablets at 3 a day: 4 days. Warning at 2 days.
    med = med_toml(stock=12, extra="refill_warning_days = 2")
    scen = (
        'start = "2026-11-02T00:00"\nend = "2026-11-07T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[action]]\nat = "2026-11-06T09:00"\ndo = "refill"\ntablets = 30\n'
    )
    events = sim(config_toml(med), scen)
    low = of_type(events, "stock_low")
    out = of_type(events, "stock_out")
    # After the Tue 20:05 dose, 6 left: the first uncovered dose is Fri 08:00, 2.5 days away -> not yet.
    # After Wed 08:05, 5 left: uncovered Fri 08:00 is 1.9 days away -> stock_low.
    assert [(e["time"][:16], e["stock"], e["days_of_supply"]) for e in low] == [("2026-11-04T08:05", 5, 1.9)]
    # After Thu 20:05 nothing is left for Fri 08:00.
    assert [(e["time"][:16], e["stock"], e["priority"]) for e in out] == [("2026-11-05T20:05", 0, "high")]
    # Fri: nothing in the dispenser, the patient opens the lid: the dose still counts as taken, stock stays 0.
    refill = of_type(events, "refill")
    assert [(e["time"][:16], e["stock"]) for e in refill] == [("2026-11-06T09:00", 30)]
    resolved = {e["alert_id"] for e in of_type(events, "alert_resolved")}
    assert {low[0]["id"], out[0]["id"]} <= resolved
    assert all(e.get("stock", 0) >= 0 for e in events)


def test_days_of_supply_follows_a_titration(rig):
    phases = '  [[medication.plan]]\n  start = "2026-11-04"\n  dose_mg = 20\n'
    r = rig(config_toml(med_toml(stock=12, phases=phases)))
    r.start(local("2026-11-02T07:00"))
    # 3 tablets on Mon and Tue (6), then 2 a dose from Wed: Wed uses the other 6; Thu 08:00 is
    # the first dose not covered, 3 days and 1 hour away. At 10 mg throughout it would be 4 days.
    assert r.engine.days_of_supply(0, local("2026-11-02T07:00")) == 3.0


def test_days_of_supply_null_when_stock_covers_the_rest_of_the_plan(rig):
    phases = '  [[medication.plan]]\n  start = "2026-11-04"\n  dose_mg = 0\n'
    r = rig(config_toml(med_toml(stock=50, phases=phases)))
    r.start(local("2026-11-02T07:00"))
    assert r.engine.days_of_supply(0, local("2026-11-02T07:00")) is None


def test_refill_errors_name_the_field(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    with pytest.raises(NotFound, match="medication"):
        r.engine.refill("Aspirin", 10, local("2026-11-02T07:01"))
    with pytest.raises(ActionError, match="tablets"):
        r.engine.refill("Baclofen", 0, local("2026-11-02T07:01"))
    untracked = rig(config_toml(med_toml().replace("stock = 90\n", "")))
    untracked.start(local("2026-11-02T07:00"))
    with pytest.raises(ActionError, match="not tracked"):
        untracked.engine.refill("Baclofen", 10, local("2026-11-02T07:01"))


def test_away_ends_doses_without_alerts_and_restarts_detection(sim):
    scen = (
        'start = "2026-11-02T00:00"\nend = "2026-11-07T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        '[[patient.period]]\nfrom = "2026-11-03T00:00"\nuntil = "2026-11-05T12:00"\ntakes = "none"\n'
        '[[action]]\nat = "2026-11-02T21:00"\ndo = "away"\nuntil = "2026-11-05T12:00"\n'
    )
    events = sim(config_toml(), scen)
    assert brief(events, "away_started", "away_ended") == [
        ("away_started", "2026-11-02T21:00"),
        ("away_ended", "2026-11-05T12:00"),
    ]
    between = [e for e in events if "2026-11-02T21:00:00+00:00" < e["time"] < "2026-11-05T12:00:00+00:00"]
    assert [e["event_type"] for e in between] == []
    assert of_type(events, "intake_stopped", "intake_reduced") == []
    assert brief(events, "dose_due")[-5:][0] == ("dose_due", "2026-11-05T14:00")


def test_away_doses_are_in_state_away(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.do(local("2026-11-02T07:10"), lambda e, t: e.set_away(t, local("2026-11-03T12:00"), t))
    r.advance(local("2026-11-03T15:00"))
    states = {
        d.dose_id: str(d.state)
        for d in r.engine.doses_between(local("2026-11-02T00:00").date(), local("2026-11-03T00:00").date())
    }
    assert states["baclofen/2026-11-02T08:00"] == "away"
    assert states["baclofen/2026-11-03T08:00"] == "away"
    assert states["baclofen/2026-11-03T14:00"] == "waiting"
    assert of_type(r.events, "dose_due") == [of_type(r.events, "dose_due")[0]]
    with pytest.raises(Conflict):
        r.engine.skip("baclofen/2026-11-02T14:00", "x", local("2026-11-03T15:00"))


def test_skip_and_taken_elsewhere(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    events = r.do(local("2026-11-02T07:05"), lambda e, t: e.skip("baclofen/2026-11-02T14:00", "fasting for a test", t))
    assert [(e["event_type"], e["reason"], e["priority"]) for e in events] == [
        ("dose_skipped", "fasting for a test", "info")
    ]
    with pytest.raises(Conflict):
        r.engine.skip("baclofen/2026-11-02T14:00", "again", local("2026-11-02T07:06"))
    r.advance(local("2026-11-02T10:00"))
    missed = of_type(r.events, "dose_missed")[0]
    events = r.do(
        local("2026-11-02T11:00"),
        lambda e, t: e.mark_taken("baclofen/2026-11-02T08:00", t, at=local("2026-11-02T08:30")),
    )
    taken = of_type(events, "dose_taken")[0]
    assert (taken["source"], taken["delay_minutes"], taken["on_time"]) == ("caregiver", 30, True)
    assert r.engine.stock(0) == 90  # not from the dispenser
    assert missed["id"] in [e["alert_id"] for e in of_type(events, "alert_resolved")]
    with pytest.raises(Conflict):
        r.engine.mark_taken("baclofen/2026-11-02T08:00", local("2026-11-02T11:01"))
    with pytest.raises(ActionError, match="future"):
        r.engine.mark_taken("baclofen/2026-11-02T20:00", local("2026-11-02T11:01"), at=local("2026-11-02T12:00"))
    r.do(
        local("2026-11-02T14:02"),
        lambda e, t: e.mark_taken("baclofen/2026-11-02T20:00", t, from_dispenser=True),
    )
    assert r.engine.stock(0) == 89
    with pytest.raises(NotFound):
        r.engine.skip("baclofen/2026-11-02T09:00", "no such slot", local("2026-11-02T14:03"))
    with pytest.raises(NotFound):
        r.engine.skip("aspirin/2026-11-02T08:00", "no such medication", local("2026-11-02T14:03"))


def test_taken_elsewhere_closes_a_stop_episode(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T16:00"))
    assert len(of_type(r.events, "intake_stopped")) == 1
    r.do(
        local("2026-11-02T16:30"),
        lambda e, t: e.mark_taken("baclofen/2026-11-02T14:00", t, at=local("2026-11-02T14:10")),
    )
    resumed = of_type(r.events, "intake_resumed")
    assert len(resumed) == 1 and resumed[0]["hours_without"] == 7.2


def test_acknowledge_is_idempotent_and_resolves_conditionless_alerts(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T09:00"))
    overdue = of_type(r.events, "dose_overdue")[0]
    alerts, events = r.engine.acknowledge(overdue["id"], local("2026-11-02T09:01"))
    assert [e.event_type for e in events] == ["alert_acknowledged"]
    assert alerts[0].acknowledged
    alerts, events = r.engine.acknowledge(overdue["id"], local("2026-11-02T09:02"))
    assert events == [] and alerts[0].acknowledged
    r.advance(local("2026-11-02T10:00"))
    missed = of_type(r.events, "dose_missed")[0]
    assert overdue["id"] in [e["alert_id"] for e in of_type(r.events, "alert_resolved")]
    r.do(local("2026-11-02T10:05"), lambda e, t: e.acknowledge("all", t))
    assert missed["id"] in [e["alert_id"] for e in of_type(r.events, "alert_resolved")]
    assert r.engine.active_alerts() == []
    alerts, events = r.engine.acknowledge(missed["id"], local("2026-11-02T10:06"))
    assert events == [] and alerts[0].resolved_at is not None
    with pytest.raises(NotFound):
        r.engine.acknowledge("no-such-alert", local("2026-11-02T10:07"))


def test_low_stock_is_reported_at_the_first_start(rig):
    r = rig(config_toml(med_toml(stock=6)))  # two days at three a day, warning at 7 days
    events = r.start(local("2026-11-02T07:00"))
    assert [(e["event_type"], e["stock"], e["days_of_supply"]) for e in of_type(events, "stock_low")] == [
        ("stock_low", 6, 2.0)
    ]
    again = r.restart(local("2026-11-02T07:30"))
    assert of_type(again, "stock_low") == []  # once per crossing, across restarts too


def test_cancelled_away_gives_the_doses_back(rig):
    # Found in review: doses marked away at their window's opening stayed away after a cancellation.
    r = rig(config_toml())
    r.start(local("2026-11-02T06:00"))
    r.do(local("2026-11-02T06:00"), lambda e, t: e.set_away(local("2026-11-02T08:00"), local("2026-11-02T12:00"), t))
    r.advance(local("2026-11-02T07:15"))  # the 08:00 window is open: that dose is away for now
    r.do(local("2026-11-02T07:30"), lambda e, t: e.end_away(t))  # the trip is cancelled
    r.advance(local("2026-11-02T08:00"))
    r.do(local("2026-11-02T08:05"), lambda e, t: e.lid_opened(t))
    assert [e["dose_id"] for e in of_type(r.events, "dose_taken")] == ["baclofen/2026-11-02T08:00"]
    assert of_type(r.events, "extra_access") == []


def test_back_early_gives_the_doses_after_the_return_back(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T05:00"))
    r.do(local("2026-11-02T05:00"), lambda e, t: e.set_away(local("2026-11-02T06:00"), local("2026-11-02T18:00"), t))
    r.advance(local("2026-11-02T07:20"))
    r.do(local("2026-11-02T07:30"), lambda e, t: e.end_away(t))  # home early
    r.advance(local("2026-11-02T10:00"))
    assert [e["event_type"] for e in r.events if e.get("dose_id") == "baclofen/2026-11-02T08:00"] == [
        "dose_due",
        "dose_overdue",
        "dose_missed",
    ]

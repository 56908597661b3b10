"""Stop, reduction, reminders, acknowledgement and resumption (SPEC section 5), to the minute."""

from __future__ import annotations

from .conftest import brief, config_toml, local, med_toml, of_type

TWO_WEEKS = 'start = "2026-11-02T00:00"\nend = "2026-11-09T00:00"\n'


def stop_period(start: str, until: str) -> str:
    return f'[[patient.period]]\nfrom = "{start}"\nuntil = "{until}"\ntakes = "none"\n'


def test_stop_by_missed_doses_in_a_row(sim):
    scen = (
        TWO_WEEKS
        + '[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        + stop_period("2026-11-03T12:00", "2026-11-09T00:00")
    )
    events = sim(config_toml(), scen)
    first = of_type(events, "intake_stopped")[0]
    # 14:00 and 20:00 not taken: the second window closes at 22:00.
    assert first["time"] == "2026-11-03T22:00:00+00:00"
    assert first["priority"] == "high"
    assert first["missed_in_a_row"] == 2
    assert first["last_taken_at"] == "2026-11-03T08:05:00+00:00"
    assert first["hours_since_last_dose"] == 13.9
    assert first["reminder"] is False
    assert first["medication"] == "Baclofen"
    assert "abrupt" in first["message"] and "medical help" in first["message"]
    # 4 of 6 doses in the 48 h before 22:00 were taken (< 0.7), but stop detection comes first.
    assert of_type(events, "intake_reduced") == []


def test_stop_by_time_since_last_intake(sim):
    med = med_toml(extra="cessation_missed_doses = 9")
    scen = (
        TWO_WEEKS
        + '[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        + stop_period("2026-11-03T12:00", "2026-11-09T00:00")
    )
    events = sim(config_toml(med), scen)
    first = of_type(events, "intake_stopped")[0]
    # H = max(24 h, longest gap 12 h + 2 h) = 24 h after the 08:05 intake.
    assert first["time"] == "2026-11-04T08:05:00+00:00"
    assert first["hours_since_last_dose"] == 24
    assert first["missed_in_a_row"] == 2  # the 08:00 window is still open


def test_stop_threshold_follows_a_weekly_plan(sim):
    med = med_toml(times='["09:00"]', extra="cessation_missed_doses = 9").replace(
        "dose_mg = 10\n", 'dose_mg = 10\n  days = ["mon"]\n', 1
    )
    scen = (
        'start = "2026-11-02T00:00"\nend = "2026-11-30T00:00"\n[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        + stop_period("2026-11-08T00:00", "2026-11-30T00:00")
    )
    events = sim(config_toml(med), scen)
    stops = [e for e in of_type(events, "intake_stopped") if not e["reminder"]]
    # Last intake Mon 2 Nov 09:05; H = 7 days + 2 h = 170 h -> Mon 9 Nov 11:05.
    assert [e["time"] for e in stops] == ["2026-11-09T11:05:00+00:00"]
    assert of_type(events, "intake_reduced") == []


def test_reminders_every_six_hours_and_quiet_after_ack(rig):
    r = rig(config_toml(med_toml(extra="cessation_missed_doses = 2")))
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T16:00"))
    stops = of_type(r.events, "intake_stopped")
    assert [(e["time"][11:16], e["reminder"]) for e in stops] == [("16:00", False)]
    r.advance(local("2026-11-03T04:00"))
    stops = of_type(r.events, "intake_stopped")
    assert [(e["time"][:16], e["reminder"]) for e in stops] == [
        ("2026-11-02T16:00", False),
        ("2026-11-02T22:00", True),
        ("2026-11-03T04:00", True),
    ]
    alert_id = stops[0]["id"]
    # `all` never acknowledges a high alert.
    r.do(local("2026-11-03T05:00"), lambda e, t: e.acknowledge("all", t))
    assert not any(a.acknowledged for a in r.engine.active_alerts() if a.id == alert_id)
    r.do(local("2026-11-03T05:00"), lambda e, t: e.acknowledge(alert_id, t))
    assert of_type(r.events, "alert_acknowledged")[-1]["alert_id"] == alert_id
    r.advance(local("2026-11-03T19:00"))
    later = [e["time"][:16] for e in of_type(r.events, "intake_stopped")][3:]
    # Quiet for 12 h after the 05:00 acknowledgement, then every 6 h again.
    assert later == ["2026-11-03T17:00"]
    alert = next(a for a in r.engine.active_alerts() if a.id == alert_id)
    assert alert.acknowledged is False


def test_intake_resumed_closes_the_episode(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.do(local("2026-11-02T08:10"), lambda e, t: e.lid_opened(t))
    r.do(local("2026-11-02T08:11"), lambda e, t: e.lid_closed(t))
    r.advance(local("2026-11-02T22:00"))
    stop = of_type(r.events, "intake_stopped")[0]
    r.do(local("2026-11-03T07:30"), lambda e, t: e.lid_opened(t))
    resumed = of_type(r.events, "intake_resumed")
    assert [(e["time"][:16], e["hours_without"], e["priority"]) for e in resumed] == [
        ("2026-11-03T07:30", 23.3, "medium")
    ]
    assert "never double up" in resumed[0]["message"]
    assert stop["id"] in [e["alert_id"] for e in of_type(r.events, "alert_resolved")]
    assert all(a.id != stop["id"] for a in r.engine.active_alerts())


def test_no_second_stop_while_the_episode_is_open(sim):
    scen = TWO_WEEKS + '[patient]\ntakes = "all"\n' + stop_period("2026-11-03T12:00", "2026-11-09T00:00")
    events = sim(config_toml(), scen)
    assert len([e for e in of_type(events, "intake_stopped") if not e["reminder"]]) == 1


def test_reduction_from_three_doses_to_two(sim):
    scen = (
        TWO_WEEKS
        + '[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        + '[[patient.period]]\nfrom = "2026-11-03T00:00"\nuntil = "2026-11-09T00:00"\n'
        + 'takes = "slots"\nslots = ["08:00", "20:00"]\n'
    )
    events = sim(config_toml(), scen)
    reduced = of_type(events, "intake_reduced")
    # 48 h up to Wed 16:00 hold 6 closed doses, 4 taken: 40 of 60 mg < 0.7.
    assert [(e["time"][:16], e["taken_mg"], e["planned_mg"]) for e in reduced] == [
        ("2026-11-04T16:00", 40, 60),
        ("2026-11-06T16:00", 40, 60),
        ("2026-11-08T16:00", 40, 60),
    ]
    assert of_type(events, "intake_stopped") == []


def test_skipped_doses_count_towards_stop(sim):
    scen = (
        TWO_WEEKS
        + '[patient]\ntakes = "all"\ndelay_minutes = 5\n'
        + "".join(
            f'[[action]]\nat = "2026-11-03T09:00"\ndo = "skip"\ndose = "baclofen/2026-11-03T{slot}"\n'
            'reason = "clinic"\n'
            for slot in ("14:00", "20:00")
        )
    )
    events = sim(config_toml(), scen)
    skipped = of_type(events, "dose_skipped")
    assert [(e["dose_id"], e["reason"]) for e in skipped] == [
        ("baclofen/2026-11-03T14:00", "clinic"),
        ("baclofen/2026-11-03T20:00", "clinic"),
    ]
    assert brief(events, "dose_overdue", "dose_missed") == []
    assert [e["time"][:16] for e in of_type(events, "intake_stopped")][:1] == ["2026-11-03T22:00"]


def test_nothing_fires_after_the_plan_tapers_to_zero(sim):
    phases = (
        '  [[medication.plan]]\n  start = "2026-11-04"\n  dose_mg = 5\n'
        '  [[medication.plan]]\n  start = "2026-11-20"\n  dose_mg = 0\n'
    )
    scen = 'start = "2026-11-02T00:00"\nend = "2026-12-10T00:00"\n[patient]\ntakes = "all"\n'
    events = sim(config_toml(med_toml(phases=phases)), scen)
    changed = of_type(events, "dose_changed")
    assert [(e["time"][:10], e["old_daily_mg"], e["new_daily_mg"]) for e in changed] == [
        ("2026-11-04", 30, 15),
        ("2026-11-20", 15, 0),
    ]
    assert "never flush" in changed[-1]["message"] or "never flushed" in changed[-1]["message"]
    end = "2026-11-20T00:00:00+00:00"
    after = [e for e in events if e["time"] > end]
    assert after == []


def test_dose_changed_messages_up_and_down(sim):
    phases = '  [[medication.plan]]\n  start = "2026-11-04"\n  dose_mg = 15\n'
    scen = 'start = "2026-11-02T00:00"\nend = "2026-11-05T00:00"\n[patient]\ntakes = "all"\n'
    events = sim(config_toml(med_toml(phases=phases)), scen)
    up = of_type(events, "dose_changed")
    assert [(e["time"], e["priority"]) for e in up] == [("2026-11-04T00:00:00+00:00", "info")]
    assert "driving" in up[0]["message"]

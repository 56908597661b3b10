"""First start, downtime, restarts mid-window, and daylight saving (SPEC sections 4, 5, 13)."""

from __future__ import annotations

import pytest

from .conftest import brief, config_toml, local, med_toml, of_type


def day(start: str, end: str, patient: str = 'takes = "all"\ndelay_minutes = 5', actions: str = "") -> str:
    return f'start = "{start}"\nend = "{end}"\n[patient]\n{patient}\n{actions}'


def power_cut(at: str, until: str) -> str:
    return f'[[action]]\nat = "{at}"\ndo = "power_off"\nuntil = "{until}"\n'


def test_first_start_ignores_history_and_prompts_an_open_window(sim):
    events = sim(config_toml(), day("2026-11-02T14:30", "2026-11-02T23:00", 'takes = "none"'))
    assert brief(events, "device_started", "dose_due", "dose_missed")[:3] == [
        ("device_started", "2026-11-02T14:30"),
        ("dose_due", "2026-11-02T14:30"),
        ("dose_missed", "2026-11-02T16:00"),
    ]
    assert all(e.get("dose_id") != "baclofen/2026-11-02T08:00" for e in events)


def test_downtime_misses_are_reported_at_start(sim):
    events = sim(
        config_toml(),
        day("2026-11-02T00:00", "2026-11-03T00:00", actions=power_cut("2026-11-02T07:30", "2026-11-02T11:00")),
    )
    missed = of_type(events, "dose_missed")
    assert [(e["time"][:16], e["dose_id"], e.get("during_downtime")) for e in missed] == [
        ("2026-11-02T11:00", "baclofen/2026-11-02T08:00", True)
    ]
    assert brief(events, "device_started") == [
        ("device_started", "2026-11-02T00:00"),
        ("device_started", "2026-11-02T11:00"),
    ]
    assert not any(e["event_type"] == "dose_due" and e["dose_id"].endswith("08:00") for e in events)
    assert not any(e["event_type"] == "device_stopped" for e in events)


def test_restart_inside_an_open_window_neither_repeats_nor_skips(sim):
    events = sim(
        config_toml(),
        day(
            "2026-11-02T00:00",
            "2026-11-03T00:00",
            'takes = "all"\ndelay_minutes = 40',
            power_cut("2026-11-02T08:20", "2026-11-02T08:30"),
        ),
    )
    assert brief(events, "dose_due", "dose_taken", "dose_overdue", "dose_missed")[:2] == [
        ("dose_due", "2026-11-02T08:00"),
        ("dose_taken", "2026-11-02T08:40"),
    ]
    assert len(of_type(events, "dose_due")) == 3


def test_restart_after_due_before_overdue_then_overdue_once(sim):
    events = sim(
        config_toml(),
        day(
            "2026-11-02T00:00",
            "2026-11-03T00:00",
            'takes = "slots"\nslots = ["14:00", "20:00"]',
            power_cut("2026-11-02T08:10", "2026-11-02T09:30"),
        ),
    )
    assert brief(events, "dose_due", "dose_overdue", "dose_missed")[:3] == [
        ("dose_due", "2026-11-02T08:00"),
        ("dose_overdue", "2026-11-02T09:30"),
        ("dose_missed", "2026-11-02T10:00"),
    ]


def test_long_downtime_counts_for_stop_detection(sim):
    events = sim(
        config_toml(),
        day("2026-11-02T00:00", "2026-11-04T00:00", actions=power_cut("2026-11-02T09:00", "2026-11-03T12:00")),
    )
    missed = of_type(events, "dose_missed")
    assert [e["dose_id"][-16:] for e in missed] == [
        "2026-11-02T14:00",
        "2026-11-02T20:00",
        "2026-11-03T08:00",
    ]
    assert all(e["during_downtime"] for e in missed)
    stops = of_type(events, "intake_stopped")
    # Rule (a) held at the 20:00 window close inside the downtime; it is recorded at the restart.
    assert [(e["time"][:16], e["missed_in_a_row"]) for e in stops][:1] == [("2026-11-03T12:00", 2)]


def test_seq_continues_across_restarts(sim):
    events = sim(
        config_toml(),
        day(
            "2026-11-02T00:00",
            "2026-11-05T00:00",
            actions=power_cut("2026-11-02T09:00", "2026-11-02T12:00")
            + power_cut("2026-11-03T19:00", "2026-11-04T09:00"),
        ),
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["id"] for e in events}) == len(events)
    times = [e["time"] for e in events]
    assert times == sorted(times)


def test_restart_rebuilds_from_the_database(rig):
    r = rig(config_toml())
    r.start(local("2026-11-02T07:00"))
    r.advance(local("2026-11-02T09:30"))
    overdue = of_type(r.events, "dose_overdue")[0]
    r.restart(local("2026-11-02T09:40"))
    assert [a.id for a in r.engine.active_alerts()] == [overdue["id"]]
    r.do(local("2026-11-02T09:45"), lambda e, t: e.lid_opened(t))
    assert overdue["id"] in [e["alert_id"] for e in of_type(r.events, "alert_resolved")]
    assert [e["seq"] for e in r.events] == list(range(1, len(r.events) + 1))


DST = [
    # zone, slot, local date, expected UTC instant: spring gap moves forward, autumn fold takes the first.
    pytest.param("Europe/London", "01:30", "2027-03-28", "2027-03-28T01:30:00+00:00", id="london-spring-gap"),
    pytest.param("Europe/London", "01:30", "2026-10-25", "2026-10-25T00:30:00+00:00", id="london-autumn-fold"),
    pytest.param("America/New_York", "02:30", "2027-03-14", "2027-03-14T07:30:00+00:00", id="new-york-spring-gap"),
    pytest.param("America/New_York", "01:30", "2026-11-01", "2026-11-01T05:30:00+00:00", id="new-york-autumn-fold"),
]


@pytest.mark.parametrize(("zone", "slot", "date", "instant"), DST)
def test_dst_one_dose_per_slot(sim, zone, slot, date, instant):
    med = med_toml(times=f'["{slot}", "13:30"]').replace('start = "2026-11-01"', 'start = "2026-10-01"')
    scen = day(f"{date}T00:00".replace(date, _before(date)), f"{_after(date)}T00:00")
    events = sim(config_toml(med, timezone=zone), scen)
    due = [e for e in of_type(events, "dose_due") if e["dose_id"] == f"baclofen/{date}T{slot}"]
    assert [e["scheduled_for"] for e in due] == [instant]
    assert due[0]["time"] == instant
    taken = [e for e in of_type(events, "dose_taken") if e["dose_id"] == due[0]["dose_id"]]
    assert len(taken) == 1 and taken[0]["delay_minutes"] == 5
    ids = [e["dose_id"] for e in of_type(events, "dose_due")]
    assert len(ids) == len(set(ids)) == 6  # three days, two slots, nothing twice
    assert of_type(events, "dose_missed") == []


def _before(date: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()


def _after(date: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(date) + dt.timedelta(days=2)).isoformat()


def test_windows_are_elapsed_time_across_the_spring_gap(sim):
    # 00:30 slot on the spring-forward night: missed 120 elapsed minutes later (03:30 BST = 02:30 UTC).
    med = med_toml(times='["00:30", "12:30"]').replace('start = "2026-11-01"', 'start = "2027-03-01"')
    events = sim(config_toml(med), day("2027-03-28T00:00", "2027-03-28T12:00", 'takes = "none"'))
    missed = of_type(events, "dose_missed")
    assert [(e["dose_id"], e["time"]) for e in missed] == [("baclofen/2027-03-28T00:30", "2027-03-28T02:30:00+00:00")]


def test_first_start_at_a_phase_midnight_reports_the_change(sim):
    events = sim(config_toml(), day("2026-11-01T00:00", "2026-11-01T12:00"))
    changed = of_type(events, "dose_changed")
    assert [(e["time"], e["old_daily_mg"], e["new_daily_mg"]) for e in changed] == [
        ("2026-11-01T00:00:00+00:00", 0, 30)
    ]


def test_simulated_hold_is_help_after_help_hold_seconds(sim):
    actions = '[[action]]\nat = "2026-11-02T15:00"\ndo = "hold"\n'
    events = sim(config_toml(), day("2026-11-02T00:00", "2026-11-03T00:00", actions=actions))
    assert [e["time"] for e in of_type(events, "help_requested")] == ["2026-11-02T15:00:03+00:00"]

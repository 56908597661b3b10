"""The life of a dose (SPEC section 4), each rule with the minute its event must appear."""

from __future__ import annotations

import pytest

from .conftest import brief, config_toml, med_toml, of_type

DAY1 = """
start = "2026-11-02T00:00"
end = "2026-11-03T00:00"
"""


def scenario(patient: str = "", actions: str = "", span: str = DAY1) -> str:
    return span + "[patient]\n" + patient + "\n" + actions


CASES = [
    pytest.param(
        'takes = "all"\ndelay_minutes = 5',
        "",
        [
            ("dose_due", "2026-11-02T08:00"),
            ("dose_taken", "2026-11-02T08:05"),
            ("dose_due", "2026-11-02T14:00"),
            ("dose_taken", "2026-11-02T14:05"),
            ("dose_due", "2026-11-02T20:00"),
            ("dose_taken", "2026-11-02T20:05"),
        ],
        id="taken-on-time-by-lid",
    ),
    pytest.param(
        'takes = "slots"\nslots = ["14:00", "20:00"]',
        "",
        [
            ("dose_due", "2026-11-02T08:00"),
            ("dose_overdue", "2026-11-02T09:00"),
            ("dose_missed", "2026-11-02T10:00"),
            ("dose_due", "2026-11-02T14:00"),
            ("dose_taken", "2026-11-02T14:05"),
            ("dose_due", "2026-11-02T20:00"),
            ("dose_taken", "2026-11-02T20:05"),
        ],
        id="overdue-then-missed",
    ),
    pytest.param(
        'takes = "all"\ndelay_minutes = -30',
        "",
        [
            ("dose_taken", "2026-11-02T07:30"),
            ("dose_taken", "2026-11-02T13:30"),
            ("dose_taken", "2026-11-02T19:30"),
        ],
        id="early-intake-in-window-has-no-due",
    ),
    pytest.param(
        'takes = "all"\ndelay_minutes = 75',
        "",
        [
            ("dose_due", "2026-11-02T08:00"),
            ("dose_overdue", "2026-11-02T09:00"),
            ("dose_taken", "2026-11-02T09:15"),
            ("dose_due", "2026-11-02T14:00"),
            ("dose_overdue", "2026-11-02T15:00"),
            ("dose_taken", "2026-11-02T15:15"),
            ("dose_due", "2026-11-02T20:00"),
            ("dose_overdue", "2026-11-02T21:00"),
            ("dose_taken", "2026-11-02T21:15"),
        ],
        id="late-intake-after-overdue",
    ),
    pytest.param(
        'takes = "all"\ndelay_minutes = -90',
        "",
        [
            ("extra_access", "2026-11-02T06:30"),
            ("dose_due", "2026-11-02T08:00"),
            ("dose_overdue", "2026-11-02T09:00"),
            ("dose_missed", "2026-11-02T10:00"),
            ("extra_access", "2026-11-02T12:30"),
            ("dose_due", "2026-11-02T14:00"),
            ("dose_overdue", "2026-11-02T15:00"),
            ("dose_missed", "2026-11-02T16:00"),
            ("intake_stopped", "2026-11-02T16:00"),
            ("extra_access", "2026-11-02T18:30"),
            ("dose_due", "2026-11-02T20:00"),
            ("dose_overdue", "2026-11-02T21:00"),
            ("dose_missed", "2026-11-02T22:00"),
            ("intake_stopped", "2026-11-02T22:00"),
        ],
        id="lid-before-the-window-is-extra-access",
    ),
]


@pytest.mark.parametrize(("patient", "actions", "expected"), CASES)
def test_dose_rule_table(sim, patient, actions, expected):
    events = sim(config_toml(), scenario(patient, actions))
    kinds = {k for k, _ in expected} | {
        "dose_due",
        "dose_taken",
        "dose_overdue",
        "dose_missed",
        "extra_access",
    }
    assert brief(events, *kinds) == expected


def test_dose_taken_fields(sim):
    events = sim(config_toml(), scenario('takes = "all"\ndelay_minutes = 75'))
    taken = of_type(events, "dose_taken")[0]
    assert taken["dose_id"] == "baclofen/2026-11-02T08:00"
    assert taken["scheduled_for"] == "2026-11-02T08:00:00+00:00"
    assert taken["delay_minutes"] == 75
    assert taken["on_time"] is False
    assert taken["source"] == "lid"
    assert taken["dose_mg"] == 10 and taken["tablets"] == 1
    early = sim(config_toml(), scenario('takes = "all"\ndelay_minutes = -30'))
    first = of_type(early, "dose_taken")[0]
    assert first["delay_minutes"] == -30 and first["on_time"] is True


def test_button_is_intake_only_while_due(sim):
    early = sim(config_toml(), scenario('takes = "all"\ndelay_minutes = -10\nvia = "button"'))
    assert of_type(early, "dose_taken") == []
    assert len(of_type(early, "dose_missed")) == 3
    due = sim(config_toml(), scenario('takes = "all"\ndelay_minutes = 1\nvia = "button"'))
    assert [e["source"] for e in of_type(due, "dose_taken")] == ["button"] * 3
    assert of_type(due, "extra_access") == []


def test_button_never_causes_extra_access(sim):
    actions = '[[action]]\nat = "2026-11-02T11:00"\ndo = "press"\n'
    events = sim(config_toml(), scenario('takes = "all"', actions))
    assert of_type(events, "extra_access") == []


def test_lid_opened_again_within_30_minutes_is_not_extra_access(sim):
    actions = (
        '[[action]]\nat = "2026-11-02T08:20"\ndo = "lid_open"\n'
        '[[action]]\nat = "2026-11-02T08:21"\ndo = "lid_close"\n'
        '[[action]]\nat = "2026-11-02T08:40"\ndo = "lid_open"\n'
        '[[action]]\nat = "2026-11-02T08:41"\ndo = "lid_close"\n'
    )
    events = sim(config_toml(), scenario('takes = "all"\ndelay_minutes = 5', actions))
    assert brief(events, "extra_access") == [("extra_access", "2026-11-02T08:40")]


def test_one_lid_opening_serves_every_medication_waiting(sim):
    second = (
        med_toml(extra="")
        .replace('"Baclofen"', '"Vitamin D"')
        .replace("taper_required = true", "taper_required = false")
    )
    events = sim(config_toml(med_toml() + second), scenario('takes = "all"\ndelay_minutes = 3'))
    taken = of_type(events, "dose_taken")
    assert len(taken) == 6
    assert {e["medication"] for e in taken[:2]} == {"Baclofen", "Vitamin D"}
    assert taken[0]["time"] == taken[1]["time"] == "2026-11-02T08:03:00+00:00"


def test_stock_drops_by_the_dose_tablets(rig):
    from .conftest import local

    r = rig(config_toml(med_toml(stock=10, dose=15)))
    r.start(local("2026-11-02T07:00"))
    r.do(local("2026-11-02T08:01"), lambda e, t: e.lid_opened(t))
    assert r.engine.stock(0) == 8.5


def test_lid_left_open_ten_minutes_then_closed(sim):
    actions = (
        '[[action]]\nat = "2026-11-02T11:00"\ndo = "lid_open"\n[[action]]\nat = "2026-11-02T11:30"\ndo = "lid_close"\n'
    )
    events = sim(config_toml(), scenario('takes = "all"\ndelay_minutes = 5', actions))
    left = of_type(events, "lid_left_open")
    assert [(e["time"], e["priority"]) for e in left] == [("2026-11-02T11:10:00+00:00", "low")]
    resolved = of_type(events, "alert_resolved")
    assert [(e["time"], e["alert_id"]) for e in resolved if e["alert_id"] == left[0]["id"]] == [
        ("2026-11-02T11:30:00+00:00", left[0]["id"])
    ]


def test_lid_left_open_becomes_medium_when_a_dose_comes_due(sim):
    actions = (
        '[[action]]\nat = "2026-11-02T12:30"\ndo = "lid_open"\n'
        '[[action]]\nat = "2026-11-02T14:20"\ndo = "press"\n'
        '[[action]]\nat = "2026-11-02T14:25"\ndo = "lid_close"\n'
    )
    events = sim(config_toml(), scenario('takes = "slots"\nslots = ["08:00"]', actions))
    left = of_type(events, "lid_left_open")
    assert [(e["time"][11:16], e["priority"]) for e in left] == [("12:40", "low"), ("14:00", "medium")]
    taken = of_type(events, "dose_taken")
    assert [(e["time"][11:16], e["source"]) for e in taken][-1] == ("14:20", "button")


def test_refill_mode_suppresses_intake_and_extra_access(sim):
    actions = (
        '[[action]]\nat = "2026-11-02T07:50"\ndo = "refill_mode"\n'
        '[[action]]\nat = "2026-11-02T07:55"\ndo = "lid_open"\n'
        '[[action]]\nat = "2026-11-02T07:58"\ndo = "lid_close"\n'
        '[[action]]\nat = "2026-11-02T11:00"\ndo = "refill_mode"\n'
        '[[action]]\nat = "2026-11-02T11:05"\ndo = "lid_open"\n'
        '[[action]]\nat = "2026-11-02T11:06"\ndo = "lid_close"\n'
    )
    events = sim(config_toml(), scenario('takes = "slots"\nslots = ["14:00", "20:00"]', actions))
    assert of_type(events, "extra_access") == []
    assert brief(events, "refill_mode") == [
        ("refill_mode", "2026-11-02T07:50"),
        ("refill_mode", "2026-11-02T11:00"),
    ]
    assert brief(events, "dose_missed") == [("dose_missed", "2026-11-02T10:00")]


def test_help_requested_on_hold(sim):
    actions = '[[action]]\nat = "2026-11-02T12:00"\ndo = "hold"\n'
    events = sim(config_toml(), scenario('takes = "all"', actions))
    helps = of_type(events, "help_requested")
    assert [(e["time"], e["priority"]) for e in helps] == [("2026-11-02T12:00:03+00:00", "high")]  # after the hold

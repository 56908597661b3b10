"""Plan warnings for taper_required medications: each rule fires, prescriber_confirmed silences it."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.check import format_check
from device.engine.model import Config, Medication, Phase
from device.engine.planwarn import StepKind, plan_steps, plan_warnings

DAY0 = dt.date(2026, 11, 1)

# A step is (day, daily mg) or (day, daily mg, prescriber_confirmed); one slot a day, so dose = daily.
Step = tuple[int, float] | tuple[int, float, bool]


def medication(*steps: Step, taper_required: bool = True, index: int = 0) -> Medication:
    phases = tuple(
        Phase(
            start=DAY0 + dt.timedelta(days=step[0]),
            times=("08:00",),
            dose_mg=step[1],
            prescriber_confirmed=len(step) > 2 and bool(step[2]),
            index=j,
        )
        for j, step in enumerate(steps)
    )
    return Medication(name="Baclofen", strength_mg=5, plan=phases, taper_required=taper_required, index=index)


# (case, steps, expected warnings as (phase index, substring))
CASES: list[tuple[str, list[Step], list[tuple[int, str]]]] = [
    ("good 14-day taper", [(0, 30), (10, 20), (14, 15), (18, 10), (21, 5), (24, 0)], []),
    ("titration only", [(0, 15), (3, 30), (6, 45), (9, 60)], []),
    ("step to 0 from 15 mg/day after a taper", [(0, 20), (3, 15), (20, 0)], []),
    ("stop from 20 mg/day", [(0, 20), (30, 0)], [(1, "abrupt stop from 20 mg/day to 0")]),
    ("stop from 15.5 mg/day", [(0, 15.5), (30, 0)], [(1, "abrupt stop from 15.5 mg/day")]),
    ("drop of half from 60", [(0, 60), (30, 30)], [(1, "abrupt reduction from 60 to 30 mg/day")]),
    ("drop of exactly a third from 45", [(0, 45), (30, 30)], []),
    ("drop of more than a third from 31", [(0, 31), (30, 20)], [(1, "removes more than a third")]),
    ("big-drop rule does not apply at exactly 30", [(0, 30), (30, 15)], []),
    ("30 to 10 leaves a third", [(0, 30), (30, 10)], [(1, "abrupt reduction from 30 to 10 mg/day leaves a third")]),
    ("30 to 5 mg/day", [(0, 30), (30, 5)], [(1, "leaves a third of the daily dose or less")]),
    ("16 to 5 mg/day", [(0, 16), (30, 5)], [(1, "leaves a third")]),
    ("15 to 5 mg/day is not above 15", [(0, 15), (30, 5)], []),
    (
        "reductions 2 days apart",
        [(0, 30), (10, 25), (12, 20)],
        [(2, "2 days after the one in medication[0].plan[1]")],
    ),
    ("reductions 1 day apart", [(0, 30), (10, 25), (11, 20)], [(2, "1 day after")]),
    ("reductions 3 days apart", [(0, 30), (10, 25), (13, 20)], []),
    ("taper reaching 0 in 10 days", [(0, 15), (10, 10), (14, 5), (20, 0)], [(3, "reaches 0 10 days after")]),
    ("taper reaching 0 in 14 days", [(0, 15), (10, 10), (17, 5), (24, 0)], []),
    (
        "stop from 10 mg/day with no taper",
        [(0, 10), (30, 0)],
        [(1, "abrupt stop from 10 mg/day to 0 with no taper")],
    ),
    (
        "a step up starts a new taper",
        [(0, 30), (10, 20), (12, 30), (20, 20), (23, 15), (26, 10), (30, 5), (34, 0)],
        [],
    ),
    (
        "several rules on one plan",
        [(0, 60), (10, 30), (11, 20), (12, 0)],
        [
            (1, "removes more than a third"),
            (2, "1 day after"),
            (3, "abrupt stop"),
            (3, "1 day after"),
            (3, "reaches 0 2 days after"),
        ],
    ),
]


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_fires_where_it_should(steps: list[Step], expected: list[tuple[int, str]]) -> None:
    med = medication(*steps)
    warnings = plan_warnings(med)
    assert len(warnings) == len(expected), warnings
    for (j, words), text in zip(expected, warnings, strict=True):
        start = DAY0 + dt.timedelta(days=steps[j][0])
        assert f"medication[0].plan[{j}] (from {start})" in text
        assert words in text and "abrupt" in text and "Baclofen" in text


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CASES if c[2]], ids=[c[0] for c in CASES if c[2]])
def test_prescriber_confirmed_silences_the_warnings_about_the_step_into_it(
    steps: list[Step], expected: list[tuple[int, str]]
) -> None:
    warned = {j for j, _ in expected}
    for j in warned:
        confirmed: list[Step] = [(s[0], s[1], True) if k == j else s for k, s in enumerate(steps)]
        left = plan_warnings(medication(*confirmed))
        assert not any(text.startswith(f"Baclofen medication[0].plan[{j}] ") for text in left)
        assert len(left) == sum(1 for k, _ in expected if k != j)


def test_medications_without_taper_required_get_no_warnings() -> None:
    assert plan_warnings(medication((0, 60), (1, 0), taper_required=False)) == []


def test_warnings_name_the_phase_by_its_position_in_the_file() -> None:
    later_in_file = Phase(start=DAY0, times=("08:00",), dose_mg=20, index=1)
    first_in_file = Phase(start=DAY0 + dt.timedelta(days=30), times=(), dose_mg=20, index=0)
    med = Medication(name="Baclofen", strength_mg=10, plan=(later_in_file, first_in_file), index=2)
    [warning] = plan_warnings(med)
    assert "medication[2].plan[0] (from 2026-12-01)" in warning and "abrupt stop" in warning


def test_daily_doses_compare_in_micrograms_not_floats() -> None:
    # 3 x 5.1 mg = 15.3 mg/day; 0.1-steps would drift in floats (5.1 * 3 = 15.299999999999999).
    med = Medication(
        name="Baclofen",
        strength_mg=0.2,
        plan=(
            Phase(start=DAY0, times=("08:00", "14:00", "20:00"), dose_mg=5.1),
            Phase(start=DAY0 + dt.timedelta(days=30), times=("08:00",), dose_mg=0, index=1),
        ),
    )
    assert plan_steps(med)[0].weekly_ug == 15_300 * 7
    assert "15.3 mg/day" in plan_warnings(med)[0]


def test_plan_steps_say_start_up_down_same_and_end() -> None:
    med = medication((0, 10), (3, 20), (6, 20), (9, 10), (40, 0), (50, 0), (60, 5))
    assert [s.kind for s in plan_steps(med)] == [
        StepKind.START,
        StepKind.UP,
        StepKind.SAME,
        StepKind.DOWN,
        StepKind.END,
        StepKind.SAME,
        StepKind.UP,
    ]
    assert [s.weekly_ug // 7 for s in plan_steps(med)] == [10_000, 20_000, 20_000, 10_000, 0, 0, 5_000]


def test_check_report_prints_each_warning_after_the_plan() -> None:
    med = medication((0, 20), (30, 0))
    report = format_check(Config(medications=(med,), path="x.toml"))
    lines = report.splitlines()
    warning = next(i for i, line in enumerate(lines) if line.startswith("warning: "))
    assert "abrupt stop" in lines[warning]
    assert warning > next(i for i, line in enumerate(lines) if "plan ends" in line)
    assert "1 plan warning." in report


steps_strategy = st.lists(
    st.tuples(st.integers(1, 20), st.sampled_from([0, 2.5, 5, 10, 15, 20, 30, 40, 60]), st.booleans()),
    min_size=1,
    max_size=8,
)


@given(steps_strategy)
def test_any_plan_gives_well_formed_warnings_and_confirming_every_phase_silences_them(
    raw: list[tuple[int, float, bool]],
) -> None:
    day, steps = 0, []
    for gap, dose, confirmed in raw:
        day += gap
        steps.append((day, dose, confirmed))
    for text in plan_warnings(medication(*steps)):
        assert "abrupt" in text and "Baclofen medication[0].plan[" in text
    assert plan_warnings(medication(*[(d, mg, True) for d, mg, _ in steps])) == []


def weekly(*phases: tuple[int, float, tuple[str, ...], frozenset[int] | None]) -> Medication:
    """Phases as (day, dose_mg, times, days) for the weekday rules."""
    return Medication(
        name="Baclofen",
        strength_mg=10,
        plan=tuple(
            Phase(start=DAY0 + dt.timedelta(days=d), times=t, dose_mg=mg, days=w, index=j)
            for j, (d, mg, t, w) in enumerate(phases)
        ),
    )


TID = ("08:00", "14:00", "20:00")


def test_a_weekday_phase_compares_the_weeks_dose_over_seven() -> None:
    # 20 mg three times a day every day, then the same on Mon/Wed/Fri: 60 -> 25.7 mg/day, a 57 % drop.
    med = weekly((0, 20, TID, None), (7, 20, TID, frozenset({0, 2, 4})))
    steps = plan_steps(med)
    assert [s.weekly_ug for s in steps] == [420_000, 180_000]
    assert steps[1].kind is StepKind.DOWN
    warnings = plan_warnings(med)
    assert any("abrupt reduction from 60 to 25.7 mg/day" in w for w in warnings), warnings
    assert any("abrupt weekly stop" in w and "60 hours" in w and "plan[1]" in w for w in warnings), warnings
    text = format_check(Config(medications=(med,)))
    assert "25.7 mg/day" in text and "same daily dose" not in text and "No plan warnings" not in text


def test_every_day_to_mon_sat_leaves_a_36_hour_gap_each_week() -> None:
    med = weekly((0, 10, TID, None), (7, 10, TID, frozenset(range(6))))
    warnings = plan_warnings(med)
    assert len([w for w in warnings if "abrupt weekly stop" in w]) == 1, warnings
    assert "36 hours without a dose after sat 20:00" in warnings[-1]
    confirmed = weekly((0, 10, TID, None), (7, 10, TID, frozenset(range(6))))
    confirmed = Medication(
        name="Baclofen",
        strength_mg=10,
        plan=(confirmed.plan[0], Phase(**{**vars(confirmed.plan[1]), "prescriber_confirmed": True})),
    )
    assert plan_warnings(confirmed) == []

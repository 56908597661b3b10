"""Properties over random patient behaviour: what must hold whatever the patient does."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.scenario import parse_scenario
from device.simulate import Simulation
from device.store import Store

from .conftest import config_toml, make_config, med_toml

START = dt.datetime(2026, 11, 2)
SLOTS = ["08:00", "14:00", "20:00"]
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stamp(minutes: int) -> str:
    return (START + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


behaviour = st.fixed_dictionaries(
    {
        "takes": st.sampled_from(["all", "none", "slots"]),
        "slots": st.lists(st.sampled_from(SLOTS), min_size=1, max_size=3, unique=True),
        "delay_minutes": st.integers(min_value=-70, max_value=150),
        "via": st.sampled_from(["lid", "button"]),
    }
)

minute = st.integers(min_value=0, max_value=8 * 24 * 60)
action = st.one_of(
    st.tuples(st.sampled_from(["lid_open", "lid_close", "press", "hold", "refill_mode", "ack_all"]), minute),
    st.tuples(st.just("refill"), minute, st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("power_off"), minute, st.integers(min_value=1, max_value=40 * 60)),
    st.tuples(st.just("away"), minute, st.integers(min_value=60, max_value=3 * 24 * 60)),
    st.tuples(st.just("skip"), minute, st.integers(min_value=0, max_value=9), st.sampled_from(SLOTS)),
)


def scenario_text(patient: dict[str, Any], periods: list[tuple[int, int, dict[str, Any]]], actions: list[tuple]) -> str:
    def fields(b: dict[str, Any]) -> str:
        slots = ", ".join(f'"{s}"' for s in b["slots"])
        return f'takes = "{b["takes"]}"\nslots = [{slots}]\ndelay_minutes = {b["delay_minutes"]}\nvia = "{b["via"]}"\n'

    text = f'start = "{stamp(0)}"\nend = "{stamp(9 * 24 * 60)}"\n[patient]\n' + fields(patient)
    for begin, length, b in periods:
        text += f'[[patient.period]]\nfrom = "{stamp(begin)}"\nuntil = "{stamp(begin + length)}"\n' + fields(b)
    for item in actions:
        kind, at = item[0], item[1]
        text += f'[[action]]\nat = "{stamp(at)}"\ndo = "{kind}"\n'
        if kind == "refill":
            text += f"tablets = {item[2]}\n"
        elif kind in ("power_off", "away"):
            text += f'until = "{stamp(at + item[2])}"\n'
        elif kind == "skip":
            day = (START + dt.timedelta(days=item[2])).date().isoformat()
            text += f'dose = "baclofen/{day}T{item[3]}"\n'
    return text


def run(config_text: str, scen: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    config = make_config(config_text)
    scenario = parse_scenario(scen, "s.toml", config.tz)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "p.db")
        out = io.StringIO()
        Simulation(config, scenario, out, db).run()
        store = Store(db, durable=False)
        doses = [dict(r) for r in store.db.execute("SELECT * FROM doses")]
        store.close()
    return [json.loads(line) for line in out.getvalue().splitlines()], doses


@PROPS
@given(
    patient=behaviour,
    periods=st.lists(st.tuples(minute, st.integers(min_value=60, max_value=4000), behaviour), max_size=3),
    actions=st.lists(action, max_size=8),
)
def test_invariants_under_random_behaviour(patient, periods, actions):
    events, doses = run(config_toml(med_toml(stock=20)), scenario_text(patient, periods, actions))
    # seq is continuous from 1, ids unique, times never go back.
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["id"] for e in events}) == len(events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    # Stock never below zero.
    assert all(e["stock"] >= 0 for e in events if "stock" in e)
    # Every dose whose window closed is in exactly one final state, reported at most once.
    end = (START + dt.timedelta(days=9)).replace(tzinfo=dt.UTC).isoformat()
    for dose in doses:
        if dose["closes_at"] <= end and dose["closed"]:
            assert dose["state"] in ("taken", "missed", "skipped", "away"), dose
    finals: dict[str, list[str]] = {}
    for e in events:
        if e["event_type"] in ("dose_taken", "dose_missed", "dose_skipped"):
            finals.setdefault(e["dose_id"], []).append(e["event_type"])
    for dose_id, kinds in finals.items():
        assert len(kinds) == 1, (dose_id, kinds)
    by_id = {d["dose_id"]: d["state"] for d in doses}
    for dose_id, kinds in finals.items():
        assert by_id[dose_id] == {"dose_taken": "taken", "dose_missed": "missed", "dose_skipped": "skipped"}[kinds[0]]
    # Alerts: every alert_resolved names an alert raised earlier, once.
    raised = {e["id"] for e in events if e["priority"] in ("medium", "high") or e["event_type"] == "lid_left_open"}
    resolved = [e["alert_id"] for e in of(events, "alert_resolved")]
    assert len(resolved) == len(set(resolved))
    assert set(resolved) <= raised


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == kind]


@PROPS
@given(
    delays=st.lists(st.integers(min_value=-59, max_value=119), min_size=1, max_size=4),
    via=st.sampled_from(["lid", "button"]),
    weekly=st.booleans(),
)
def test_no_stop_alarm_while_every_dose_is_taken_in_its_window(delays, via, weekly):
    med = med_toml(stock=200)
    if weekly:
        med = med.replace("dose_mg = 10\n", 'dose_mg = 10\n  days = ["mon", "thu"]\n', 1)
    if via == "button":
        delays = [max(d, 0) for d in delays]
    periods = "".join(
        f'[[patient.period]]\nfrom = "{stamp(i * 2 * 24 * 60)}"\nuntil = "{stamp((i + 1) * 2 * 24 * 60)}"\n'
        f"delay_minutes = {d}\n"
        for i, d in enumerate(delays)
    )
    scen = f'start = "{stamp(0)}"\nend = "{stamp(9 * 24 * 60)}"\n[patient]\ntakes = "all"\nvia = "{via}"\n' + periods
    events, _ = run(config_toml(med), scen)
    kinds = {e["event_type"] for e in events}
    assert not kinds & {"intake_stopped", "intake_reduced", "dose_missed"}
    assert of(events, "dose_taken")


@PROPS
@given(patient=behaviour, actions=st.lists(action, max_size=6), end_day=st.integers(min_value=2, max_value=6))
def test_nothing_fires_after_the_plan_tapers_to_zero(patient, actions, end_day):
    end_date = (START + dt.timedelta(days=end_day)).date().isoformat()
    phases = f'  [[medication.plan]]\n  start = "{end_date}"\n  dose_mg = 0\n  prescriber_confirmed = true\n'
    actions = [a for a in actions if a[0] not in ("lid_open", "away")]
    events, _ = run(config_toml(med_toml(stock=20, phases=phases)), scenario_text(patient, [], actions))
    ended = f"{end_date}T00:00:00+00:00"
    # Doses planned before the end may still be reported (e.g. missed during a power cut), but no
    # dose after it exists, and no stop, reduction or stock alarm is raised once the plan has ended.
    assert all(e["scheduled_for"] < ended for e in events if "scheduled_for" in e)
    detection = {"intake_stopped", "intake_reduced", "stock_low", "stock_out"}
    late = [e for e in events if e["time"] > ended and e["event_type"] in detection]
    # A stop from above 15 mg/day outlives the end (SPEC 5): only its reminders, within 72 h of intake.
    reminders = [e for e in late if e["event_type"] == "intake_stopped" and e["reminder"]]
    assert [e for e in late if e not in reminders] == []
    for e in reminders:
        last = dt.datetime.fromisoformat(e["last_taken_at"] or START.replace(tzinfo=dt.UTC).isoformat())
        assert dt.datetime.fromisoformat(e["time"]) <= last + dt.timedelta(hours=72)


# --------------------------------------------------------------------- away spans (SPEC 5, Away)

away_op = st.one_of(
    # set: at minute, starting `lead` minutes later, lasting `length` minutes
    st.tuples(st.just("set"), minute, st.integers(min_value=0, max_value=24 * 60), st.integers(30, 3 * 24 * 60)),
    st.tuples(st.just("end"), minute),
)
patient_op = st.tuples(st.sampled_from(["open", "press"]), minute)


def _effective_spans(ops: list[tuple]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spans as they finally stand: a span cut short ends at the cut, a cancelled one is empty."""
    spans: list[list[dt.datetime]] = []
    for op in ops:
        t = START.replace(tzinfo=dt.UTC) + dt.timedelta(minutes=op[1])
        if spans and spans[-1][0] <= t < spans[-1][1]:
            spans[-1][1] = t  # the span in force is ended (or replaced) now
        elif spans and t < spans[-1][0]:
            spans.pop()  # a span not started yet is cancelled (or replaced)
        if op[0] == "set":
            start = t + dt.timedelta(minutes=op[2])
            spans.append([start, start + dt.timedelta(minutes=op[3])])
    return [(a, b) for a, b in spans if a < b]


@PROPS
@given(away=st.lists(away_op, min_size=1, max_size=5), patient=st.lists(patient_op, max_size=30))
def test_away_never_prompts_a_covered_dose_nor_lets_one_be_taken_twice(away, patient):
    from .conftest import Rig

    ops = sorted([*away, *patient], key=lambda op: (op[1], op[0] in ("open", "press")))
    with tempfile.TemporaryDirectory() as tmp:
        r = Rig(config_toml(med_toml(stock=200)), Path(tmp) / "p.db")
        utc = START.replace(tzinfo=dt.UTC)
        r.start(utc)
        done_ops: list[tuple] = []
        for op in ops:
            t = utc + dt.timedelta(minutes=op[1])
            if op[0] == "set":
                begin = t + dt.timedelta(minutes=op[2])
                r.do(t, lambda e, now, b=begin, u=begin + dt.timedelta(minutes=op[3]): e.set_away(b, u, now))
                done_ops.append(op)
            elif op[0] == "end":
                r.do(t, lambda e, now: e.end_away(now))
                done_ops.append(op)
            elif op[0] == "open":
                r.do(t, lambda e, now: e.lid_opened(now))
                r.do(t + dt.timedelta(seconds=30), lambda e, now: e.lid_closed(now))
            else:
                r.do(t, lambda e, now: e.press(now))
        end = utc + dt.timedelta(days=10)
        r.advance(end)
        doses = {
            d.dose_id: d
            for d in r.engine.doses_between((utc - dt.timedelta(days=1)).date(), (end + dt.timedelta(days=1)).date())
        }
    spans = _effective_spans(done_ops)
    taken = [e["dose_id"] for e in r.events if e["event_type"] == "dose_taken"]
    assert len(taken) == len(set(taken)), "a dose was taken twice"
    finals: dict[str, int] = {}
    for e in r.events:
        if e["event_type"] in ("dose_taken", "dose_missed", "dose_skipped"):
            finals[e["dose_id"]] = finals.get(e["dose_id"], 0) + 1
    assert all(n == 1 for n in finals.values()), finals
    prompted = {e["dose_id"] for e in r.events if e["event_type"] in ("dose_due", "dose_taken", "dose_missed")}
    for dose_id, dose in doses.items():
        covered = any(a <= dose.spec.scheduled_for < b for a, b in spans)
        if covered:
            assert dose_id not in prompted, (dose_id, spans)
            assert str(dose.state) in ("away", "upcoming"), (dose_id, dose.state)
        if dose.spec.closes_at <= end and dose.spec.scheduled_for >= utc:
            assert dose.state.final, (dose_id, dose.state)
            assert (str(dose.state) == "away") == covered or str(dose.state) != "away", (dose_id, spans)
            assert (dose_id in finals) != (str(dose.state) == "away"), (dose_id, dose.state)

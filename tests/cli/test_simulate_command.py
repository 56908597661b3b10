"""`pillbox simulate` and `pillbox check` as a user runs them: exit status, streams, files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.toml"
SCENARIO = ROOT / "config" / "example-scenario.toml"
DAY = 'start = "2026-11-01T00:00"\nend = "2026-11-02T00:00"\n'
EVENT_KEYS = {"id", "seq", "event_type", "priority", "time", "device_id", "message"}


def pillbox(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error", **(env or {})},
    )


def test_simulate_example_writes_json_lines_and_a_summary():
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(SCENARIO))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(set(e) >= EVENT_KEYS for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = {e["event_type"] for e in events}
    assert {"device_started", "dose_due", "dose_taken", "dose_missed", "intake_stopped", "intake_resumed"} <= kinds
    assert "Baclofen: planned 42" in done.stderr
    assert "adherence" in done.stderr and "intake_stopped" in done.stderr
    assert "Traceback" not in done.stderr


def test_simulate_out_file_and_config_from_environment(tmp_path):
    out = tmp_path / "events.jsonl"
    done = pillbox("simulate", "--scenario", str(SCENARIO), "--out", str(out), env={"PILLBOX_CONFIG": str(EXAMPLE)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = out.read_text().splitlines()
    assert lines and json.loads(lines[0])["event_type"] == "device_started"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('start = "2026-11-01T00:00"\n', "end: missing required key"),
        ('start = "2026-11-01T00:00"\nend = "2026-11-02T00:00"\n[patient]\ntakes = "most"\n', "patient.takes"),
        (
            'start = "2026-11-01T00:00"\nend = "2026-11-02T00:00"\n[patient]\ndelay_minuts = 5\n',
            "did you mean 'delay_minutes'",
        ),
        ('start = "2026-11-01"\nend = "2026-11-02T00:00"\n', "start: expected a local date and time"),
        ('start = "2026-11-02T00:00"\nend = "2026-11-01T00:00"\n', "end: expected a time after start"),
        (
            DAY + '[[action]]\nat = "2026-11-01T09:00"\ndo = "refill"\n',
            "action[0].tablets: missing",
        ),
        (
            DAY + '[[action]]\nat = "2026-11-01T09:00"\ndo = "dance"\n',
            "action[0].do: must be one of",
        ),
        ('start = "2026-11-01T00:00"\nend = "2026-11-02T00:00"\n[patient]\ntakes = "slots"\n', "patient.slots"),
        ("start = [\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_exit_2_naming_the_key(tmp_path, text, expected):
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(path))
    assert done.returncode == 2
    assert expected in done.stderr
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_missing_scenario_file_exits_2(tmp_path):
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(tmp_path / "nope.toml"))
    assert done.returncode == 2 and "nope.toml" in done.stderr and "Traceback" not in done.stderr


def test_check_prints_the_example_plan():
    done = pillbox("check", "--config", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "Baclofen" in done.stdout and "No plan warnings." in done.stdout
    assert "warning:" not in done.stdout


def test_unknown_command_is_usage_error():
    assert pillbox("frobnicate").returncode == 2


def test_run_without_gpio_says_so_and_suggests_mock_hardware(tmp_path):
    import glob

    config = tmp_path / "pillbox.toml"
    config.write_text(
        EXAMPLE.read_text().replace('state_dir = "/var/lib/pillbox"', f'state_dir = "{tmp_path / "state"}"')
    )
    done = pillbox("run", "--config", str(config))
    if glob.glob("/dev/gpiochip*"):  # a Raspberry Pi: auto finds the pins (not the case in CI)
        return
    assert done.returncode == 2
    assert "--mock-hardware" in done.stderr and "Traceback" not in done.stderr


def test_summary_counts_each_dose_once_and_reminders_are_not_alerts(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[device]\ntimezone = "UTC"\n[[medication]]\nname = "Baclofen"\nstrength_mg = 10\n'
        '  [[medication.plan]]\n  start = "2026-11-01"\n  times = ["08:00", "14:00", "20:00"]\n  dose_mg = 10\n'
    )
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        DAY.replace("2026-11-02T00:00", "2026-11-03T00:00")
        + '[patient]\ntakes = "none"\n[[action]]\nat = "2026-11-01T11:00"\ndo = "mark_taken"\n'
        'dose = "baclofen/2026-11-01T08:00"\ntaken_at = "2026-11-01T09:30"\n'
    )
    done = pillbox("simulate", "--config", str(config), "--scenario", str(scenario))
    assert done.returncode == 0, done.stderr
    # 08:00 missed, then corrected to taken: one dose, taken (late); 14:00 and 20:00 of the 1st and all
    # three of the 2nd missed.
    assert "Baclofen: planned 6, taken 1 (late 1), missed 5, skipped 0, adherence 16.7%" in done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    stops = [e for e in events if e["event_type"] == "intake_stopped"]
    assert len(stops) > 1 and "intake_stopped 1" in done.stderr


def test_actions_before_the_start_are_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(DAY + '[[action]]\nat = "2026-10-30T09:00"\ndo = "hold"\n')
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(path))
    assert done.returncode == 2 and "action[0].at" in done.stderr


# Found in review: these crashed, were reported under the wrong path, or ran with exit 0.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DAY + '[[action]]\nat = "2026-11-31T10:00"\ndo = "hold"\n', "action[0].at: expected a real local date"),
        ('start = "2026-13-01T00:00"\nend = "2026-11-02T00:00"\n', "start: expected a real local date"),
        (DAY + "[patient]\ndelay_minutes = nan\n", "patient.delay_minutes"),
        (DAY + "[patient]\ndelay_minute = 5\n", "patient.delay_minute: unknown key 'delay_minute'"),
        (DAY + '[[action]]\nat = "2026-11-01T09:00"\ndo = "refill"\ntablets = 5\nmedication = "Aspirin"\n',
         "action[0].medication: expected one of Baclofen"),
        (DAY + '[[action]]\nat = "2026-11-01T09:00"\ndo = "skip"\ndose = "aspirin/2026-11-01T08:00"\n',
         "action[0].dose: expected a dose of the plan"),
        (DAY + '[[action]]\nat = "2026-11-01T09:00"\ndo = "mark_taken"\ndose = "baclofen/2026-11-01T08:00"\n'
         'taken_at = "2026-11-31T08:10"\n',
         'action[0].taken_at: expected a real local date and time, found "2026-11-31T08:10"'),
    ],
)  # fmt: skip
def test_scenario_review_findings_exit_2(tmp_path, text, expected):
    path = tmp_path / "s.toml"
    path.write_text(text)
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(path))
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr


# Found in review: scenario schema errors were in jsonschema's own words and 25:00 was reported twice.
WRONG_SCENARIO = (
    DAY
    + """
[patient]
delay_minutes = "five"

[[action]]
at = "2026-11-01T09:00"
do = "hold"

[[action]]
at = "2026-11-01T10:00"
do = "skip"
dose_id = "baclofen/2026-11-01T08:00"

[[action]]
at = "2026-11-03T25:00"
do = "hold"

[[action]]
at = "2026-11-01T11:00"
do = "dance"
"""
)


def test_scenario_errors_read_like_config_errors(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(WRONG_SCENARIO)
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(path))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr and "is not of type" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines)
    assert len(lines) == len(set(lines))
    # Each names the file, the key path, what was expected and what was found.
    for wanted in [
        'patient.delay_minutes: expected a number of minutes from -720 to 1440 (negative: early), found "five"',
        'action[2].at: expected a local date and time like 2026-11-01T08:00, found "2026-11-03T25:00"',
        "action[1].dose_id: unknown key 'dose_id' — did you mean 'dose'?",
        "action[3].do: must be one of lid_open, lid_close, press, hold, refill, refill_mode, ack_all, skip, "
        'mark_taken, away, power_off, not "dance"',
    ]:
        assert f"{path}: {wanted}" in lines
    assert [line for line in lines if "25:00" in line] == [
        f'{path}: action[2].at: expected a local date and time like 2026-11-01T08:00, found "2026-11-03T25:00"'
    ]


def test_scenario_schema_errors_do_not_hide_the_other_checks(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'start = "2026-11-02T00:00"\nend = "2026-11-01T00:00"\n[patient]\ndelay_minutes = "five"\n'
        '[[action]]\nat = "2026-11-01T09:00"\ndo = "refill"\ntablets = "many"\n'
        '[[action]]\nat = "2026-11-31T09:00"\ndo = "skip"\n'
    )
    done = pillbox("simulate", "--config", str(EXAMPLE), "--scenario", str(path))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    for wanted in [
        "end: expected a time after start (2026-11-02T00:00)",
        "patient.delay_minutes: expected a number of minutes",
        "action[0].at: expected a time at or after start",
        'action[0].tablets: expected a number of tablets above 0 and at most 1000, found "many"',
        'action[1].at: expected a real local date and time, found "2026-11-31T09:00"',
        'action[1].dose: missing, required for do = "skip"',
    ]:
        assert any(line.startswith(f"{path}: {wanted}") for line in lines), (wanted, lines)
    assert len(lines) == len(set(lines)) == 6
    assert "Traceback" not in done.stderr and "is not of type" not in done.stderr

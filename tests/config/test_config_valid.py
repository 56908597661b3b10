"""Valid configs load into the typed records: the example, defaults, carry-over, sorting, time zones."""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from device.check import format_check
from device.config import find_config_path, load_config, parse_config, system_timezone
from device.engine.model import Config, HardwareConfig, Medication, MqttConfig, WebConfig
from device.engine.planwarn import StepKind, plan_steps, plan_warnings
from device.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.toml"
SCHEMA = ROOT / "device" / "config_schema.json"

MEDICATION = """
[[medication]]
name = "Baclofen"
strength_mg = 10
{extra}
"""


def parse(text: str) -> Config:
    return parse_config(text, "test.toml")


def one_med(phases: str, extra: str = "", top: str = "") -> Medication:
    return parse(top + MEDICATION.format(extra=extra) + phases).medications[0]


def test_example_loads_with_the_baclofen_titration() -> None:
    config = load_config(str(EXAMPLE))
    assert config.path == str(EXAMPLE)
    assert config.device.timezone == "Europe/London"
    assert config.device.state_dir == "/var/lib/pillbox"
    med = config.medication("baclofen")
    assert (med.name, med.strength_mg, med.stock, med.max_daily_mg) == ("Baclofen", 10, 90, 80)
    assert med.interactions == ("acetaminophen", "hydrocodone", "alcohol")
    assert [(p.start, p.dose_mg) for p in med.plan] == [
        (dt.date(2026, 11, 1), 5),
        (dt.date(2026, 11, 4), 10),
        (dt.date(2026, 11, 7), 15),
        (dt.date(2026, 11, 10), 20),
    ]
    assert all(p.times == ("08:00", "14:00", "20:00") and p.days is None for p in med.plan)
    assert [med.tablets(p.dose_mg) for p in med.plan] == [0.5, 1, 1.5, 2]
    assert config.hardware.quiet_hours == ("22:00", "07:00")


def test_example_gives_no_warnings_and_a_titration_report() -> None:
    config = load_config(str(EXAMPLE))
    assert plan_warnings(config.medications[0]) == []
    report = format_check(config)
    assert "warning" not in report.lower().replace("no plan warnings", "")
    assert report.count("titration step up") == 3
    assert "60 mg/day" in report


def _schema_keys(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for key, sub in schema.get("properties", {}).items():
        keys.add(key)
        target = sub.get("items", sub) if sub.get("type") == "array" else sub
        ref = target.get("$ref", "")
        if ref.startswith("#/$defs/"):
            target = defs[ref.removeprefix("#/$defs/")]
        keys |= _schema_keys(target, defs)
    return keys


def test_example_sets_every_key_of_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    text = EXAMPLE.read_text()
    missing = [
        k
        for k in sorted(_schema_keys(schema, schema["$defs"]))
        if not any(form in text for form in (f"\n{k} =", f"  {k} =", f"[{k}]", f"[[{k}]]", f"[[medication.{k}]]"))
    ]
    assert missing == []


def test_example_validates_against_the_schema_through_the_config_symlink() -> None:
    link = ROOT / "config" / "schema.json"
    assert link.is_symlink() and os.readlink(link) == "../device/config_schema.json"
    schema = json.loads(link.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = tomllib.loads(EXAMPLE.read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []


def _leaves(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        found = [(where, node)] if ("type" in node or "enum" in node) and node.get("type") != "object" else []
        for key, sub in node.items():
            found += _leaves(sub, f"{where}/{key}")
        return found
    if isinstance(node, list):
        return [leaf for i, sub in enumerate(node) for leaf in _leaves(sub, f"{where}/{i}")]
    return []


def test_every_schema_value_says_what_it_expects() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert [where for where, leaf in _leaves(schema) if "description" not in leaf] == []


def test_defaults_fill_every_optional_key() -> None:
    config = parse(
        MEDICATION.format(extra="") + '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["08:00"]\ndose_mg = 10\n'
    )
    assert config.device.timezone == system_timezone()
    assert (config.device.id, config.device.name, config.device.state_dir) == (
        "pillbox",
        "Pillbox",
        "/var/lib/pillbox",
    )
    assert config.hardware == HardwareConfig()
    assert config.mqtt == MqttConfig()
    assert config.web == WebConfig()
    med = config.medications[0]
    assert med.stock is None and med.max_daily_mg is None and med.notes is None and med.storage is None
    assert (med.with_food, med.taper_required, med.interactions) == (False, True, ())
    assert (med.early_minutes, med.late_after_minutes, med.missed_after_minutes) == (60, 60, 120)
    assert (med.cessation_missed_doses, med.cessation_hours, med.reduction_ratio) == (2, 24, 0.7)
    assert (med.refill_warning_days, med.index) == (7, 0)


def test_times_days_and_dose_carry_over_from_the_phase_before() -> None:
    med = one_med(
        '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["20:00", "08:00"]\ndose_mg = 5\n'
        'days = ["wed", "mon"]\n'
        '[[medication.plan]]\nstart = "2026-11-04"\ndose_mg = 10\n'
        '[[medication.plan]]\nstart = "2026-11-08"\ntimes = ["09:00"]\n'
        '[[medication.plan]]\nstart = "2026-11-12"\n'
        'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
    )
    assert [(p.times, p.dose_mg, p.days) for p in med.plan] == [
        (("08:00", "20:00"), 5, frozenset({0, 2})),
        (("08:00", "20:00"), 10, frozenset({0, 2})),
        (("09:00",), 10, frozenset({0, 2})),
        (("09:00",), 10, None),
    ]


def test_phases_are_sorted_by_start_and_keep_their_file_position() -> None:
    med = one_med(
        '[[medication.plan]]\nstart = "2026-11-07"\ndose_mg = 15\n'
        '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["08:00"]\ndose_mg = 5\n'
        '[[medication.plan]]\nstart = "2026-11-04"\ndose_mg = 10\n'
    )
    assert [(p.start.day, p.index, p.dose_mg) for p in med.plan] == [(1, 1, 5), (4, 2, 10), (7, 0, 15)]
    assert all(p.times == ("08:00",) for p in med.plan)


def test_carry_over_follows_the_sorted_order_not_the_file_order() -> None:
    med = one_med(
        '[[medication.plan]]\nstart = "2026-11-10"\n'
        '[[medication.plan]]\nstart = "2026-11-04"\ntimes = ["09:00", "21:00"]\n'
        '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["08:00"]\ndose_mg = 5\n'
    )
    assert med.plan[-1].times == ("09:00", "21:00") and med.plan[-1].dose_mg == 5


def test_dates_may_be_toml_dates_and_whole_floats_count_as_whole_numbers() -> None:
    med = one_med(
        '[[medication.plan]]\nstart = 2026-11-01\ntimes = ["08:00"]\ndose_mg = 5\n',
        extra="early_minutes = 30.0",
    )
    assert med.plan[0].start == dt.date(2026, 11, 1)
    assert med.early_minutes == 30 and isinstance(med.early_minutes, int)


def test_a_zero_dose_or_no_times_ends_the_plan_and_a_later_phase_restarts_it() -> None:
    med = one_med(
        '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["08:00", "20:00"]\ndose_mg = 5\n'
        '[[medication.plan]]\nstart = "2026-11-20"\ndose_mg = 0\n'
        '[[medication.plan]]\nstart = "2026-12-01"\ndose_mg = 5\n'
        '[[medication.plan]]\nstart = "2026-12-20"\ntimes = []\n',
        extra="taper_required = false",
    )
    assert [p.ends_plan for p in med.plan] == [False, True, False, True]
    assert med.plan[2].times == ("08:00", "20:00")
    assert [s.kind for s in plan_steps(med)] == [StepKind.START, StepKind.END, StepKind.UP, StepKind.END]


def test_quiet_hours_may_be_empty_meaning_none() -> None:
    config = parse(
        "[hardware]\nquiet_hours = []\n"
        + MEDICATION.format(extra="")
        + '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["08:00"]\ndose_mg = 5\n'
    )
    assert config.hardware.quiet_hours is None


def test_windows_may_come_close_but_not_touch() -> None:
    med = one_med(
        '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["08:00", "11:01", "23:00"]\ndose_mg = 5\n'
        '[[medication.plan]]\nstart = "2026-11-04"\ntimes = ["02:01", "12:00"]\n'
    )
    assert len(med.plan) == 2  # 180 < 181 minutes within the day, 23:00 -> 02:01 across the phase change


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe"])
def test_validation_ignores_daylight_saving(zone: str) -> None:
    # 01:30 does not exist on 2027-03-28 in London; 01:30 is doubled on 2026-11-01 in New York.
    phases = (
        '[[medication.plan]]\nstart = "2026-11-01"\ntimes = ["01:30", "13:30"]\ndose_mg = 5\n'
        '[[medication.plan]]\nstart = "2027-03-28"\ntimes = ["04:31", "16:00"]\n'
    )
    med = one_med(phases, top=f'[device]\ntimezone = "{zone}"\n')
    assert [p.times for p in med.plan] == [("01:30", "13:30"), ("04:31", "16:00")]


def test_find_config_path_prefers_the_option_then_the_environment_then_etc() -> None:
    env = {"PILLBOX_CONFIG": "/env.toml"}
    assert find_config_path("/cli.toml", env) == "/cli.toml"
    assert find_config_path(None, env) == "/env.toml"
    assert find_config_path(None, {}) == "/etc/pillbox/pillbox.toml"
    assert find_config_path(None, {"PILLBOX_CONFIG": ""}) == "/etc/pillbox/pillbox.toml"


def test_system_timezone_reads_the_localtime_link_then_etc_timezone(tmp_path: Path) -> None:
    assert system_timezone(tmp_path) == "UTC"
    (tmp_path / "timezone").write_text("Europe/Paris\n")
    assert system_timezone(tmp_path) == "Europe/Paris"
    (tmp_path / "localtime").symlink_to("../usr/share/zoneinfo/America/Chicago")
    assert system_timezone(tmp_path) == "America/Chicago"
    (tmp_path / "localtime").unlink()
    (tmp_path / "timezone").write_text("Not/A_Zone\n")
    assert system_timezone(tmp_path) == "UTC"


def test_a_missing_or_unreadable_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    for path, words in [
        (tmp_path / "absent.toml", "no such file"),
        (tmp_path, "cannot read"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config(str(path))
        assert len(caught.value.problems) == 1
        assert caught.value.problems[0].startswith(f"{path}: ") and words in caught.value.problems[0]
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b'[device]\nname = "Caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(latin))


def test_half_of_a_small_tablet_is_a_valid_dose():
    # Found in review: 62.5 µg (half of 0.125 mg) was rounded to 62 µg and refused.
    from device.config import parse_config

    text = (
        '[device]\ntimezone = "UTC"\n[[medication]]\nname = "Digoxin"\nstrength_mg = 0.125\ntaper_required = false\n'
        '  [[medication.plan]]\n  start = "2026-11-01"\n  times = ["08:00"]\n  dose_mg = 0.0625\n'
    )
    med = parse_config(text, "d.toml").medications[0]
    assert med.tablets(0.0625) == 0.5


def test_unknown_keys_are_reported_at_their_own_path():
    import pytest

    from device.config import parse_config
    from device.errors import ConfigError

    text = (
        '[device]\ntimezone = "UTC"\n[[medication]]\nname = "B"\nstrength_mg = 10\n'
        '  [[medication.plan]]\n  start = "2026-11-01"\n  times = ["08:00"]\n  dose_mg = 10\n  dos_mg = 3\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.toml")
    assert any("medication[0].plan[0].dos_mg: unknown key 'dos_mg' — did you mean 'dose_mg'?" in p
               for p in caught.value.problems)  # fmt: skip


def test_a_wrong_key_in_a_medication_does_not_hide_its_plan_problems():
    # Found in review: stock = -1 hid the half-tablet and overlap errors of the same medication.
    import pytest

    from device.config import parse_config
    from device.errors import ConfigError

    text = (
        '[device]\ntimezone = "UTC"\n[[medication]]\nname = "B"\nstrength_mg = 10\nstock = -1\n'
        '  [[medication.plan]]\n  start = "2026-11-01"\n  times = ["08:00", "09:00"]\n  dose_mg = 7\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.toml")
    joined = "\n".join(caught.value.problems)
    assert "medication[0].stock" in joined
    assert "medication[0].plan[0].dose_mg: expected a multiple of half a tablet" in joined
    assert "medication[0].plan[0].times: the windows" in joined

"""The operating guides stay true: their configs load, their YAML parses, every alert is explained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device.config import parse_config
from device.engine.events import EVENT_TYPES, Priority
from device.engine.planwarn import plan_warnings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def blocks(name: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def warnings_of(text: str) -> list[str]:
    config = parse_config(text, "plans.md")
    return [w for med in config.medications for w in plan_warnings(med)]


def test_the_plan_examples_load_with_the_warnings_the_guide_shows():
    titration, four_a_day, taper, fast, confirmed = blocks("plans.md", "toml")
    assert warnings_of(titration) == []
    assert warnings_of(titration + four_a_day) == []
    assert warnings_of(taper) == []
    (warning,) = warnings_of(fast)
    assert "more than a third" in warning and "plan[1]" in warning
    assert warnings_of(fast.split("  [[medication.plan]]          # 60 -> 30")[0] + confirmed) == []


def test_the_config_fragments_of_the_guides_load():
    for name in ("install.md", "home-assistant.md"):
        for fragment in blocks(name, "toml"):
            med = '[[medication]]\nname = "B"\nstrength_mg = 10\n[[medication.plan]]\nstart = "2026-01-01"\n'
            parse_config(fragment + med + 'times = ["08:00"]\ndose_mg = 10\n', name)


def test_the_home_assistant_automations_parse():
    yaml = pytest.importorskip("yaml")
    notify, ack = (yaml.safe_load(text) for text in blocks("home-assistant.md", "yaml"))
    assert notify["trigger"][0]["entity_id"] == "event.pillbox_event"
    assert "intake_stopped" in notify["condition"][1]["value_template"]
    assert "help_requested" in notify["condition"][1]["value_template"]
    assert ack["action"][0]["data"]["topic"] == "pillbox/pillbox/cmd/ack"
    assert ack["action"][0]["data"]["payload"].startswith("{{ trigger.event.data.action[12:]")
    assert len("PILLBOX_ACK_") == 12


def test_every_alert_raising_event_is_explained():
    text = (DOCS / "alerts.md").read_text()
    raising = [t for t, p in EVENT_TYPES.items() if p in (Priority.MEDIUM, Priority.HIGH)] + ["lid_left_open"]
    for event_type in raising:
        assert f"## `{event_type}`" in text, event_type


def test_the_install_guide_and_the_unit_agree():
    guide = (DOCS / "install.md").read_text()
    unit = (DOCS.parent / "systemd" / "pillbox.service").read_text()
    for setting in (
        "WatchdogSec=60s",
        "TimeoutStartSec=15min",
        "LoadCredential=mqtt-password:/etc/pillbox/mqtt-password",
    ):
        assert setting in unit and setting in guide

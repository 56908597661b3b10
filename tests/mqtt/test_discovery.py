"""The Home Assistant discovery configs as tables (SPEC section 9): pure builders, no broker."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from device.config import parse_config
from device.engine.events import EVENT_TYPES
from device.engine.model import Config, MqttConfig, WebConfig
from device.mqtt.discovery import base_topic, discovery_configs, page_url, status_topic

ROOT = Path(__file__).resolve().parents[2]
B = "pillbox/pillbox"
NODE = "pillbox_pillbox"
FULL_KEYS = {  # Home Assistant's full key names: no `stat_t`, `uniq_id`, `dev` ...
    "name", "unique_id", "availability_topic", "device", "state_topic", "command_topic", "value_template",
    "device_class", "unit_of_measurement", "state_class", "icon", "event_types", "payload_press",
}  # fmt: skip
CONFIG = """
[device]
timezone = "UTC"
[web]
port = 8080
[[medication]]
name = "Baclofen"
strength_mg = 10
stock = 30
  [[medication.plan]]
  start = "2024-01-01"
  times = ["08:00", "20:00"]
  dose_mg = 10
[[medication]]
name = "Vitamin D3 (1000 IU)"
strength_mg = 0.025
  [[medication.plan]]
  start = "2024-01-01"
  times = ["08:00"]
  dose_mg = 0.025
"""


def config(text: str = CONFIG, **mqtt: Any) -> Config:
    parsed = parse_config(text, "pillbox.toml")
    return dataclasses.replace(parsed, mqtt=dataclasses.replace(parsed.mqtt, **mqtt)) if mqtt else parsed


def configs(cfg: Config | None = None) -> dict[str, dict[str, Any]]:
    return dict(discovery_configs(cfg or config(), hostname=lambda: "kitchen"))


def on_state(key: str) -> str:
    return f"{{{{ value_json.{key} }}}}"


def switch(condition: str) -> str:
    return f"{{{{ 'ON' if value_json.{condition} else 'OFF' }}}}"


# component, object, device_class, unit, state_class, value_template (None: no template)
ENTITIES = [
    ("event", "event", None, None, None, None),
    ("sensor", "next_dose", "timestamp", None, None, on_state("next_dose_at")),
    ("sensor", "last_taken", "timestamp", None, None, on_state("last_taken_at")),
    ("sensor", "adherence_7d", None, "%", "measurement", on_state("adherence_7d")),
    ("sensor", "hours_since_last_dose_baclofen", "duration", "h", "measurement",
     on_state('hours_since_last_dose["Baclofen"]')),
    ("sensor", "stock_baclofen", None, "tablets", "measurement", on_state('stock["Baclofen"]')),
    ("sensor", "days_of_supply_baclofen", "duration", "d", "measurement", on_state('days_of_supply["Baclofen"]')),
    ("sensor", "hours_since_last_dose_vitamin_d3_1000_iu", "duration", "h", "measurement",
     on_state('hours_since_last_dose["Vitamin D3 (1000 IU)"]')),
    ("binary_sensor", "lid", "opening", None, None, switch("lid == 'open'")),
    ("binary_sensor", "dose_due", None, None, None, switch("dose_due")),
    ("binary_sensor", "problem", "problem", None, None, switch("alert_level == 'high'")),
    ("button", "acknowledge", None, None, None, None),
    ("button", "silence", None, None, None, None),
]  # fmt: skip
READS = {  # where each entity reads (state_topic) or writes (command_topic), and what a button sends
    "event": {"state_topic": f"{B}/event"},
    "acknowledge": {"command_topic": f"{B}/cmd/ack", "payload_press": "all"},
    "silence": {"command_topic": f"{B}/cmd/silence", "payload_press": "silence"},
}


@pytest.mark.parametrize(
    ("component", "obj", "device_class", "unit", "state_class", "template"), ENTITIES, ids=[e[1] for e in ENTITIES]
)
def test_each_entity_has_its_topic_class_unit_template_and_unique_id(
    component, obj, device_class, unit, state_class, template
):
    payload = configs()[f"homeassistant/{component}/{NODE}/{obj}/config"]
    assert payload.get("device_class") == device_class
    assert payload.get("unit_of_measurement") == unit
    assert payload.get("state_class") == state_class
    assert payload.get("value_template") == template
    assert payload["unique_id"] == f"{NODE}_{obj}"
    assert "object_id" not in payload
    assert payload["availability_topic"] == f"{B}/availability"
    expected = READS.get(obj, {"state_topic": f"{B}/state"})
    assert {k: payload.get(k) for k in expected} == expected
    if component == "button":
        assert "state_topic" not in payload
    else:
        assert "command_topic" not in payload


def test_there_is_one_config_per_entity_in_publishing_order_and_no_other():
    assert list(configs()) == [f"homeassistant/{c}/{NODE}/{o}/config" for c, o, *_ in ENTITIES]


def test_a_medication_without_counted_stock_has_no_stock_or_supply_sensor():
    objects = [topic.split("/")[3] for topic in configs()]
    assert "stock_baclofen" in objects and "days_of_supply_baclofen" in objects
    assert [o for o in objects if o.endswith("vitamin_d3_1000_iu")] == ["hours_since_last_dose_vitamin_d3_1000_iu"]


def test_the_event_entity_lists_every_event_type():
    event = configs()[f"homeassistant/event/{NODE}/event/config"]
    assert event["event_types"] == list(EVENT_TYPES)


def test_every_config_uses_full_key_names_and_shares_one_device_block():
    payloads = list(configs().values())
    for payload in payloads:
        assert set(payload) <= FULL_KEYS, set(payload) - FULL_KEYS
    devices = {json.dumps(p["device"], sort_keys=True) for p in payloads}
    assert len(devices) == 1
    device = payloads[0]["device"]
    assert device["identifiers"] == [NODE] and device["name"] == "Pillbox"
    assert device["configuration_url"] == "http://kitchen.local:8080/"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://kitchen.local:8080/"),
        ("::", "http://kitchen.local:8080/"),
        ("", "http://kitchen.local:8080/"),
        ("192.168.1.20", "http://192.168.1.20:8080/"),
        ("pillbox.example", "http://pillbox.example:8080/"),
    ],
)
def test_the_configuration_url_points_at_the_page(host, url):
    cfg = Config(medications=(), web=WebConfig(host=host, port=8080))
    assert page_url(cfg, hostname=lambda: "kitchen") == url


def test_device_id_base_topic_and_prefix_shape_every_topic():
    text = CONFIG.replace("[device]\n", '[device]\nid = "hall"\n')
    cfg = config(text, base_topic="home/pills", discovery_prefix="ha")
    assert base_topic(cfg) == "home/pills/hall" and status_topic(cfg) == "ha/status"
    found = configs(cfg)
    assert all(t.startswith("ha/") and "/pillbox_hall/" in t for t in found)
    for payload in found.values():
        assert payload["unique_id"].startswith("pillbox_hall_")
        assert payload["availability_topic"] == "home/pills/hall/availability"
    assert found["ha/button/pillbox_hall/acknowledge/config"]["command_topic"] == "home/pills/hall/cmd/ack"


def test_discovery_off_with_an_empty_prefix():
    cfg = config(discovery_prefix="")
    assert discovery_configs(cfg) == [] and status_topic(cfg) is None


def test_the_default_prefix_is_home_assistants():
    assert MqttConfig().discovery_prefix == "homeassistant" and status_topic(config()) == "homeassistant/status"


def test_the_discovery_and_command_modules_load_without_paho():
    code = (
        "import sys, device.mqtt.discovery, device.mqtt.commands, device.mqtt\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'paho'], 'paho loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)

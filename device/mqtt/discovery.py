"""Home Assistant MQTT discovery (SPEC section 9): one retained config per entity, from the config alone.

Pure: no paho and no broker, so every entity is pinned down by a table test. Configs use full key
names, carry a `unique_id` and no `object_id`, and share one `device` block.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from ..engine.events import EVENT_TYPES
from ..engine.model import Config, Medication

VERSION = "0.1.0"
Payload = dict[str, Any]
Hostname = Callable[[], str]


def base_topic(config: Config) -> str:
    """`B` of SPEC section 9: `<base_topic>/<device.id>`."""
    return f"{config.mqtt.base_topic}/{config.device.id}"


def status_topic(config: Config) -> str | None:
    """Where Home Assistant says `online` after its own restart; None when discovery is off."""
    prefix = config.mqtt.discovery_prefix
    return f"{prefix}/status" if prefix else None


def page_url(config: Config, hostname: Hostname = socket.gethostname) -> str:
    """The dispenser's page as the hub should link to it (a wildcard listen address becomes `<host>.local`)."""
    host = config.web.host
    if host in ("0.0.0.0", "::", ""):
        host = f"{hostname()}.local"
    return f"http://{host}:{config.web.port}/"


def device_block(config: Config, hostname: Hostname = socket.gethostname) -> Payload:
    """The `device` shared by every entity, so Home Assistant shows one dispenser."""
    return {
        "identifiers": [f"pillbox_{config.device.id}"],
        "name": config.device.name,
        "manufacturer": "Pillbox",
        "model": "Pillbox smart pill dispenser",
        "sw_version": VERSION,
        "configuration_url": page_url(config, hostname),
    }


Entity = tuple[str, str, str, Payload]  # component, object id, name, the entity's own fields


def _sensor(b: str, obj: str, name: str, value: str, component: str = "sensor", **fields: Any) -> Entity:
    """An entity read from the retained state: `value` is a Jinja expression over `value_json`."""
    return component, obj, name, {"state_topic": f"{b}/state", **fields, "value_template": f"{{{{ {value} }}}}"}


def _binary(b: str, obj: str, name: str, condition: str, **fields: Any) -> Entity:
    return _sensor(b, obj, name, f"'ON' if {condition} else 'OFF'", component="binary_sensor", **fields)


def _button(b: str, obj: str, name: str, command: str, press: str, icon: str) -> Entity:
    return "button", obj, name, {"command_topic": f"{b}/{command}", "payload_press": press, "icon": icon}


def _medication_sensors(b: str, med: Medication) -> list[Entity]:
    """Hours since the last dose for every medication; stock and days of supply where stock is counted."""
    key = json.dumps(med.name)  # the state's dictionaries are keyed by the medication's name
    obj = med.slug.replace("-", "_")
    measured = {"state_class": "measurement"}
    out = [
        _sensor(b, f"hours_since_last_dose_{obj}", f"{med.name} hours since last dose",
                f"value_json.hours_since_last_dose[{key}]", unit_of_measurement="h", device_class="duration",
                **measured),
    ]  # fmt: skip
    if med.stock is not None:
        out += [
            _sensor(b, f"stock_{obj}", f"{med.name} stock", f"value_json.stock[{key}]",
                    unit_of_measurement="tablets", **measured, icon="mdi:pill-multiple"),
            _sensor(b, f"days_of_supply_{obj}", f"{med.name} days of supply", f"value_json.days_of_supply[{key}]",
                    unit_of_measurement="d", device_class="duration", **measured),
        ]  # fmt: skip
    return out


def entities(config: Config) -> list[Entity]:
    """Every entity, in publishing order."""
    b = base_topic(config)
    event = {"state_topic": f"{b}/event", "event_types": list(EVENT_TYPES), "icon": "mdi:pill"}
    return [
        ("event", "event", "Event", event),
        _sensor(b, "next_dose", "Next dose", "value_json.next_dose_at", device_class="timestamp"),
        _sensor(b, "last_taken", "Last taken", "value_json.last_taken_at", device_class="timestamp"),
        _sensor(b, "adherence_7d", "Adherence 7 days", "value_json.adherence_7d", unit_of_measurement="%",
                state_class="measurement"),
        *[entity for med in config.medications for entity in _medication_sensors(b, med)],
        _binary(b, "lid", "Lid", "value_json.lid == 'open'", device_class="opening"),
        _binary(b, "dose_due", "Dose due", "value_json.dose_due", icon="mdi:pill"),
        _binary(b, "problem", "Problem", "value_json.alert_level == 'high'", device_class="problem"),
        _button(b, "acknowledge", "Acknowledge alerts", "cmd/ack", "all", "mdi:check-all"),
        _button(b, "silence", "Silence", "cmd/silence", "silence", "mdi:volume-off"),
    ]  # fmt: skip


def discovery_configs(config: Config, hostname: Hostname = socket.gethostname) -> list[tuple[str, Payload]]:
    """One retained config per entity as (topic, payload); nothing when `discovery_prefix` is empty."""
    prefix = config.mqtt.discovery_prefix
    if not prefix:
        return []
    node = f"pillbox_{config.device.id}"
    device = device_block(config, hostname)
    availability = f"{base_topic(config)}/availability"
    shared = {"availability_topic": availability, "device": device}
    return [
        (f"{prefix}/{component}/{node}/{obj}/config", {"name": name, "unique_id": f"{node}_{obj}", **shared, **fields})
        for component, obj, name, fields in entities(config)
    ]

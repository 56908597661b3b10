"""MQTT to the home-automation hub (SPEC section 9); the only package that imports paho.

discovery.py and commands.py are pure and import no paho: importing them (or this package) loads
paho only when the bridge or the probe is first asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .commands import BadCommand, parse_ack
from .discovery import discovery_configs

if TYPE_CHECKING:
    from .bridge import MqttBridge
    from .probe import broker_problem

__all__ = ["BadCommand", "MqttBridge", "broker_problem", "discovery_configs", "parse_ack"]
_LAZY = {"MqttBridge": ".bridge", "broker_problem": ".probe"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

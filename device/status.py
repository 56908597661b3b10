"""The device's state for the hub (`B/state`) and the API: the engine's view plus what the store counts."""

from __future__ import annotations

from typing import Any

from .app import Pillbox
from .daemon import Daemon


def device_state(daemon: Daemon) -> dict[str, Any]:
    """Every field of `B/state` (SPEC section 9), in its order (through the façade)."""
    return Pillbox(daemon).state()


def alert_list(daemon: Daemon) -> list[dict[str, Any]]:
    """Active and acknowledged alerts as on `B/alerts`: high first, then by time."""
    return Pillbox(daemon).alerts()

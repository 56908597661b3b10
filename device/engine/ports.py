"""The engine's one port: the store that hands it its state at start and takes each step's changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from .events import Event


@dataclass
class Snapshot:
    """What the store hands the engine at start."""

    state: dict[str, Any] | None = None
    last_seq: int = 0
    last_time: dt.datetime | None = None
    open_doses: list[dict[str, Any]] = field(default_factory=list)
    closed_doses: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


class Store(Protocol):
    def load(self) -> Snapshot: ...

    def find_dose(self, dose_id: str) -> dict[str, Any] | None: ...

    def find_alert(self, alert_id: str) -> dict[str, Any] | None: ...

    def commit(
        self,
        events: list[Event],
        doses: list[dict[str, Any]],
        alerts: list[dict[str, Any]],
        state: dict[str, Any],
    ) -> None: ...

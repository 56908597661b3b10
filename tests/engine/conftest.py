"""Shared helpers for engine tests: a config from TOML text, a real store, a virtual clock."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from device.config import parse_config
from device.driver import wake_until
from device.engine.engine import Engine
from device.engine.model import Config
from device.scenario import parse_scenario
from device.simulate import Simulation
from device.store import Store

LONDON = ZoneInfo("Europe/London")

BASE_MED = """
[[medication]]
name = "Baclofen"
strength_mg = 10
stock = {stock}
taper_required = true
with_food = true
{extra}
  [[medication.plan]]
  start = "2026-11-01"
  times = {times}
  dose_mg = {dose}
{phases}
"""


def med_toml(
    *,
    stock: float = 90,
    times: str = '["08:00", "14:00", "20:00"]',
    dose: float = 10,
    extra: str = "",
    phases: str = "",
) -> str:
    return BASE_MED.format(stock=stock, times=times, dose=dose, extra=extra, phases=phases)


def config_toml(med: str | None = None, timezone: str = "Europe/London", device: str = "") -> str:
    return f'[device]\ntimezone = "{timezone}"\n{device}\n' + (med if med is not None else med_toml())


def make_config(text: str | None = None) -> Config:
    return parse_config(text if text is not None else config_toml(), "test.toml")


def local(text: str, tz: ZoneInfo = LONDON) -> dt.datetime:
    """A local time 'YYYY-MM-DDTHH:MM' as a UTC instant (first occurrence)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def simulate(config_text: str, scenario_text: str, db: Path) -> list[dict[str, Any]]:
    """Run a scenario through the real engine and store; the events as JSON objects."""
    config = make_config(config_text)
    scenario = parse_scenario(scenario_text, "scenario.toml", config.tz)
    out = io.StringIO()
    Simulation(config, scenario, out, str(db)).run()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] in types]


def brief(events: list[dict[str, Any]], *types: str) -> list[tuple[str, str]]:
    """(event_type, UTC time HH:MM on its date) pairs, to compare with a table."""
    return [(e["event_type"], e["time"][:16]) for e in of_type(events, *types)]


class Rig:
    """An engine on a real SQLite store, driven by a virtual clock the test moves."""

    def __init__(self, config_text: str, db: Path) -> None:
        self.config = make_config(config_text)
        self.db = db
        self.store = Store(str(db), durable=False)
        self.engine = Engine(self.config, self.store)
        self.events: list[dict[str, Any]] = []
        self.now: dt.datetime | None = None

    def _keep(self, events: list[Any]) -> list[dict[str, Any]]:
        from device.engine.events import to_json

        out = [to_json(e) for e in events]
        self.events.extend(out)
        return out

    def start(self, at: dt.datetime, **kw: Any) -> list[dict[str, Any]]:
        self.now = at
        return self._keep(self.engine.start(at, **kw))

    def advance(self, to: dt.datetime) -> list[dict[str, Any]]:
        """Move the virtual clock to `to`, waking the engine at every instant it asks for."""
        out: list[dict[str, Any]] = []

        def tick(wake: dt.datetime) -> None:
            out.extend(self._keep(self.engine.tick(wake)))

        wake_until(to, self.engine.next_wakeup, tick)
        out += self._keep(self.engine.tick(to))
        self.now = to
        return out

    def do(self, at: dt.datetime, action: Callable[[Engine, dt.datetime], Any]) -> Any:
        self.advance(at)
        result = action(self.engine, at)
        if isinstance(result, tuple):
            self._keep(result[-1])
            return result
        if isinstance(result, list):
            return self._keep(result)
        return result

    def restart(self, at: dt.datetime, **kw: Any) -> list[dict[str, Any]]:
        """A power cut: drop the engine and store without a word, start again from the file."""
        self.store.close()
        self.store = Store(str(self.db), durable=False)
        self.engine = Engine(self.config, self.store)
        return self.start(at, **kw)


@pytest.fixture
def rig(tmp_path: Path) -> Callable[..., Rig]:
    def make(config_text: str | None = None) -> Rig:
        return Rig(config_text if config_text is not None else config_toml(), tmp_path / "pillbox.db")

    return make


@pytest.fixture
def sim(tmp_path: Path) -> Callable[[str, str], list[dict[str, Any]]]:
    count = [0]

    def run(config_text: str, scenario_text: str) -> list[dict[str, Any]]:
        count[0] += 1
        return simulate(config_text, scenario_text, tmp_path / f"sim{count[0]}.db")

    return run

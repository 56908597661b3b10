"""A daemon on mock pins with a wall clock the test moves (APScheduler is exercised elsewhere)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from device.daemon import Daemon
from device.driver import wake_until
from device.engine.events import to_json
from device.hardware import Hardware
from device.store import Store

from ..conftest import FakeTime
from ..engine.conftest import make_config


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start
        self.mono = 5000.0

    def wall(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def step(self, **delta: float) -> None:
        """Time passes: wall and monotonic clocks move together."""
        d = dt.timedelta(**delta)
        self.now += d
        self.mono += d.total_seconds()


class Rig:
    def __init__(self, daemon: Daemon, clock: Clock, fake_time: FakeTime) -> None:
        self.daemon, self.clock, self.fake_time = daemon, clock, fake_time
        self.events: list[dict] = []
        daemon.listeners.append(lambda events: self.events.extend(to_json(e) for e in events))

    @property
    def hw(self) -> Hardware:
        return self.daemon.hardware

    def run_to(self, moment: dt.datetime) -> None:
        """Wake the daemon at every instant it asks for, up to `moment`."""

        def wake(nxt: dt.datetime) -> None:
            self.clock.step(seconds=max(0.0, (nxt - self.clock.now).total_seconds()))
            self.daemon.wake()

        wake_until(moment, self.daemon.next_wakeup, wake)
        self.clock.step(seconds=max(0.0, (moment - self.clock.now).total_seconds()))
        self.daemon.wake()

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.events]


@pytest.fixture
def daemon_rig(tmp_path: Path, mock_factory, fake_time) -> Iterator[Callable[..., Rig]]:
    made: list[Daemon] = []

    def make(config_text: str, start: dt.datetime, synced: list[bool] | None = None) -> Rig:
        sync = synced if synced is not None else [True]
        config = make_config(config_text)
        hardware = Hardware(config.hardware, mock_factory, clock=fake_time.clock, call_later=fake_time.call_later)
        clock = Clock(start)
        daemon = Daemon(
            config,
            Store(str(tmp_path / "pillbox.db"), durable=False),
            hardware,
            wall=clock.wall,
            mono=clock.monotonic,
            synchronised=lambda: sync[0],
            sleep=lambda s: clock.step(seconds=s),
        )
        made.append(daemon)
        rig = Rig(daemon, clock, fake_time)
        daemon.start(schedule=False)
        return rig

    yield make
    for daemon in made:
        daemon.stop()

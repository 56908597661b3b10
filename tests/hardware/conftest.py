"""gpiozero's own MockFactory with PWM pins, and a hand-moved clock for debounce and hold timers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from device.engine.model import HardwareConfig
from device.hardware import Hardware

from ..conftest import FakeTime


@pytest.fixture
def make_hardware(mock_factory: MockFactory, fake_time: FakeTime) -> Iterator[Callable[..., Hardware]]:
    made: list[Hardware] = []

    def make(**overrides: object) -> Hardware:
        config = HardwareConfig(**overrides)  # type: ignore[arg-type]
        hw = Hardware(config, mock_factory, clock=fake_time.clock, call_later=fake_time.call_later)
        made.append(hw)
        return hw

    yield make
    for hw in made:
        hw.close()

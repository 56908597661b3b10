"""Which gpiozero pin factory drives the pins: the configured one, the first that works, or mock."""

from __future__ import annotations

import contextlib
import glob
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from gpiozero.pins import Factory

from ..errors import PillboxError

log = logging.getLogger("device.hardware")
D = TypeVar("D")


class HardwareError(PillboxError, RuntimeError):
    """The GPIO pins cannot be used (no GPIO, no permission, unknown pin factory)."""


def make_factory(name: str) -> Factory:
    """The gpiozero pin factory for `hardware.pin_factory` (or `mock`)."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    if name == "auto" and not glob.glob("/dev/gpiochip*"):
        raise HardwareError(
            "this machine has no GPIO (no /dev/gpiochip*): run `pillbox run --mock-hardware`, "
            'or set pin_factory = "mock" in [hardware]'
        )
    order = ["lgpio", "rpigpio", "pigpio"] if name == "auto" else [name]
    problems = []
    for candidate in order:
        try:
            if candidate == "lgpio":
                from gpiozero.pins.lgpio import LGPIOFactory

                return LGPIOFactory()
            if candidate == "rpigpio":
                from gpiozero.pins.rpigpio import RPiGPIOFactory

                return RPiGPIOFactory()
            if candidate == "pigpio":
                from gpiozero.pins.pigpio import PiGPIOFactory

                return PiGPIOFactory()
        except Exception as exc:  # each factory fails in its own way (ImportError, OSError, ...)
            problems.append(f"{candidate}: {exc}")
    raise HardwareError(f"no GPIO pin factory could be used ({'; '.join(problems)})")


def is_mock(factory: Factory) -> bool:
    """Whether the pins are gpiozero's mock pins (the virtual dispenser)."""
    return type(factory).__name__ == "MockFactory"


def close_devices(devices: Iterable[Any]) -> None:
    """Turn off and release each gpiozero device; one that fails to close does not stop the others."""
    for device in devices:
        try:
            if hasattr(device, "off"):
                device.off()
            device.close()
        except Exception:
            log.debug("closing %r failed", device, exc_info=True)


@contextlib.contextmanager
def opening() -> Iterator[Callable[[D], D]]:
    """`keep(device)` for each device opened inside; if one fails, those kept are closed again."""
    made: list[Any] = []

    def keep(device: D) -> D:
        made.append(device)
        return device

    try:
        yield keep
    except Exception:
        close_devices(reversed(made))
        raise

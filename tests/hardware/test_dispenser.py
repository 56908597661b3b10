"""The composed Hardware on mock pins: pins that cannot be used, the mock controls, the pin factory."""

from __future__ import annotations

import pytest
from gpiozero import LED, PWMLED, DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from device.engine.model import HardwareConfig
from device.errors import ActionError, PillboxError
from device.hardware import Hardware, HardwareError, make_factory


@pytest.mark.parametrize(
    "clash",
    [{"alert_led": 17}, {"button": 23}],
    ids=["among-the-outputs", "among-the-inputs"],
)
def test_a_pin_used_twice_is_a_hardware_error_and_releases_the_pins_opened_before_it(mock_factory, clash):
    with pytest.raises(HardwareError, match="cannot use the GPIO pins") as caught:
        Hardware(HardwareConfig(**clash), mock_factory)  # type: ignore[arg-type]
    # Every pin is free again, while the error (whose traceback keeps the devices from the garbage
    # collector) is still held: the next Hardware (a restart, a retry) can open them.
    for device in (PWMLED(17, pin_factory=mock_factory), LED(22, pin_factory=mock_factory),
                   DigitalInputDevice(23, pin_factory=mock_factory)):  # fmt: skip
        device.close()
    assert caught.value.__cause__ is not None


def test_hardware_errors_are_pillbox_errors_and_runtime_errors():
    assert issubclass(HardwareError, PillboxError) and issubclass(HardwareError, RuntimeError)


def test_an_unknown_mock_action_is_refused_by_name(make_hardware):
    hw = make_hardware()
    with pytest.raises(ActionError, match="must be one of lid_open, lid_close, press, hold, not 'shake'"):
        hw.mock("shake")
    assert isinstance(ActionError("x"), ValueError)  # what `pillbox run --mock-hardware` catches on stdin


def test_mock_actions_move_the_virtual_lid_and_press_the_button(make_hardware, fake_time):
    hw = make_hardware()
    seen: list[str] = []
    hw.on_lid = lambda opened: seen.append("open" if opened else "closed")
    hw.on_press = lambda: seen.append("press")
    hw.mock("lid_open")
    fake_time.advance(1)
    hw.mock("lid_close")
    fake_time.advance(1)
    hw.mock("press")
    fake_time.advance(1)
    assert seen == ["open", "closed", "press"]
    assert hw.snapshot()["lid"] == "closed"


def test_the_mock_factory_is_gpiozeros_with_pwm_pins():
    factory = make_factory("mock")
    try:
        assert isinstance(factory, MockFactory)
        hw = Hardware(HardwareConfig(), factory)
        assert hw.is_mock and not hw.lid_open  # the virtual dispenser starts with its lid closed
        hw.close()
    finally:
        factory.reset()

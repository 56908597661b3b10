"""The lid and the button on mock pins: debounce in our own code, short press, 3-second hold."""

from __future__ import annotations


def record(hw):
    seen: list[str] = []
    hw.on_lid = lambda opened: seen.append("open" if opened else "closed")
    hw.on_press = lambda: seen.append("press")
    hw.on_hold = lambda: seen.append("hold")
    return seen


def test_lid_reed_switch_polarity(make_hardware, mock_factory, fake_time):
    hw = make_hardware()
    seen = record(hw)
    assert hw.lid_open is False  # the mock dispenser starts closed (pin pulled low)
    mock_factory.pin(23).drive_high()
    assert seen == ["open"] and hw.lid_open
    fake_time.advance(1)
    mock_factory.pin(23).drive_low()
    assert seen == ["open", "closed"] and not hw.lid_open


def test_pin_chatter_gives_one_opening(make_hardware, mock_factory, fake_time):
    hw = make_hardware(debounce_ms=50)
    seen = record(hw)
    pin = mock_factory.pin(23)
    for _ in range(5):  # a bouncing reed switch: 10 edges inside 10 ms
        pin.drive_high()
        fake_time.advance(0.001)
        pin.drive_low()
        fake_time.advance(0.001)
    pin.drive_high()  # and it settles open
    fake_time.advance(0.1)
    assert seen == ["open"]
    assert hw.lid_open


def test_chatter_that_settles_back_is_resynchronised(make_hardware, mock_factory, fake_time):
    hw = make_hardware(debounce_ms=50)
    seen = record(hw)
    pin = mock_factory.pin(23)
    pin.drive_high()
    fake_time.advance(0.01)
    pin.drive_low()  # inside the lockout: ignored now, read again when it ends
    assert seen == ["open"]
    fake_time.advance(0.1)
    assert seen == ["open", "closed"] and not hw.lid_open


def test_short_press_is_reported_on_release(make_hardware, mock_factory, fake_time):
    hw = make_hardware()
    seen = record(hw)
    pin = mock_factory.pin(24)
    pin.drive_low()
    fake_time.advance(0.2)
    assert seen == []
    pin.drive_high()
    fake_time.advance(5)
    assert seen == ["press"]


def test_three_second_hold_is_help_once_and_not_a_press(make_hardware, mock_factory, fake_time):
    hw = make_hardware(help_hold_seconds=3)
    seen = record(hw)
    pin = mock_factory.pin(24)
    pin.drive_low()
    fake_time.advance(2.9)
    assert seen == []
    fake_time.advance(0.2)
    assert seen == ["hold"]
    fake_time.advance(10)
    pin.drive_high()
    fake_time.advance(1)
    assert seen == ["hold"]


def test_button_chatter_gives_one_press(make_hardware, mock_factory, fake_time):
    hw = make_hardware(debounce_ms=50)
    seen = record(hw)
    pin = mock_factory.pin(24)
    for _ in range(4):
        pin.drive_low()
        fake_time.advance(0.002)
        pin.drive_high()
        fake_time.advance(0.002)
    pin.drive_low()
    fake_time.advance(0.3)
    pin.drive_high()
    fake_time.advance(0.1)
    assert seen == ["press"]


def test_errors_in_handlers_never_reach_gpiozero(make_hardware, mock_factory, fake_time):
    hw = make_hardware()

    def boom(opened):
        raise RuntimeError("handler failed")

    hw.on_lid = boom
    mock_factory.pin(23).drive_high()  # must not raise into the pin's callback
    assert hw.lid_open

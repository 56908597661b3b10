"""LEDs and buzzer on mock PWM pins: the real gpiozero devices, watched through their pins."""

from __future__ import annotations

import itertools
import time

from device.engine.prompts import Indication, Led, Sound


def wait_for(condition, timeout=5.0):
    """A bounded wait on a condition (gpiozero's blink and pulse run on real-time threads)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def change_points(pin):
    """(seconds since the first record, state) at each real change of the pin, in order.

    MockPin records each state with the time since the record before it.
    """
    out, clock, last = [], 0.0, None
    for record in pin.states:
        clock += record.timestamp
        state = float(record.state)
        if last is not None and state != last:
            out.append((clock, state))
        last = state
    return out


def changes(pin):
    return [state for _, state in change_points(pin)]


def test_due_led_pulses(make_hardware, mock_factory):
    hw = make_hardware()
    pin = mock_factory.pin(17)
    pin.clear_states()
    hw.show(Indication(Led.PULSE, Led.OFF))
    assert wait_for(lambda: any(0 < s.state < 1 for s in pin.states))
    hw.show(Indication(Led.OFF, Led.OFF))
    assert wait_for(lambda: pin.state == 0)


def test_alert_led_steady_and_off(make_hardware, mock_factory):
    hw = make_hardware()
    pin = mock_factory.pin(27)
    hw.show(Indication(Led.OFF, Led.STEADY))
    assert pin.state == 1
    hw.show(Indication(Led.OFF, Led.OFF))
    assert pin.state == 0


def test_alert_led_flashes_about_2_hz_for_high(make_hardware, mock_factory):
    hw = make_hardware()
    pin = mock_factory.pin(27)
    pin.clear_states()
    hw.show(Indication(Led.OFF, Led.HIGH))
    assert wait_for(lambda: len(changes(pin)) >= 5, timeout=3)
    stamps = [t for t, _ in change_points(pin)]
    gaps = [b - a for a, b in itertools.pairwise(stamps)][:4]
    assert all(0.15 < g < 0.4 for g in gaps), gaps  # 0.25 s on, 0.25 s off


def test_alert_led_flashes_about_half_hz_for_medium(make_hardware, mock_factory):
    hw = make_hardware()
    pin = mock_factory.pin(27)
    pin.clear_states()
    hw.show(Indication(Led.OFF, Led.MEDIUM))
    assert wait_for(lambda: len(changes(pin)) >= 2, timeout=4)
    stamps = [t for t, _ in change_points(pin)]
    assert 0.8 < stamps[1] - stamps[0] < 1.3  # 1 s on, 1 s off


def test_active_buzzer_patterns_count_their_pulses(make_hardware, mock_factory):
    hw = make_hardware(buzzer_type="active")
    pin = mock_factory.pin(22)
    for sound, pulses in ((Sound.MEDIUM, 3), (Sound.LOW, 2), (Sound.HIGH, 10), (Sound.BEEP, 1)):
        pin.clear_states()
        hw.sound(sound)
        assert wait_for(lambda: not hw.sounding, timeout=5)
        rises = [s for s in changes(pin) if s]
        assert len(rises) == pulses, sound
        assert pin.state == 0


def test_tonal_buzzer_plays_a_tone(make_hardware, mock_factory):
    hw = make_hardware(buzzer_type="tonal")
    pin = mock_factory.pin(22)
    hw.sound(Sound.HIGH)
    assert wait_for(lambda: pin.frequency == 880.0, timeout=2)
    hw.silence()
    assert not hw.sounding and pin.state == 0


def test_silence_stops_a_pattern_at_once(make_hardware, mock_factory):
    hw = make_hardware()
    hw.sound(Sound.HIGH)
    assert hw.sounding
    hw.silence()
    assert not hw.sounding and mock_factory.pin(22).state == 0


def test_progress_blinks_once_per_dose_taken_today(make_hardware, mock_factory):
    hw = make_hardware()
    pin = mock_factory.pin(17)
    pin.clear_states()
    hw.progress(3)
    assert wait_for(lambda: len([c for c in changes(pin) if c]) == 3 and pin.state == 0, timeout=4)


def test_close_turns_everything_off(make_hardware, mock_factory):
    hw = make_hardware()
    hw.show(Indication(Led.PULSE, Led.STEADY))
    hw.sound(Sound.HIGH)
    hw.close()
    assert mock_factory.pin(27).state == 0 and mock_factory.pin(22).state == 0

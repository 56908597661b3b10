"""What the patient sees and hears through the daemon (SPEC section 6), on mock pins."""

from __future__ import annotations

from device.engine.prompts import Led, Sound

from ..engine.conftest import config_toml, local, med_toml


def test_due_dose_pulses_and_sounds_low_every_ten_minutes(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    assert rig.hw.indication.due_led is Led.OFF
    rig.run_to(local("2026-11-02T08:00"))
    assert rig.hw.indication.due_led is Led.PULSE
    assert rig.hw.indication.alert_led is Led.OFF
    assert (rig.hw.last_sound, rig.hw.sounds_played) == (Sound.LOW, 1)
    rig.run_to(local("2026-11-02T08:09"))
    assert rig.hw.sounds_played == 1
    rig.run_to(local("2026-11-02T08:10"))
    assert rig.hw.sounds_played == 2


def test_overdue_flashes_medium_and_sounds_every_five_minutes_until_missed(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T09:00"))
    assert rig.hw.indication.alert_led is Led.MEDIUM
    assert rig.hw.last_sound is Sound.MEDIUM
    count = rig.hw.sounds_played
    rig.run_to(local("2026-11-02T09:59"))
    assert rig.hw.sounds_played == count + 11  # 09:05 ... 09:55
    rig.run_to(local("2026-11-02T10:00"))
    assert "dose_missed" in rig.types()
    assert rig.hw.indication.due_led is Led.OFF
    rig.run_to(local("2026-11-02T11:00"))
    assert rig.hw.sounds_played == count + 11  # the missed dose's prompts stopped
    assert rig.hw.indication.alert_led is Led.MEDIUM  # the unacknowledged missed-dose alert


def test_due_during_a_stop_episode_is_high_every_two_minutes(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T16:00"))
    assert "intake_stopped" in rig.types()
    assert rig.hw.indication.alert_led is Led.HIGH
    rig.run_to(local("2026-11-02T20:00"))
    assert rig.hw.last_sound is Sound.HIGH
    count = rig.hw.sounds_played
    rig.run_to(local("2026-11-02T20:07"))
    assert rig.hw.sounds_played == count + 3  # 20:02, 20:04, 20:06
    rig.hw.mock_lid(True)  # the patient takes it
    rig.fake_time.advance(1)
    rig.hw.mock_lid(False)
    assert "dose_taken" in rig.types() and "intake_resumed" in rig.types()
    assert rig.hw.indication.due_led is Led.OFF
    rig.run_to(local("2026-11-02T20:30"))
    assert rig.hw.sounds_played == count + 3


def test_lid_opening_takes_the_due_dose(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T08:03"))
    rig.hw.mock_lid(True)
    rig.fake_time.advance(1)
    rig.hw.mock_lid(False)
    taken = [e for e in rig.events if e["event_type"] == "dose_taken"]
    assert [(e["source"], e["time"]) for e in taken] == [("lid", "2026-11-02T08:03:00+00:00")]
    assert rig.hw.indication.due_led is Led.OFF


def test_lid_chatter_gives_one_intake(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T08:03"))
    pin = rig.daemon.hardware.factory.pin(23)
    for _ in range(6):
        pin.drive_high()
        rig.fake_time.advance(0.003)
        pin.drive_low()
        rig.fake_time.advance(0.003)
    pin.drive_high()
    rig.fake_time.advance(0.2)
    assert rig.types().count("dose_taken") == 1
    assert "extra_access" not in rig.types()


def test_hold_three_seconds_asks_for_help_with_a_confirmation_beep(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T11:00"))
    rig.hw.mock_button(True)
    rig.fake_time.advance(3.1)
    rig.hw.mock_button(False)
    assert rig.types()[-1] == "help_requested"
    assert rig.hw.last_sound is Sound.BEEP
    assert rig.hw.indication.alert_led is Led.HIGH


def test_quiet_hours_mute_a_high_alert_but_not_a_night_dose(daemon_rig):
    med = med_toml(times='["08:00", "23:00"]', stock=1)
    rig = daemon_rig(config_toml(med), local("2026-11-02T22:30"))  # quiet hours 22:00-07:00
    rig.run_to(local("2026-11-02T23:00"))
    assert (rig.hw.last_sound, rig.hw.sounds_played) == (Sound.LOW, 1)  # a prescribed night dose prompts
    rig.run_to(local("2026-11-02T23:05"))
    rig.hw.mock_lid(True)  # the last tablet: stock_out (high) is raised at once
    rig.fake_time.advance(1)
    rig.hw.mock_lid(False)
    assert "stock_out" in rig.types()
    assert rig.hw.indication.alert_led is Led.HIGH
    assert rig.hw.sounds_played == 1  # ... but it does not sound at night
    rig.daemon.call(lambda engine, now: engine.hold(now))
    assert rig.hw.last_sound is Sound.BEEP  # help is confirmed even at night


def test_high_alert_bursts_once_outside_quiet_hours(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T15:59"))
    played = rig.hw.sounds_played
    rig.run_to(local("2026-11-02T16:00"))  # intake_stopped, no dose due
    assert rig.hw.last_sound is Sound.HIGH and rig.hw.sounds_played == played + 1
    rig.run_to(local("2026-11-02T19:59"))
    assert rig.hw.sounds_played == played + 1


def test_silence_keeps_the_leds_and_a_newer_alert_sounds_again(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T08:00"))
    played = rig.hw.sounds_played
    rig.daemon.silence()
    rig.run_to(local("2026-11-02T08:09"))
    assert rig.hw.sounds_played == played
    assert rig.hw.indication.due_led is Led.PULSE  # the LED is never silenced
    rig.run_to(local("2026-11-02T08:10"))  # the 10 minutes are over: the rhythm resumes
    assert rig.hw.sounds_played == played + 1
    rig.daemon.silence()
    rig.daemon.call(lambda engine, now: engine.hold(now))  # a newer alert
    assert rig.hw.last_sound is Sound.BEEP


def test_press_with_nothing_due_shows_progress(daemon_rig):
    rig = daemon_rig(config_toml(), local("2026-11-02T07:30"))
    rig.run_to(local("2026-11-02T08:01"))
    rig.hw.mock_lid(True)
    rig.fake_time.advance(1)
    rig.hw.mock_lid(False)
    rig.run_to(local("2026-11-02T11:00"))
    from ..hardware.test_outputs import changes, wait_for

    assert wait_for(lambda: not rig.hw.sounding)  # the 08:00 pattern has finished playing
    pin = rig.daemon.hardware.factory.pin(17)
    pin.clear_states()
    rig.fake_time.advance(1)
    rig.hw.mock_button(True)
    rig.fake_time.advance(0.2)
    rig.hw.mock_button(False)
    assert "dose_taken" in rig.types() and rig.types().count("dose_taken") == 1
    assert wait_for(lambda: [c for c in changes(pin) if c] == [1.0] and pin.state == 0, timeout=3)

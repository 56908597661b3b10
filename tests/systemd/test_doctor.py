"""`pillbox doctor`: every line healthy and broken; exit 0 (OK/WARN), 1 (a FAIL), 2 (config does not load)."""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.doctor import CREDENTIAL, System, run_doctor
from device.store import Store

from ..mqtt.broker import Broker, make_certificates

MED = """
[[medication]]
name = "Baclofen"
strength_mg = 10
taper_required = true
  [[medication.plan]]
  start = "2026-01-01"
  times = ["08:00", "20:00"]
  dose_mg = 10
"""
ABRUPT_STOP = """
  [[medication.plan]]
  start = "2026-02-01"
  dose_mg = 0
"""
ME = pwd.getpwuid(os.geteuid()).pw_name
AS_ROOT = os.geteuid() == 0


def healthy_system(**changes: object) -> System:
    """The parts that a test machine cannot make healthy for real: a synchronised clock, no systemd."""
    parts: dict[str, object] = {
        "clock_synchronised": lambda: True,
        "systemd_running": lambda: False,
        "service_user": ME,
        "broker_timeout": 3.0,
    }
    parts.update(changes)
    return System(**parts)  # type: ignore[arg-type]


def write_config(tmp_path: Path, *, mqtt: str = "enabled = false", hardware: str = 'pin_factory = "mock"',
                 state: Path | None = None, med: str = MED) -> Path:  # fmt: skip
    state_dir = state if state is not None else tmp_path / "state"
    path = tmp_path / "pillbox.toml"
    path.write_text(
        f'[device]\ntimezone = "UTC"\nstate_dir = "{state_dir}"\n[hardware]\n{hardware}\n[mqtt]\n{mqtt}\n{med}'
    )
    return path


def doctor(config: Path | None, system: System, environ: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_doctor(str(config) if config else None, environ or {}, system=system, out=out, err=err)
    return code, out.getvalue().splitlines(), err.getvalue()


ORDER = ["config", "GPIO", "MQTT", "clock", "state directory", "disk", "database", "service"]


def line(lines: list[str], check: str) -> str:
    """The line of one check (they come in a fixed order)."""
    assert len(lines) == len(ORDER), lines
    return lines[ORDER.index(check)]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


# ------------------------------------------------------------------------------- the whole run


def test_a_healthy_dispenser_gets_eight_ok_lines_and_exit_0(tmp_path, state):
    code, lines, err = doctor(write_config(tmp_path), healthy_system())
    assert code == 0 and err == ""
    assert len(lines) == 8 and all(text.startswith("OK  ") for text in lines), lines


def test_the_config_is_found_through_pillbox_config(tmp_path, state):
    code, lines, _ = doctor(None, healthy_system(), {"PILLBOX_CONFIG": str(write_config(tmp_path))})
    assert code == 0 and str(tmp_path / "pillbox.toml") in lines[0]


def test_one_failure_makes_exit_1_and_every_other_line_still_printed(tmp_path, state):
    code, lines, _ = doctor(write_config(tmp_path), healthy_system(clock_synchronised=lambda: False))
    assert code == 1 and len(lines) == 8
    assert [text.split()[0] for text in lines].count("FAIL") == 1


# ------------------------------------------------------------------------------- config


def test_config_with_plan_warnings_is_a_warning_not_a_failure(tmp_path, state):
    code, lines, _ = doctor(write_config(tmp_path, med=MED + ABRUPT_STOP), healthy_system())
    assert code == 0
    assert line(lines, "config").startswith("WARN config file") and "pillbox check" in lines[0]


def test_a_config_that_does_not_load_exits_2_with_its_problems_on_stderr(tmp_path):
    path = write_config(tmp_path, hardware='pin_factory = "mock"\ndue_leds = 5')
    code, lines, err = doctor(path, healthy_system())
    assert code == 2
    assert lines == [f"FAIL config file {path} does not load: fix the problems listed below"]
    assert "due_leds" in err and "due_led" in err


# ------------------------------------------------------------------------------- GPIO


def test_gpio_mock_configured_is_ok(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert line(lines, "GPIO").startswith('OK  GPIO: mock pins configured (pin_factory = "mock")')


def test_gpio_a_pin_factory_that_cannot_load_fails_with_the_reason(tmp_path, state):
    code, lines, _ = doctor(write_config(tmp_path, hardware='pin_factory = "pigpio"'), healthy_system())
    text = line(lines, "GPIO")
    assert code == 1 and text.startswith("FAIL GPIO not usable: no GPIO pin factory could be used (pigpio:")
    assert "python3-lgpio" in text


def test_gpio_a_factory_that_loads_is_ok_and_chips_the_gpio_group_cannot_use_are_a_warning(tmp_path, state):
    chip = tmp_path / "gpiochip0"
    chip.write_text("")
    factory = lambda name: MockFactory(pin_class=MockPWMPin)  # noqa: E731 - the only allowed fake of GPIO
    mine = os.stat(chip).st_gid
    chip.chmod(0o660)
    ok = healthy_system(make_factory=factory, gpio_devices=lambda: [str(chip)], group_id=lambda name: mine)
    _, lines, _ = doctor(write_config(tmp_path, hardware='pin_factory = "lgpio"'), ok)
    assert line(lines, "GPIO") == "OK  GPIO: the MockFactory pin factory loads"

    chip.chmod(0o600)
    code, lines, _ = doctor(write_config(tmp_path, hardware='pin_factory = "lgpio"'), ok)
    assert code == 0 and line(lines, "GPIO").startswith("WARN GPIO: MockFactory loads, but")
    assert 'GROUP="gpio"' in lines[1]


# ------------------------------------------------------------------------------- broker


def test_broker_mqtt_disabled_is_ok(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert line(lines, "MQTT") == "OK  MQTT disabled ([mqtt] enabled = false)"


def test_broker_reachable_is_ok_and_not_listening_fails(tmp_path, state):
    broker = Broker(tmp_path / "broker").start()
    try:
        mqtt = f'host = "127.0.0.1"\nport = {broker.port}'
        _, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
        assert line(lines, "MQTT") == f"OK  MQTT broker 127.0.0.1:{broker.port} accepts the dispenser"
    finally:
        broker.stop()
    code, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
    assert code == 1
    assert line(lines, "MQTT").startswith(f"FAIL MQTT broker 127.0.0.1:{broker.port}: nothing listens there: is the")


def test_broker_password_right_wrong_and_unreadable(tmp_path, state):
    broker = Broker(tmp_path / "broker", users={"pillbox": "s3cret-pw"}).start()
    secret = tmp_path / "mqtt-password"
    mqtt = f'host = "127.0.0.1"\nport = {broker.port}\nusername = "pillbox"\npassword_file = "{secret}"'
    try:
        secret.write_text("s3cret-pw\n")
        _, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
        assert line(lines, "MQTT") == f"OK  MQTT broker 127.0.0.1:{broker.port} accepts the dispenser as pillbox"

        secret.write_text("wrong-pw\n")
        code, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
        text = line(lines, "MQTT")
        assert code == 1 and text.startswith(f"FAIL MQTT broker 127.0.0.1:{broker.port} as pillbox: the broker refused")
        assert "password" in text and "wrong-pw" not in text and "s3cret" not in text

        secret.unlink()
        code, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
        assert code == 1 and f"the password file {secret} cannot be read" in line(lines, "MQTT")
    finally:
        broker.stop()


def test_broker_password_of_the_service_credential_is_read_from_its_source_outside_the_service(tmp_path, state):
    broker = Broker(tmp_path / "broker", users={"pillbox": "s3cret-pw"}).start()
    source = tmp_path / "etc-mqtt-password"
    source.write_text("s3cret-pw\n")
    mqtt = f'host = "127.0.0.1"\nport = {broker.port}\nusername = "pillbox"\npassword_file = "{CREDENTIAL}"'
    try:
        system = healthy_system(credential_sources={CREDENTIAL: str(source)})
        code, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), system)
        assert code == 0 and line(lines, "MQTT").startswith("OK  MQTT broker")
    finally:
        broker.stop()


def test_broker_tls_verified_is_ok_and_an_unknown_authority_fails(tmp_path, state):
    certs = make_certificates(tmp_path / "certs")
    other = make_certificates(tmp_path / "other")
    broker = Broker(tmp_path / "broker", tls=certs).start()
    try:
        mqtt = f'host = "127.0.0.1"\nport = {broker.port}\ntls = true\nca_file = "{certs["ca.crt"]}"'
        _, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
        assert line(lines, "MQTT") == f"OK  MQTT broker 127.0.0.1:{broker.port} accepts the dispenser over TLS"

        mqtt = f'host = "127.0.0.1"\nport = {broker.port}\ntls = true\nca_file = "{other["ca.crt"]}"'
        code, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
        assert code == 1 and "over TLS: TLS failed" in line(lines, "MQTT")
    finally:
        broker.stop()


# ------------------------------------------------------------------------------- clock


def test_clock_synchronised_ok_and_unsynchronised_fails(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert line(lines, "clock") == "OK  clock synchronised"
    code, lines, _ = doctor(write_config(tmp_path), healthy_system(clock_synchronised=lambda: False))
    assert code == 1 and line(lines, "clock").startswith("FAIL clock not synchronised")
    assert "timedatectl set-ntp true" in lines[3]


# ------------------------------------------------------------------------------- state directory


def test_state_dir_writable_is_ok(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert line(lines, "state directory") == f"OK  state directory {state} is writable by {ME}"
    assert list(state.iterdir()) == []  # the probe file is gone


def test_state_dir_missing_or_not_a_directory_fails(tmp_path):
    code, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert code == 1 and line(lines, "state directory").startswith(f"FAIL state directory {tmp_path / 'state'} does")
    (tmp_path / "state").write_text("")
    code, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert code == 1 and "is not a directory" in line(lines, "state directory")


def test_state_dir_not_writable_by_the_service_user_fails(tmp_path, state):
    state.chmod(0o555)
    user = "nobody" if AS_ROOT else ME  # as root the doctor checks as the service's user
    try:
        code, lines, _ = doctor(write_config(tmp_path), healthy_system(service_user=user))
    finally:
        state.chmod(0o755)
    text = line(lines, "state directory")
    assert code == 1 and text.startswith(f"FAIL state directory {state} is not writable by {user}")
    assert f"sudo chown -R {user}: {state}" in text


def test_state_dir_outside_var_lib_pillbox_under_systemd_is_a_warning(tmp_path, state):
    system = healthy_system(systemd_running=lambda: True, systemctl=None)
    code, lines, _ = doctor(write_config(tmp_path), system)
    assert code == 0 and line(lines, "state directory").startswith("WARN ")
    assert "ReadWritePaths=" in lines[4]


# ------------------------------------------------------------------------------- disk


def test_disk_plenty_ok_under_100_mb_warns_under_20_mb_fails(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert line(lines, "disk").startswith("OK  disk: ")
    code, lines, _ = doctor(write_config(tmp_path), healthy_system(disk_free=lambda path: 50 * 1024 * 1024))
    assert code == 0 and line(lines, "disk").startswith(f"WARN disk: 50 MB free for {state} (under 100 MB)")
    code, lines, _ = doctor(write_config(tmp_path), healthy_system(disk_free=lambda path: 10 * 1024 * 1024))
    assert code == 1 and line(lines, "disk").startswith(f"FAIL disk: 10 MB free for {state} (under 20 MB")


def test_disk_is_measured_on_the_nearest_existing_folder_before_the_first_start(tmp_path):
    seen: list[str] = []
    system = healthy_system(disk_free=lambda path: seen.append(path) or 10**9)
    doctor(write_config(tmp_path), system)
    assert seen == [str(tmp_path)]


# ------------------------------------------------------------------------------- database


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_database_none_yet_is_ok(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert (
        line(lines, "database") == f"OK  database: no database yet at {state / 'pillbox.db'} (made at the first start)"
    )


def test_database_sound_is_ok_and_left_untouched(tmp_path, state):
    Store(str(state / "pillbox.db")).close()
    before = digest(state / "pillbox.db")
    _, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert line(lines, "database") == f"OK  database {state / 'pillbox.db'} passes the integrity check"
    assert digest(state / "pillbox.db") == before
    assert sorted(p.name for p in state.iterdir()) == ["pillbox.db"]


def damage(path: Path, rows: int, leaves: int, span: tuple[int, int]) -> None:
    """A database whose index leaf pages (the first `leaves`) no longer match their table, in bytes
    `span` (from the start and before the end of each page)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    db.execute("CREATE INDEX tb ON t (b)")
    db.executemany("INSERT INTO t (b) VALUES (?)", [(f"v{i:05d}",) for i in range(rows)])
    db.commit()
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    for leaf in [p for p in range(1, len(data) // page) if data[p * page] == 0x0A][:leaves]:  # index leaves
        for i in range(leaf * page + span[0], leaf * page + page - span[1]):
            data[i] = ord("w") if data[i] == ord("v") else data[i]
    path.write_bytes(bytes(data))


def test_database_damaged_fails_with_the_first_problem(tmp_path, state):
    path = state / "pillbox.db"
    damage(path, rows=2000, leaves=1, span=(4096 - 200, 100))
    code, lines, _ = doctor(write_config(tmp_path), healthy_system())
    text = line(lines, "database")
    assert code == 1 and text.startswith(f"FAIL database {path} is damaged (row ")
    assert "missing from index tb" in text and "restore the last backup" in text


def test_database_that_is_not_sqlite_fails(tmp_path, state):
    (state / "pillbox.db").write_bytes(b"this is not a database" * 100)
    code, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert code == 1 and "cannot be read (file is not a database)" in line(lines, "database")


@pytest.mark.skipif(not AS_ROOT, reason="only root can act as the database's owner")
def test_database_is_checked_as_its_owner_leaving_no_root_owned_files(short_dir):
    nobody = pwd.getpwnam("nobody")
    short_dir.chmod(0o755)
    state = short_dir / "state"
    state.mkdir()
    Store(str(state / "pillbox.db")).close()
    for path in (state, state / "pillbox.db"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    code, lines, _ = doctor(write_config(short_dir, state=state), healthy_system(service_user="nobody"))
    assert code == 0 and line(lines, "database").startswith("OK  database")
    assert {p.stat().st_uid for p in state.iterdir()} == {nobody.pw_uid}


# ------------------------------------------------------------------------------- service


def fake_systemctl(load: str, active: str, sub: str, enabled: str):
    calls: list[Sequence[str]] = []

    def systemctl(args: Sequence[str]) -> tuple[int, str]:
        calls.append(list(args))
        return 0, f"LoadState={load}\nActiveState={active}\nSubState={sub}\nUnitFileState={enabled}\n"

    return systemctl, calls


def under_systemd(tmp_path: Path, *state: str) -> tuple[int, str, list[Sequence[str]]]:
    systemctl, calls = fake_systemctl(*state)
    system = healthy_system(systemd_running=lambda: True, systemctl=systemctl)
    code, lines, _ = doctor(write_config(tmp_path, state=Path("/var/lib/pillbox-doctor-test")), system)
    return code, line(lines, "service"), calls


def test_service_not_under_systemd_is_skipped(tmp_path, state):
    _, lines, _ = doctor(write_config(tmp_path), healthy_system(systemctl=None, systemd_running=lambda: True))
    assert line(lines, "service") == "OK  service: not under systemd (check skipped)"


def test_service_active_and_enabled_is_ok(tmp_path):
    _, text, calls = under_systemd(tmp_path, "loaded", "active", "running", "enabled")
    assert text == "OK  service pillbox is active and enabled"
    assert calls == [["show", "--property=LoadState,ActiveState,SubState,UnitFileState", "pillbox"]]


def test_service_failed_fails_and_points_at_the_journal(tmp_path):
    code, text, _ = under_systemd(tmp_path, "loaded", "failed", "failed", "enabled")
    assert code == 1 and text.startswith("FAIL service pillbox is failed (failed): see `journalctl -u pillbox -e`")


def test_service_not_installed_fails(tmp_path):
    code, text, _ = under_systemd(tmp_path, "not-found", "inactive", "dead", "")
    assert code == 1 and text == "FAIL service pillbox is not installed: run systemd/install.sh (see docs/install.md)"


def test_service_starting_or_not_enabled_is_a_warning(tmp_path):
    _, text, _ = under_systemd(tmp_path, "loaded", "activating", "start", "enabled")
    assert text.startswith("WARN service pillbox is starting (start)")
    _, text, _ = under_systemd(tmp_path, "loaded", "active", "running", "disabled")
    assert text.startswith("WARN service pillbox is active but disabled: it will not start at boot")


def test_a_check_that_crashes_is_one_failed_line_not_a_traceback(tmp_path, state):
    def broken() -> bool:
        raise OSError("adjtimex unavailable")

    code, lines, _ = doctor(write_config(tmp_path), healthy_system(clock_synchronised=broken))
    assert code == 1 and len(lines) == 8
    assert line(lines, "clock").startswith("FAIL clock: the check itself failed (OSError('adjtimex unavailable'))")


def test_a_service_that_keeps_crashing_fails(tmp_path):
    # Found in review: with Restart=on-failure and no start limit, a crash loop sits in auto-restart.
    code, text, _ = under_systemd(tmp_path, "loaded", "activating", "auto-restart", "enabled")
    assert code == 1 and text.startswith("FAIL service pillbox keeps crashing and restarting")


def test_a_damaged_database_is_one_line(tmp_path, state):
    # Found in review: SQLite's report of many problems came out on many lines.
    path = state / "pillbox.db"
    damage(path, rows=5000, leaves=3, span=(100, 8))
    code, lines, _ = doctor(write_config(tmp_path), healthy_system())
    assert code == 1 and len(lines) == 8
    assert "\n" not in line(lines, "database") and "damaged" in line(lines, "database")


def test_advice_fits_the_setup(tmp_path):
    # Found in review: a missing non-default state directory was told systemd would make it, and a
    # missing password file was told to check the setting that pointed at it.
    code, lines, _ = doctor(write_config(tmp_path, state=tmp_path / "elsewhere"), healthy_system())
    assert code == 1 and "start the service once" not in line(lines, "state directory")
    assert f"install -d -o {ME} -g {ME} -m 750 {tmp_path / 'elsewhere'}" in line(lines, "state directory")
    (tmp_path / "state").mkdir()
    mqtt = f'host = "127.0.0.1"\nport = 1\nusername = "pillbox"\npassword_file = "{tmp_path / "nope"}"'
    _, lines, _ = doctor(write_config(tmp_path, mqtt=mqtt), healthy_system())
    assert f"put the broker password alone in {tmp_path / 'nope'}" in line(lines, "MQTT")

"""systemd/pillbox.service: `systemd-analyze verify` prints nothing but the absent program; the promised settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from device.daemon import HEARTBEAT_SECONDS

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "pillbox.service"
PROGRAM = "/opt/pillbox/venv/bin/pillbox"
ABSENT = f"pillbox.service: Command {PROGRAM} is not executable: No such file or directory"


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.fail("systemd-analyze is missing: install the Debian package 'systemd'")
    return subprocess.run([program, *args], capture_output=True, text=True, timeout=120)


def verify(text: str, folder: Path) -> list[str]:
    """What `systemd-analyze verify` prints about the unit (its exit status says little: read the words)."""
    folder.mkdir(exist_ok=True)
    path = folder / "pillbox.service"
    path.write_text(text)
    done = analyze("verify", "--man=no", str(path))
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_verify_prints_no_warning_but_the_absent_program(tmp_path):
    printed = verify(UNIT.read_text(), tmp_path / "as-is")
    assert printed in ([], [ABSENT]), printed
    ours = UNIT.read_text().replace(f"ExecStart={PROGRAM}", "ExecStart=/bin/true")
    assert verify(ours, tmp_path / "with-a-program") == []


def test_verify_output_is_what_catches_a_misspelt_key(tmp_path):
    broken = UNIT.read_text().replace(f"ExecStart={PROGRAM}", "ExecStart=/bin/true")
    printed = verify(broken.replace("WatchdogSec=", "WatchdgSec="), tmp_path)
    assert any("Unknown key 'WatchdgSec'" in line for line in printed), printed


def test_the_promised_settings():
    s = settings()
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert s["ExecStart"] == [f"{PROGRAM} run --config /etc/pillbox/pillbox.toml"]
    assert s["User"] == ["pillbox"] and s["SupplementaryGroups"] == ["gpio"]
    assert s["StateDirectory"] == ["pillbox"] and s["RuntimeDirectory"] == ["pillbox"]
    assert s["WorkingDirectory"] == ["/var/lib/pillbox"]  # lgpio writes its files there
    assert s["After"] == s["Wants"] == ["network-online.target"]
    assert s["LoadCredential"] == ["mqtt-password:/etc/pillbox/mqtt-password"]
    assert s["ProtectSystem"] == ["strict"] and s["ProtectHome"] == ["yes"]
    assert s["PrivateTmp"] == ["yes"] and s["NoNewPrivileges"] == ["yes"]
    assert s["DeviceAllow"] == ["char-gpiochip rw"] and s["CapabilityBoundingSet"] == [""]
    assert "@system-service" in s["SystemCallFilter"]
    # glibc's adjtimex() is the clock_adjtime system call (found in review): both must pass the filter
    assert "adjtimex clock_adjtime clock_adjtime64" in s["SystemCallFilter"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert "PrivateDevices" not in s  # it would hide /dev/gpiochip*
    assert "ProtectClock" not in s  # it blocks adjtimex, which reads the kernel's clock sync status


def test_the_watchdog_allows_missed_heartbeats_and_start_up_allows_the_clock_wait():
    s = settings()
    watchdog = int(re.fullmatch(r"(\d+)s", s["WatchdogSec"][0]).group(1))  # type: ignore[union-attr]
    assert watchdog >= 3 * HEARTBEAT_SECONDS
    assert s["TimeoutStartSec"] == ["15min"]  # clock_sync_wait_minutes is 10 by default


def test_the_hardening_keeps_a_low_exposure_score(tmp_path):
    copy = tmp_path / "pillbox.service"
    copy.write_text(UNIT.read_text())
    done = analyze("security", "--offline=yes", "--no-pager", str(copy))
    score = re.search(r"Overall exposure level for pillbox\.service: ([\d.]+)", done.stdout)
    assert score is not None, done.stdout + done.stderr
    assert float(score.group(1)) <= 3.0, done.stdout

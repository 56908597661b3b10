"""`pillbox doctor`: one line per check of an installed dispenser, each OK or what to fix.

Every check reads the real machine through `System`, whose parts a test may replace. Run as root,
the doctor checks the state directory and the database as the user who owns them (the service's
user), so that it neither reports root's rights nor leaves root-owned SQLite side files behind.
"""

from __future__ import annotations

import contextlib
import enum
import glob
import grp
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .clock import clock_synchronised
from .engine.model import Config, MqttConfig
from .engine.planwarn import plan_warnings
from .errors import ConfigError
from .hardware import HardwareError, make_factory

MB = 1024 * 1024
DISK_WARN, DISK_FAIL = 100 * MB, 20 * MB
SERVICE_STATE_DIR = "/var/lib/pillbox"  # the only place the unit lets the service write (ProtectSystem=strict)
CREDENTIAL = "/run/credentials/pillbox.service/mqtt-password"


class Level(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Line:
    level: Level
    what: str
    fix: str = ""

    def __str__(self) -> str:
        if self.level is Level.OK:
            return f"OK  {self.what}"
        return f"{self.level} {self.what}: {self.fix}"


def _systemctl(args: Sequence[str]) -> tuple[int, str]:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=15, check=False)
    return done.returncode, done.stdout


def _disk_free(path: str) -> int:
    return shutil.disk_usage(path).free


def _group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


@dataclass
class System:
    """What the doctor looks at; tests replace parts of it."""

    clock_synchronised: Callable[[], bool] = clock_synchronised
    disk_free: Callable[[str], int] = _disk_free
    systemd_running: Callable[[], bool] = lambda: os.path.isdir("/run/systemd/system")
    systemctl: Callable[[Sequence[str]], tuple[int, str]] | None = field(
        default_factory=lambda: _systemctl if shutil.which("systemctl") else None
    )
    make_factory: Callable[[str], Any] = make_factory
    gpio_devices: Callable[[], list[str]] = lambda: sorted(glob.glob("/dev/gpiochip*"))
    group_id: Callable[[str], int | None] = _group_id
    service: str = "pillbox"
    service_user: str = "pillbox"
    broker_timeout: float = 5.0
    # Where the unit's LoadCredential= reads a credential from, for when the doctor runs outside it.
    credential_sources: Mapping[str, str] = field(default_factory=lambda: {CREDENTIAL: "/etc/pillbox/mqtt-password"})


def run_doctor(
    config_path: str | None,
    environ: Mapping[str, str],
    *,
    system: System | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print one line per check; 0 when nothing failed, 1 when something did, 2 for a config that does not load."""
    from .config import find_config_path, load_config

    sysm = system or System()
    out, err = out or sys.stdout, err or sys.stderr
    path = find_config_path(config_path, environ)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(Line(Level.FAIL, f"config file {path} does not load", "fix the problems listed below"), file=out)
        out.flush()
        for problem in exc.problems:
            print(problem, file=err)
        return 2
    failed = False
    checks: list[tuple[str, Callable[[], Line]]] = [
        ("config", lambda: check_config(config)),
        ("GPIO", lambda: check_gpio(config, sysm)),
        ("MQTT", lambda: check_broker(config.mqtt, config.device.id, sysm)),
        ("clock", lambda: check_clock(sysm)),
        ("state directory", lambda: check_state_dir(config.device.state_dir, sysm)),
        ("disk", lambda: check_disk(config.device.state_dir, sysm)),
        ("database", lambda: check_database(config, sysm)),
        ("service", lambda: check_service(sysm)),
    ]
    for name, check in checks:
        try:
            line = check()
        except Exception as exc:  # one broken check must not hide the others
            line = Line(Level.FAIL, f"{name}: the check itself failed ({exc!r})", "see the message; run as root")
        failed = failed or line.level is Level.FAIL
        print(line, file=out)
        out.flush()
    return 1 if failed else 0


# ------------------------------------------------------------------------------- the checks


def check_config(config: Config) -> Line:
    warnings = sum(len(plan_warnings(med)) for med in config.medications)
    if warnings:
        return Line(
            Level.WARN,
            f"config file {config.path} is valid, with {warnings} plan warning{'s' if warnings > 1 else ''}",
            "read them with `pillbox check`; prescriber_confirmed = true silences a step the prescriber confirmed",
        )
    return Line(Level.OK, f"config file {config.path} is valid")


def check_gpio(config: Config, sysm: System) -> Line:
    name = config.hardware.pin_factory
    if name == "mock":
        return Line(
            Level.OK, 'GPIO: mock pins configured (pin_factory = "mock"); no LED, buzzer, lid or button is used'
        )
    try:
        factory = sysm.make_factory(name)
    except HardwareError as exc:
        return Line(
            Level.FAIL,
            f"GPIO not usable: {exc}",
            "on a Raspberry Pi install python3-lgpio (sudo apt install python3-lgpio) and re-run "
            "systemd/install.sh with --system-site-packages",
        )
    kind = type(factory).__name__
    with contextlib.suppress(Exception):
        factory.close()
    gid = sysm.group_id("gpio")
    chips = sysm.gpio_devices()
    if chips and not any(_group_rw(chip, gid) for chip in chips):
        return Line(
            Level.WARN,
            f"GPIO: {kind} loads, but {', '.join(chips)} cannot be used by the group gpio (the service's)",
            'add a udev rule: SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"',
        )
    return Line(Level.OK, f"GPIO: the {kind} pin factory loads")


def _group_rw(path: str, gid: int | None) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return gid is not None and st.st_gid == gid and st.st_mode & 0o060 == 0o060


def check_broker(m: MqttConfig, device_id: str, sysm: System) -> Line:
    if not m.enabled:
        return Line(Level.OK, "MQTT disabled ([mqtt] enabled = false)")
    where = f"MQTT broker {m.host}:{m.port}"
    password = None
    source = ""
    if m.username and m.password_file:
        source = m.password_file
        if not os.path.exists(source) and source in sysm.credential_sources:
            source = sysm.credential_sources[source]  # the service's credential exists only while it runs
        try:
            with open(source, encoding="utf-8") as f:
                password = f.read().rstrip("\r\n")
        except OSError as exc:
            fix = (
                f"put the broker password alone in {source} (sudo chmod 600 {source})"
                if isinstance(exc, FileNotFoundError)
                else "run the doctor as root (sudo pillbox doctor)"
            )
            return Line(Level.FAIL, f"{where}: the password file {source} cannot be read ({exc.strerror or exc})", fix)
    from .mqtt.probe import broker_problem

    problem = broker_problem(m, f"pillbox-{device_id}-doctor", password, sysm.broker_timeout)
    who = f" as {m.username}" if m.username else ""
    via = " over TLS" if m.tls else ""
    if problem is None:
        return Line(Level.OK, f"{where} accepts the dispenser{who}{via}")
    reason, fix = problem
    return Line(Level.FAIL, f"{where}{who}{via}: {reason}", fix)


def check_clock(sysm: System) -> Line:
    if sysm.clock_synchronised():
        return Line(Level.OK, "clock synchronised")
    return Line(
        Level.FAIL,
        "clock not synchronised: dose times may be wrong",
        "check the network; enable time synchronisation with `sudo timedatectl set-ntp true`",
    )


def check_state_dir(state_dir: str, sysm: System) -> Line:
    if not os.path.exists(state_dir):
        return Line(
            Level.FAIL,
            f"state directory {state_dir} does not exist",
            (
                f"start the service once (systemd makes {SERVICE_STATE_DIR}), or: "
                if state_dir == SERVICE_STATE_DIR
                else ""
            )
            + f"sudo install -d -o {sysm.service_user} -g {sysm.service_user} -m 750 {state_dir}",
        )
    if not os.path.isdir(state_dir):
        return Line(
            Level.FAIL, f"state directory {state_dir} is not a directory", "set [device] state_dir to a directory"
        )
    who, ids = _account(sysm.service_user)
    try:
        with as_ids(*ids), tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Line(
            Level.FAIL,
            f"state directory {state_dir} is not writable by {who} ({exc.strerror or exc})",
            f"sudo chown -R {who}: {state_dir}",
        )
    inside = os.path.abspath(state_dir) + "/"
    if sysm.systemd_running() and not inside.startswith(SERVICE_STATE_DIR + "/"):
        return Line(
            Level.WARN,
            f"state directory {state_dir} is writable by {who}, but the service may only write in {SERVICE_STATE_DIR}",
            f'use state_dir = "{SERVICE_STATE_DIR}" or add ReadWritePaths={state_dir} (sudo systemctl edit pillbox)',
        )
    return Line(Level.OK, f"state directory {state_dir} is writable by {who}")


def check_disk(state_dir: str, sysm: System) -> Line:
    place = state_dir
    while not os.path.exists(place) and place not in ("", "/"):
        place = os.path.dirname(place.rstrip("/")) or "/"
    free = sysm.disk_free(place)
    what = f"disk: {free / MB:.0f} MB free for {state_dir}"
    fix = "free some space: sudo apt clean; sudo journalctl --vacuum-size=50M; remove old files"
    if free < DISK_FAIL:
        return Line(Level.FAIL, f"{what} (under {DISK_FAIL // MB} MB: the database may fail to write)", fix)
    if free < DISK_WARN:
        return Line(Level.WARN, f"{what} (under {DISK_WARN // MB} MB)", fix)
    return Line(Level.OK, what)


def check_database(config: Config, sysm: System) -> Line:
    from .service import database_path

    path = database_path(config)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Line(Level.OK, f"database: no database yet at {path} (made at the first start)")
    except PermissionError:
        return Line(Level.FAIL, f"database {path} cannot be looked at", "run the doctor as root (sudo pillbox doctor)")
    restore = "stop the service (sudo systemctl stop pillbox) and restore the last backup (docs/backup.md)"
    try:
        with as_ids(st.st_uid, st.st_gid, _groups_of(st.st_uid, st.st_gid)):
            problems = integrity_problems(path)
    except sqlite3.Error as exc:
        fix = "run the doctor as root (sudo pillbox doctor)" if "unable to open" in str(exc) else restore
        return Line(Level.FAIL, f"database {path} cannot be read ({exc})", fix)
    if problems:
        # One line: SQLite's first finding (its report may start with a header and run to many lines).
        findings = [p for part in problems for p in part.splitlines() if p.strip() and not p.startswith("***")]
        first = findings[0] if findings else problems[0].splitlines()[0]
        more = f"; {len(findings) - 1} more problems" if len(findings) > 1 else ""
        return Line(Level.FAIL, f"database {path} is damaged ({first}{more})", restore)
    return Line(Level.OK, f"database {path} passes the integrity check")


def integrity_problems(path: str) -> list[str]:
    """`PRAGMA integrity_check` with every write forbidden: [] when the database is sound."""
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}"
    try:
        # Opened for writing only so that SQLite can tidy its WAL side files on close, as the last
        # connection does; query_only forbids any change. A mode=ro connection would leave them behind.
        db = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=5)
    except sqlite3.OperationalError:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=5)
    try:
        db.execute("PRAGMA query_only = ON")
        rows = [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
    finally:
        db.close()
    return [] if rows == ["ok"] else rows


def check_service(sysm: System) -> Line:
    if sysm.systemctl is None or not sysm.systemd_running():
        return Line(Level.OK, "service: not under systemd (check skipped)")
    _, text = sysm.systemctl(["show", "--property=LoadState,ActiveState,SubState,UnitFileState", sysm.service])
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    name = sysm.service
    logs = f"see `journalctl -u {name} -e`"
    if props.get("LoadState") != "loaded":
        return Line(Level.FAIL, f"service {name} is not installed", "run systemd/install.sh (see docs/install.md)")
    state = props.get("ActiveState", "unknown")
    sub = props.get("SubState", "")
    if state == "activating" and sub == "auto-restart":
        return Line(Level.FAIL, f"service {name} keeps crashing and restarting", logs)
    if state == "activating":
        return Line(Level.WARN, f"service {name} is starting ({sub})", f"it may be waiting for the clock; {logs}")
    if state != "active":
        return Line(Level.FAIL, f"service {name} is {state} ({sub})", f"{logs}, then `sudo systemctl restart {name}`")
    if props.get("UnitFileState") != "enabled":
        return Line(
            Level.WARN,
            f"service {name} is active but {props.get('UnitFileState', 'not enabled')}: it will not start at boot",
            f"sudo systemctl enable {name}",
        )
    return Line(Level.OK, f"service {name} is active and enabled")


# ----------------------------------------------------------------------------- as another user


def _groups_of(uid: int, gid: int) -> list[int]:
    try:
        return os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except KeyError:
        return [gid]


def _account(user: str) -> tuple[str, tuple[int, int, list[int]]]:
    """The service user's name and ids; the current user's when that account does not exist."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        entry = pwd.getpwuid(os.geteuid())
    return entry.pw_name, (entry.pw_uid, entry.pw_gid, _groups_of(entry.pw_uid, entry.pw_gid))


@contextlib.contextmanager
def as_ids(uid: int, gid: int, groups: list[int]) -> Iterator[None]:
    """As root, act with another user's effective ids for a moment (the doctor is single-threaded)."""
    if os.geteuid() != 0 or uid == 0:
        yield
        return
    old_gid, old_groups = os.getegid(), os.getgroups()
    os.setgroups(groups)
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(old_gid)
        os.setgroups(old_groups)

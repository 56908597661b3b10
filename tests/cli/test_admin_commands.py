"""`pillbox user`, `token`, `report` and `demo` as an installer or a clinician runs them."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..engine.conftest import Rig, config_toml, local

ROOT = Path(__file__).resolve().parents[2]


def pillbox(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device.cli", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60
    )


def make_config(tmp_path: Path) -> Path:
    path = tmp_path / "pillbox.toml"
    path.write_text(config_toml(device=f'state_dir = "{tmp_path / "state"}"'))
    return path


def test_user_commands(tmp_path):
    config = str(make_config(tmp_path))
    assert pillbox("user", "add", "anna", "--config", config, stdin="long enough pass\n").returncode == 0
    assert pillbox("user", "list", "--config", config).stdout == "anna\n"
    again = pillbox("user", "add", "anna", "--config", config, stdin="long enough pass\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = pillbox("user", "add", "ben", "--config", config, stdin="short\n")
    assert short.returncode == 1 and "password" in short.stderr
    assert pillbox("user", "passwd", "anna", "--config", config, stdin="another long one\n").returncode == 0
    assert pillbox("user", "remove", "anna", "--config", config).returncode == 0
    assert pillbox("user", "remove", "anna", "--config", config).returncode == 1
    assert pillbox("user", "add", "--config", config).returncode == 2  # NAME missing
    assert "long enough" not in (tmp_path / "state" / "pillbox.db").read_bytes().decode("latin-1")


def test_token_commands(tmp_path):
    config = str(make_config(tmp_path))
    created = pillbox("token", "create", "home-assistant", "--config", config)
    assert created.returncode == 0 and re.fullmatch(r"pbx_[A-Za-z0-9_-]{40,}\n", created.stdout)
    assert "home-assistant" in pillbox("token", "list", "--config", config).stdout
    assert created.stdout.strip() not in pillbox("token", "list", "--config", config).stdout
    assert pillbox("token", "revoke", "home-assistant", "--config", config).returncode == 0
    assert pillbox("token", "revoke", "home-assistant", "--config", config).returncode == 1


def test_report_per_medication_and_day(tmp_path):
    config = make_config(tmp_path)
    rig = Rig(config.read_text(), tmp_path / "state" / "pillbox.db")
    rig.start(local("2026-11-02T07:00"))
    rig.do(local("2026-11-02T08:05"), lambda e, t: e.lid_opened(t))
    rig.do(local("2026-11-02T08:06"), lambda e, t: e.lid_closed(t))
    rig.do(local("2026-11-02T15:30"), lambda e, t: e.lid_opened(t))  # late
    rig.advance(local("2026-11-03T00:00"))
    rig.store.close()
    table = pillbox("report", "--from", "2026-11-02", "--to", "2026-11-02", "--config", str(config))
    assert table.returncode == 0, table.stderr
    assert re.search(r"2026-11-02\s+Baclofen\s+3\s+2\s+1\s+1\s+0\s+0\s+66.7%", table.stdout), table.stdout
    as_csv = pillbox("report", "--from", "2026-11-01", "--to", "2026-11-03", "--csv", "--config", str(config))
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "date,medication,planned,taken,late,missed,skipped,away,adherence_percent"
    assert lines[1] == "2026-11-02,Baclofen,3,2,1,1,0,0,66.7"
    assert pillbox("report", "--from", "x", "--to", "y", "--config", str(config)).returncode == 2


def start_demo(*extra: str) -> tuple[subprocess.Popen[str], int, str]:
    """`pillbox demo` on a free port: the process, its port, and its banner (up to "Stop with")."""
    from tests.mqtt.broker import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "demo", "--port", str(port), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("Stop with" in line for line in lines):
        lines.append(proc.stdout.readline())
    return proc, port, "".join(lines)


def stop_demo(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    if proc.stdout:
        proc.stdout.close()


def test_demo_serves_the_page_with_a_dose_due_soon(tmp_path):
    proc, port, text = start_demo()
    try:
        password = re.search(r"Log in:\s+demo / (\S+)", text).group(1)
        state = re.search(r"State:\s+(\S+)", text).group(1)
        assert "MQTT:" in text
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                login = opener.open(base + "/login").read().decode()
                break
            except OSError:
                time.sleep(0.1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        data = urllib.parse.urlencode({"name": "demo", "password": password, "csrf_token": csrf}).encode()
        opener.open(base + "/login", data=data)
        status = json.loads(opener.open(base + "/api/v1/status").read())
        next_at = dt.datetime.fromisoformat(status["next_dose_at"])
        assert dt.timedelta(0) < next_at - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=2, seconds=5)
        page = opener.open(base + "/").read().decode()
        assert "Virtual dispenser" in page
    finally:
        stop_demo(proc)
    assert not Path(state).exists()


def test_doctor_command_prints_one_line_per_check(tmp_path):
    config = make_config(tmp_path)
    (tmp_path / "state").mkdir()
    done = pillbox("doctor", "--config", str(config))
    lines = done.stdout.splitlines()
    assert len(lines) == 8 and all(re.match(r"^(OK|WARN|FAIL) ", line) for line in lines), done.stdout
    assert lines[0].startswith("OK  config")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[device]\nid = 'Not Valid!'\n")
    assert pillbox("doctor", "--config", str(broken)).returncode == 2


def test_demo_takes_a_config_and_runs_its_plan(tmp_path):
    proc, port, text = start_demo("--config", str(ROOT / "config/example.toml"))
    try:
        assert "Log in:" in text
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read()
                break
            except OSError:
                time.sleep(0.1)
        assert json.loads(body) == {"status": "ok"}
    finally:
        stop_demo(proc)


def test_passwd_and_remove_end_the_caregivers_sessions_in_the_daemons_database(tmp_path):
    from device.accounts import Accounts
    from device.store import Store

    config = str(make_config(tmp_path))
    assert pillbox("user", "add", "anna", "--config", config, stdin="long enough pass\n").returncode == 0
    assert pillbox("user", "add", "ben", "--config", config, stdin="long enough pass\n").returncode == 0
    store = Store(str(tmp_path / "state" / "pillbox.db"))  # as the running daemon holds it open
    try:
        accounts = Accounts(store)
        anna, ben = accounts.open_session("anna"), accounts.open_session("ben")
        assert pillbox("user", "passwd", "anna", "--config", config, stdin="another long one\n").returncode == 0
        assert accounts.session_user(anna) is None and accounts.session_user(ben) == "ben"
        anna = accounts.open_session("anna")
        assert pillbox("user", "remove", "anna", "--config", config).returncode == 0
        assert accounts.session_user(anna) is None and accounts.session_user(ben) == "ben"
    finally:
        store.close()

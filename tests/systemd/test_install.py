"""systemd/install.sh and uninstall.sh into a throw-away root: idempotent, the config never overwritten.

The commands that would change this machine (useradd, systemctl, apt-get, chown...) are shadowed on
the PATH by scripts that only write down that they were called: in prefix mode none may be.
Nothing is downloaded: the venv is made, pip is skipped.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL, UNINSTALL = REPO / "systemd" / "install.sh", REPO / "systemd" / "uninstall.sh"
GUARDED = ("useradd", "usermod", "userdel", "groupadd", "systemctl", "apt-get", "chown", "getent")


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose machine-changing commands only log their calls."""
    folder, log = tmp_path / "guard-bin", tmp_path / "guard.log"
    folder.mkdir()
    for name in GUARDED:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}, log


def run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def install(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(INSTALL, env, "--prefix", str(root), "--skip-pip", "--python", sys.executable, *args)


def tree(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under root: its kind, mode and content digest (or link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            what = ("link", 0, os.readlink(path))
        elif path.is_dir():
            what = ("dir", st.st_mode & 0o7777, "")
        else:
            what = ("file", st.st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
        out[str(path.relative_to(root))] = what
    return out


def site_packages(root: Path) -> str:
    cfg = (root / "opt/pillbox/venv/pyvenv.cfg").read_text()
    return next(line.split("=")[1].strip() for line in cfg.splitlines() if line.startswith("include-system"))


def test_installing_twice_gives_the_same_tree_and_never_overwrites_the_config(tmp_path, guarded):
    env, log = guarded
    root = tmp_path / "root"
    first = install(root, env)
    before = tree(root)

    unit = root / "etc/systemd/system/pillbox.service"
    assert unit.read_text() == (REPO / "systemd/pillbox.service").read_text()
    config = root / "etc/pillbox/pillbox.toml"
    assert config.read_text() == (REPO / "config/example.toml").read_text()
    assert before["etc/pillbox"][1] == 0o750 and before["etc/pillbox/pillbox.toml"][1] == 0o640
    assert (root / "etc/pillbox/pillbox.example.toml").exists()
    assert (root / "opt/pillbox/venv/bin/python").exists() and (root / "opt/pillbox/docs/install.md").exists()
    assert before["usr/local/bin/pillbox"] == ("link", 0, "/opt/pillbox/venv/bin/pillbox")
    assert site_packages(root) == ("true" if os.path.exists("/etc/rpi-issue") else "false")
    assert "http://" in first.stdout and ":8080/" in first.stdout
    assert "pillbox check" in first.stdout and "pillbox doctor" in first.stdout
    assert "not creating the system user" in first.stdout

    edited = config.read_text().replace("port = 8080", "port = 9090") + "# the installer's own edits\n"
    config.write_text(edited)
    second = install(root, env)
    after = tree(root)
    assert config.read_text() == edited
    assert "kept" in second.stdout and ":9090/" in second.stdout
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == {"etc/pillbox/pillbox.toml"}
    assert not log.exists(), log.read_text()  # no user, no package, no systemctl on this machine


def test_the_venv_sees_the_distributions_packages_on_request(tmp_path, guarded):
    env, log = guarded
    root = tmp_path / "root"
    install(root, env, "--system-site-packages")
    assert site_packages(root) == "true"
    install(root, env, "--no-system-site-packages")
    assert site_packages(root) == "false"
    assert not log.exists()


def test_uninstall_keeps_the_data_and_config_unless_purged(tmp_path, guarded):
    env, log = guarded
    root = tmp_path / "root"
    install(root, env)
    data = root / "var/lib/pillbox/pillbox.db"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"the dose history")

    done = run(UNINSTALL, env, "--prefix", str(root))
    assert not (root / "etc/systemd/system/pillbox.service").exists()
    assert not (root / "opt/pillbox").exists() and not (root / "usr/local/bin/pillbox").is_symlink()
    assert data.read_bytes() == b"the dose history" and (root / "etc/pillbox/pillbox.toml").exists()
    assert "kept the data" in done.stdout

    run(UNINSTALL, env, "--prefix", str(root), "--purge")
    assert not (root / "var/lib/pillbox").exists() and not (root / "etc/pillbox").exists()
    assert not log.exists()


def test_an_unknown_option_is_refused_with_the_usage(tmp_path, guarded):
    env, _ = guarded
    done = subprocess.run(["bash", str(INSTALL), "--prefx", str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "unknown option: --prefx" in done.stderr and "usage:" in done.stderr
    assert not any(tmp_path.iterdir()) or list(tmp_path.iterdir()) == [tmp_path / "guard-bin"]

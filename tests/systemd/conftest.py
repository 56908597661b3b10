"""Fixtures for the systemd folder: a real notify socket, a daemon built as `pillbox run` builds it."""

from __future__ import annotations

import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.config import parse_config
from device.daemon import Daemon

from ..mqtt.broker import Broker

DAEMON_CONFIG = """
[device]
timezone = "UTC"
state_dir = "{state}"
clock_sync_wait_minutes = 0
[hardware]
pin_factory = "mock"
[mqtt]
enabled = {mqtt}
host = "127.0.0.1"
port = {port}
[[medication]]
name = "Baclofen"
strength_mg = 10
stock = 30
  [[medication.plan]]
  start = "2026-01-01"
  times = ["08:00", "20:00"]
  dose_mg = 10
"""


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket (abstract namespace, `@...`)."""

    def __init__(self) -> None:
        self.address = f"@pillbox-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])
        self.received: list[str] = []

    @property
    def environ(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address}

    def drain(self) -> list[str]:
        """Every datagram already waiting, without blocking."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        self.received += out
        return out

    def wait_for(self, wanted: str, timeout: float = 10.0) -> list[str]:
        """Datagrams up to and including the first that has the line `wanted` (bounded wait)."""
        out = []
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            out.append(message)
            self.received.append(message)
            if wanted in message.split("\n"):
                return out
        raise AssertionError(f"no {wanted!r} within {timeout} s (got {out!r})")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    ns = NotifySocket()
    yield ns
    ns.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def built_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """`service.build` with a given environment (mock pins, no web page); stopped afterwards."""
    from device.service import build

    made: list[Daemon] = []

    def make(environ: dict[str, str], *, mqtt_port: int | None = None) -> Daemon:
        text = DAEMON_CONFIG.format(
            state=tmp_path / "state",
            mqtt="true" if mqtt_port else "false",
            port=mqtt_port or 1883,
        )
        daemon = build(parse_config(text, "pillbox.toml"), mock=True, web=False, environ=environ)
        daemon.synchronised = lambda: True
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.stop()


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "a condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if result := condition():
            return result
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: AF_UNIX socket paths are limited to 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="pb-", dir="/tmp") as name:
        yield Path(name)

"""Fixtures: a real broker, a real paho subscriber, and the daemon (mock pins) with its MQTT bridge."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from .broker import Broker, free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "a condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Listener:
    """A real paho client that records every message it receives."""

    def __init__(
        self, port: int, topics: list[str], *, client_id: str = "", persistent: bool = False, **kw: Any
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent if client_id else True
        )
        if kw.get("username"):
            self.client.username_pw_set(kw["username"], kw.get("password"))
        if kw.get("ca"):
            self.client.tls_set(ca_certs=str(kw["ca"]), certfile=kw.get("cert"), keyfile=kw.get("key"))
        self.topics = topics
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_for(self.connected.is_set, 10, "the test listener to connect")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self.topics])
            self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def json_on(self, topic: str) -> list[Any]:
        return [json.loads(m.payload) for m in self.on(topic)]

    def last(self, topic: str) -> Any:
        found = self.on(topic)
        return found[-1].payload.decode() if found else None

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()  # what paho's __del__ does, without waiting for the collector


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(port: int, topics: list[str], **kw: Any) -> Listener:
        listener = Listener(port, topics, **kw)
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.close()


def mqtt_config(tmp_path: Path, port: int, extra: str = "", med_times: str | None = None) -> str:
    now = dt.datetime.now(dt.UTC)
    slot = now.strftime("%H:%M")
    later = (now + dt.timedelta(hours=6)).strftime("%H:%M")
    times = med_times or json.dumps(sorted([slot, later]))
    return (
        f'[device]\ntimezone = "UTC"\nstate_dir = "{tmp_path / "state"}"\nclock_sync_wait_minutes = 0\n'
        f'[web]\nhost = "127.0.0.1"\nport = {free_port()}\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n{extra}\n'
        '[[medication]]\nname = "Baclofen"\nstrength_mg = 10\nstock = 30\n'
        "early_minutes = 30\nlate_after_minutes = 30\nmissed_after_minutes = 60\n"
        f'  [[medication.plan]]\n  start = "{(now - dt.timedelta(days=1)).date()}"\n  times = {times}\n  dose_mg = 10\n'
    )


@pytest.fixture
def run_daemon() -> Iterator[Callable[..., Any]]:
    """The whole daemon (mock pins, real scheduler) with its MQTT bridge, from config text."""
    from device.config import parse_config
    from device.service import build

    made: list[Any] = []

    def start(config_text: str, *, synced: bool = True, wall: Callable[[], dt.datetime] | None = None) -> Any:
        config = parse_config(config_text, "pillbox.toml")
        daemon = build(config, mock=True, web=False)
        daemon.synchronised = lambda: synced
        if wall is not None:  # the engine's clock, e.g. hours ahead: a restart after downtime
            daemon.wall = wall
        daemon.start()
        made.append(daemon)
        return daemon

    yield start
    for daemon in made:
        daemon.stop()


class DaemonProcess:
    """`pillbox run --mock-hardware` in a subprocess: mock actions on stdin, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        self._log = open(log, "a")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "run", "--mock-hardware", "--config", str(config)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def send(self, *actions: str) -> None:
        assert self.proc.stdin is not None
        for action in actions:
            self.proc.stdin.write(action + "\n")
        self.proc.stdin.flush()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def status_kb(self, field: str) -> int:
        """A field of /proc/<pid>/status in kB, e.g. VmHWM (peak resident memory)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def stop(self) -> int:
        """SIGTERM and the exit code (SIGKILL after 20 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def daemon_process(tmp_path: Path) -> Iterator[Callable[[str], DaemonProcess]]:
    """Starts the real daemon in a subprocess from config text; stopped at the end of the test."""
    made: list[DaemonProcess] = []

    def start(config_text: str) -> DaemonProcess:
        config = tmp_path / f"pillbox-{len(made)}.toml"
        config.write_text(config_text)
        proc = DaemonProcess(config, tmp_path / f"daemon-{len(made)}.log")
        made.append(proc)
        return proc

    yield start
    for proc in made:
        proc.stop()

"""sd_notify over a real AF_UNIX datagram socket: READY=1, WATCHDOG=1 only while healthy, STOPPING=1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent

from device.mqtt import MqttBridge
from device.sdnotify import Watchdog, notify, watchdog_seconds
from device.store import Store

from ..mqtt.broker import free_port
from .conftest import DAEMON_CONFIG, wait_until

FAST_BEAT = 0.05  # seconds; the real heartbeat is every 15 s and the test cannot wait for that


def test_notify_sends_one_datagram_to_a_path_socket(short_dir):
    path = str(short_dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        assert notify("READY=1\nSTATUS=Running.", {"NOTIFY_SOCKET": path})
        listener.settimeout(5)
        assert listener.recv(4096) == b"READY=1\nSTATUS=Running."


def test_notify_speaks_the_abstract_namespace(notify_socket):
    assert notify("WATCHDOG=1", notify_socket.environ)
    assert notify_socket.wait_for("WATCHDOG=1") == ["WATCHDOG=1"]


def test_notify_without_systemd_or_listener_is_false(short_dir):
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(short_dir / "nobody-listens")})


def test_watchdog_interval_is_read_for_this_process_only():
    assert watchdog_seconds({"WATCHDOG_USEC": "60000000"}) == 60.0
    assert watchdog_seconds({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "7"}, pid=7) == 60.0
    assert watchdog_seconds({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "7"}, pid=8) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_seconds({}) is None


def test_no_notify_socket_means_no_watchdog_hooks(built_daemon):
    daemon = built_daemon({})
    assert daemon.heartbeat_hooks == [] and daemon.start_hooks == []


def test_ready_after_start_regular_pings_and_none_while_the_scheduler_thread_hangs(built_daemon, notify_socket):
    daemon = built_daemon(notify_socket.environ)
    refused: list[JobSubmissionEvent] = []
    daemon.scheduler.add_listener(
        lambda e: refused.append(e) if e.job_id == "heartbeat" else None, EVENT_JOB_MAX_INSTANCES
    )
    daemon.heartbeat_seconds = FAST_BEAT
    daemon.start()
    first = notify_socket.wait_for("READY=1")
    assert first[0].split("\n")[0] == "READY=1"
    for _ in range(3):
        notify_socket.wait_for("WATCHDOG=1")

    # A job blocks the scheduler's only worker thread: the heartbeat can no longer run.
    release, hanging = threading.Event(), threading.Event()
    daemon.scheduler.add_job(lambda: (hanging.set(), release.wait(30)), id="hang")
    try:
        assert hanging.wait(10)
        notify_socket.drain()  # pings sent before the hang began
        refused.clear()
        wait_until(lambda: len(refused) >= 3, what="three heartbeats refused by the busy worker")
        assert notify_socket.drain() == []
    finally:
        release.set()
    notify_socket.wait_for("WATCHDOG=1")  # pings come back once the thread is free again

    daemon.stop()
    assert any(m.startswith("STOPPING=1") for m in notify_socket.wait_for("STOPPING=1"))


def test_a_database_that_stops_answering_is_not_fed(tmp_path, notify_socket):
    store = Store(str(tmp_path / "pillbox.db"), durable=False)
    dog = Watchdog({"database": store.ping}, environ=notify_socket.environ)
    dog.ready()
    dog.beat()
    assert notify_socket.wait_for("WATCHDOG=1")[-1] == "WATCHDOG=1"
    store.close()
    dog.beat()
    dog.beat()  # the status is said once, and no ping either time
    assert notify_socket.wait_for("STATUS=Unhealthy (database): watchdog not fed.") == [
        "STATUS=Unhealthy (database): watchdog not fed."
    ]
    assert notify_socket.drain() == []
    assert dog.failing() == ["database"]


def test_a_probe_that_raises_counts_as_unhealthy_and_recovery_is_announced(notify_socket):
    state = {"broken": True}

    def probe() -> bool:
        if state["broken"]:
            raise RuntimeError("hung")
        return True

    dog = Watchdog({"scheduler": probe}, environ=notify_socket.environ)
    dog.beat()
    assert notify_socket.wait_for("STATUS=Unhealthy (scheduler): watchdog not fed.")
    state["broken"] = False
    dog.beat()
    assert notify_socket.wait_for("WATCHDOG=1") == ["WATCHDOG=1\nSTATUS=Running."]


def test_the_mqtt_loop_is_watched_but_a_broker_outage_is_not_a_fault(built_daemon, notify_socket, broker):
    daemon = built_daemon(notify_socket.environ, mqtt_port=broker.port)
    daemon.heartbeat_seconds = FAST_BEAT
    daemon.start()
    notify_socket.wait_for("READY=1")
    wait_until(daemon.mqtt_connected, what="the broker connection")
    notify_socket.wait_for("WATCHDOG=1")

    broker.stop()  # the hub may be away for days: prompting goes on, and so does the watchdog
    wait_until(lambda: not daemon.mqtt_connected(), what="the daemon to notice the outage")
    notify_socket.drain()
    notify_socket.wait_for("WATCHDOG=1")

    bridge = next(h.__self__ for h in daemon.start_hooks if isinstance(getattr(h, "__self__", None), MqttBridge))
    beats: list[int] = []
    daemon.heartbeat_hooks.append(lambda: beats.append(1))
    bridge.client.loop_stop()  # paho's network thread is gone: nothing would reach the hub again
    assert not bridge.loop_alive()
    notify_socket.wait_for("STATUS=Unhealthy (MQTT loop): watchdog not fed.")
    beats.clear()
    wait_until(lambda: len(beats) >= 3, what="three more heartbeats")
    assert not any("WATCHDOG=1" in m.split("\n") for m in notify_socket.drain())


def test_pillbox_run_speaks_to_systemd_from_start_to_sigterm(tmp_path, notify_socket):
    config = tmp_path / "pillbox.toml"
    config.write_text(
        DAEMON_CONFIG.format(state=tmp_path / "state", mqtt="false", port=1883)
        + f'[web]\nhost = "127.0.0.1"\nport = {free_port()}\n'
    )
    env = {**os.environ, **notify_socket.environ, "WATCHDOG_USEC": "60000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "run", "--config", str(config)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        notify_socket.wait_for("READY=1", timeout=60)
        proc.send_signal(signal.SIGTERM)
        notify_socket.wait_for("STOPPING=1", timeout=30)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "WatchdogSec" not in err  # 60 s leaves room for three missed heartbeats: no warning
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_watchdog_shorter_than_two_heartbeats_is_warned_about(built_daemon, notify_socket, caplog):
    built_daemon({**notify_socket.environ, "WATCHDOG_USEC": "20000000"})
    assert "WatchdogSec=20s is shorter than two heartbeats" in caplog.text


def test_a_stopped_scheduler_is_not_fed(built_daemon, notify_socket):
    daemon = built_daemon(notify_socket.environ)
    daemon.start()
    notify_socket.wait_for("READY=1")
    dog = next(h.__self__ for h in daemon.heartbeat_hooks if isinstance(getattr(h, "__self__", None), Watchdog))
    dog.beat()
    notify_socket.wait_for("WATCHDOG=1")
    daemon.scheduler.shutdown(wait=True)  # the scheduler's thread ends: nothing would ever wake the engine
    dog.beat()
    assert notify_socket.wait_for("STATUS=Unhealthy (scheduler): watchdog not fed.") == [
        "STATUS=Unhealthy (scheduler): watchdog not fed."
    ]

"""Broker outages and restarts lose nothing; passwords and TLS work (SPEC sections 9 and 13)."""

from __future__ import annotations

import json

from .broker import Broker, make_certificates
from .conftest import mqtt_config, wait_for

B = "pillbox/pillbox"


def test_outage_with_a_daemon_restart_loses_nothing(tmp_path, listen, run_daemon):
    broker = Broker(tmp_path / "broker").start()
    try:
        ears = listen(broker.port, [f"{B}/event"], client_id="hub", persistent=True)
        text = mqtt_config(tmp_path, broker.port)
        daemon = run_daemon(text)
        wait_for(lambda: len(ears.on(f"{B}/event")) >= 2, what="the first events")
        broker.stop()  # the hub goes away for a while
        wait_for(lambda: not daemon.mqtt_connected(), what="the daemon to notice")
        daemon.call(lambda engine, now: engine.hold(now))
        daemon.hardware.mock_lid(True)
        daemon.hardware.mock_lid(False)
        daemon.stop()  # ... and the daemon restarts during the outage
        daemon = run_daemon(text)
        daemon.call(lambda engine, now: engine.hold(now))
        assert daemon.store.outbox_waiting() >= 5  # help, taken, stopped, started, help
        broker.start()
        stored = daemon.store.events(limit=1000)
        wait_for(
            lambda: {json.loads(m.payload)["id"] for m in ears.on(f"{B}/event")} >= {e["id"] for e in stored},
            30,
            "every event at the hub",
        )
        received = [json.loads(m.payload) for m in ears.on(f"{B}/event")]
        unique: dict[str, dict] = {}
        for event in received:
            unique.setdefault(event["id"], event)
        seqs = [e["seq"] for e in unique.values()]
        assert seqs == sorted(seqs) == list(range(1, len(stored) + 1))
        kinds = [e["event_type"] for e in unique.values()]
        assert kinds.count("device_started") == 2 and "device_stopped" in kinds and kinds.count("help_requested") == 2
        wait_for(lambda: daemon.store.outbox_waiting() == 0, what="the outbox to empty")
    finally:
        broker.stop()


def test_broker_down_at_start_then_up(tmp_path, listen, run_daemon):
    broker = Broker(tmp_path / "broker")  # not started yet
    daemon = run_daemon(mqtt_config(tmp_path, broker.port))
    daemon.hardware.mock_lid(True)  # prompting and intake go on without the hub
    assert "dose_taken" in [e["event_type"] for e in daemon.store.events(limit=100)]
    assert daemon.store.outbox_waiting() >= 3 and not daemon.mqtt_connected()
    broker.start()
    try:
        ears = listen(broker.port, [f"{B}/availability", f"{B}/state"])
        wait_for(lambda: ears.last(f"{B}/availability") == "online", 30, "online after the broker started")
        wait_for(lambda: daemon.store.outbox_waiting() == 0, 30, "the queued events to be delivered")
    finally:
        broker.stop()


def test_username_and_password_file(tmp_path, listen, run_daemon):
    broker = Broker(tmp_path / "broker", users={"pillbox": "s3cret pass", "hub": "hubpass"}).start()
    try:
        secret = tmp_path / "mqtt-password"
        secret.write_text("s3cret pass\n")
        text = mqtt_config(tmp_path, broker.port, extra=f'username = "pillbox"\npassword_file = "{secret}"')
        ears = listen(broker.port, [f"{B}/availability"], username="hub", password="hubpass")
        daemon = run_daemon(text)
        wait_for(lambda: ears.last(f"{B}/availability") == "online", what="online with a password")
        wait_for(lambda: daemon.store.outbox_waiting() == 0, what="delivery")
    finally:
        broker.stop()


def test_wrong_password_keeps_the_device_working_and_queues(tmp_path, run_daemon):
    broker = Broker(tmp_path / "broker", users={"pillbox": "right"}).start()
    try:
        secret = tmp_path / "mqtt-password"
        secret.write_text("wrong")
        text = mqtt_config(tmp_path, broker.port, extra=f'username = "pillbox"\npassword_file = "{secret}"')
        daemon = run_daemon(text)
        daemon.call(lambda engine, now: engine.hold(now))
        assert not daemon.mqtt_connected()
        assert daemon.store.outbox_waiting() >= 3
        assert "s3cret" not in (tmp_path / "broker" / "mosquitto.log").read_text()
    finally:
        broker.stop()


def test_tls_with_a_ca_file(tmp_path, listen, run_daemon):
    certs = make_certificates(tmp_path / "certs")
    broker = Broker(tmp_path / "broker", tls=certs).start()
    try:
        text = mqtt_config(tmp_path, broker.port, extra=f'tls = true\nca_file = "{certs["ca.crt"]}"')
        ears = listen(broker.port, [f"{B}/availability"], ca=certs["ca.crt"])
        daemon = run_daemon(text)
        wait_for(lambda: ears.last(f"{B}/availability") == "online", what="online over TLS")
        assert daemon.mqtt_connected()
    finally:
        broker.stop()


def test_tls_with_a_client_certificate(tmp_path, listen, run_daemon):
    certs = make_certificates(tmp_path / "certs")
    broker = Broker(tmp_path / "broker", tls=certs, require_certificate=True).start()
    try:
        text = mqtt_config(
            tmp_path,
            broker.port,
            extra=f'tls = true\nca_file = "{certs["ca.crt"]}"\nclient_cert = "{certs["client.crt"]}"\n'
            f'client_key = "{certs["client.key"]}"',
        )
        ears = listen(
            broker.port, [f"{B}/availability"], ca=certs["ca.crt"], cert=str(certs["client.crt"]),
            key=str(certs["client.key"]),
        )  # fmt: skip
        run_daemon(text)
        wait_for(lambda: ears.last(f"{B}/availability") == "online", what="online with a client certificate")
    finally:
        broker.stop()

"""The bridge to the home-automation hub: durable outbox, retained state and alerts, commands.

Events are already in the store's outbox when we hear of them; a worker thread hands them to paho in
seq order (QoS 1) and deletes them from the outbox when the broker acknowledges them, so nothing is
lost while the broker is down or the daemon restarts. paho's callbacks only queue work for that
thread: they never block or raise into paho's loop. What a command means is decided in commands.py,
what Home Assistant is told in discovery.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..app import Pillbox
from ..daemon import Daemon
from ..engine.events import Event
from ..engine.model import Config
from ..errors import NotFound
from .commands import Acknowledge, CommandTopics, Ignore, Rediscover, Silence, parse_command, screen
from .connection import close_sockets, connect_properties, new_client, read_password, use_credentials
from .discovery import base_topic, discovery_configs

log = logging.getLogger("device.mqtt")  # one logger for the package, named as before the split
WINDOW = 100  # events handed to paho but not yet acknowledged, at most


class MqttBridge:
    """Connects the daemon to the broker."""

    def __init__(
        self, config: Config, daemon: Daemon, *, resend_delay: Callable[[], float] = lambda: random.uniform(1, 5)
    ) -> None:
        self.config = config
        self.daemon = daemon
        self.app = Pillbox(daemon)  # every command and query goes through the façade
        self.store = daemon.store
        m = config.mqtt
        self.base = base_topic(config)
        self.topics = CommandTopics.of(config)
        self.resend_delay = resend_delay
        # MQTT 5 for a session that ends with the connection (commands act only when they arrive while
        # we are connected), the Maximum Packet Size (an oversized message is never delivered to us)
        # and "retain as published" (a retained command is seen as retained, and ignored).
        self.client = new_client(f"pillbox-{config.device.id}")
        use_credentials(self.client, m, read_password(m.password_file) if m.username and m.password_file else None)
        self.client.will_set(self.topic("availability"), "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.connected = False
        self._stopping = False
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # paho mid -> event seq
        self._early: set[int] = set()  # acknowledged before we recorded the mid
        self._delivered: list[int] = []
        self._last_handed = 0
        self._last_state: str | None = None
        self._last_alerts: str | None = None
        self._work: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="mqtt-outbox", daemon=True)
        self.app.add_listener(self)
        daemon.heartbeat_hooks.append(lambda: self._post(self._publish_status))
        daemon.hub_probes.append(lambda: self.connected)

    def topic(self, leaf: str) -> str:
        return f"{self.base}/{leaf}"

    # ---------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        m = self.config.mqtt
        self._worker.start()
        self.client.connect_async(m.host, m.port, keepalive=30, clean_start=True, properties=connect_properties())
        self.client.loop_start()

    def stop(self) -> None:
        """Say `offline` (the Last Will is not sent on a clean disconnect), then disconnect."""
        self._post(self._pump)
        done = threading.Event()
        self._post(done.set)
        done.wait(timeout=5)
        if self.connected:
            info = self.client.publish(self.topic("availability"), "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=3)
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        close_sockets(self.client)
        self._work.put(None)
        self._worker.join(timeout=5)

    def loop_alive(self) -> bool:
        """Whether paho's network thread and our outbox worker are both running (the watchdog asks)."""
        paho_thread = self.client._thread
        return paho_thread is not None and paho_thread.is_alive() and self._worker.is_alive()

    def _post(self, job: Callable[[], None]) -> None:
        self._work.put(job)

    def _run(self) -> None:
        while (job := self._work.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("MQTT work failed")

    # --------------------------------------------------------------------- paho's callbacks

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("the MQTT broker refused the connection: %s", reason)
            return
        self.connected = True
        log.info("connected to the MQTT broker %s:%s", self.config.mqtt.host, self.config.mqtt.port)
        self._post(self._on_connected)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected and not self._stopping:
            log.warning("disconnected from the MQTT broker (%s); events wait in the outbox", reason)
        self.connected = False

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            seq = self._inflight.pop(mid, None)
            if seq is None:
                self._early.add(mid)
                return
            self._delivered.append(seq)
        self._post(self._pump)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # Runs in paho's thread: cheap checks only, and nothing here may raise.
        try:
            topic, payload = message.topic, message.payload
            if ignored := screen(topic, len(payload), message.retain):
                log.log(ignored.level, "ignoring %s", ignored.why)
            else:
                self._post(lambda: self._command(topic, bytes(payload)))
        except Exception:
            log.exception("ignoring a message that could not be read")

    # ------------------------------------------------------------------------- the worker

    def _on_connected(self) -> None:
        client = self.client
        client.publish(self.topic("availability"), "online", qos=1, retain=True)
        # No retained command at subscription (they are stale), and a live retained one keeps its flag.
        options = SubscribeOptions(qos=1, retainAsPublished=True, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        subscriptions = [(self.topics.ack, options), (self.topics.silence, options)]
        if self.topics.ha_status:
            subscriptions.append((self.topics.ha_status, SubscribeOptions(qos=1)))
        client.subscribe(subscriptions)
        self._publish_discovery()
        self._publish_status(force=True)
        self._pump()

    def _publish_discovery(self) -> None:
        for topic, payload in discovery_configs(self.config):
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)

    def _publish_status(self, force: bool = False) -> None:
        if self.daemon.closed:
            return
        state = json.dumps(self.app.state(), separators=(",", ":"))
        alerts = json.dumps(self.app.alerts(), separators=(",", ":"))
        if force or state != self._last_state:
            self.client.publish(self.topic("state"), state, qos=1, retain=True)
            self._last_state = state
        if force or alerts != self._last_alerts:
            self.client.publish(self.topic("alerts"), alerts, qos=1, retain=True)
            self._last_alerts = alerts

    def on_events(self, events: list[Event]) -> None:
        """The façade's listener: new events are in the outbox; the state may have changed."""
        self._post(self._pump)
        self._post(self._publish_status)

    def _pump(self) -> None:
        """Delete what the broker acknowledged; hand the next events to paho, in seq order."""
        with self._lock:
            delivered, self._delivered = self._delivered, []
            room = WINDOW - len(self._inflight)
        if delivered:
            self.store.mark_delivered(delivered)
        if room <= 0:
            return
        for seq, payload in self.store.outbox_batch(self._last_handed, room):
            info = self.client.publish(self.topic("event"), payload, qos=1, retain=False)
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._delivered.append(seq)
                else:
                    self._inflight[info.mid] = seq
            self._last_handed = seq
        with self._lock:
            late = bool(self._delivered)
        if late:
            self._post(self._pump)

    def _command(self, topic: str, raw: bytes) -> None:
        """One command, in arrival order; anything unexpected is logged (never its content) and ignored."""
        command = parse_command(self.topics, topic, raw)
        if isinstance(command, Silence):
            self.app.silence()
            log.info("silenced for 10 minutes from the hub")
        elif isinstance(command, Acknowledge):
            target, by = command.target, command.by
            try:
                if target == "all":
                    self.app.acknowledge_all(by=by)
                else:
                    self.app.acknowledge(target, by=by)
            except NotFound:
                log.warning("ignoring a command on %s: no alert with id %s", topic, target)
            else:
                log.info("acknowledged %s from the hub (by %r)", target, by)
        elif isinstance(command, Rediscover):
            timer = threading.Timer(self.resend_delay(), lambda: self._post(self._rediscover))
            timer.daemon = True
            timer.start()
        elif isinstance(command, Ignore):
            log.log(command.level, "ignoring %s", command.why)

    def _rediscover(self) -> None:
        self._publish_discovery()
        self._publish_status(force=True)

    def waiting(self) -> int:
        return self.store.outbox_waiting()

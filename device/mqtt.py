"""MQTT to the home-automation hub: durable outbox, state, alerts, commands, Home Assistant discovery.

The only module that imports paho. Events are already in the store's outbox when we hear of them;
a worker thread hands them to paho in seq order (QoS 1) and deletes them from the outbox when the
broker acknowledges them, so nothing is lost while the broker is down or the daemon restarts.
paho's callbacks only queue work for that thread: they never block or raise into paho's loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from .daemon import Daemon
from .engine.events import EVENT_TYPES, Event
from .engine.model import Config, MqttConfig
from .errors import ConfigError, NotFound
from .status import alert_list, device_state

log = logging.getLogger(__name__)
WINDOW = 100  # events handed to paho but not yet acknowledged, at most
ALERT_ID = re.compile(r"[0-9a-fA-F-]{8,64}")  # fullmatch only
MAX_PACKET = 64 * 1024  # declared to the broker (MQTT 5 Maximum Packet Size): it never sends us more
MAX_COMMAND = 1024  # bytes: the longest command we accept (JSON ack with a 64-character name) fits
NAME_MAX = 64
VERSION = "0.1.0"


def parse_ack(payload: str) -> tuple[str, str]:
    """A `cmd/ack` payload as (target, by): `all` or an alert id from the hub, or the JSON form
    `{"alert_id": ..., "by": "<name>"}` (SPEC section 9). Raises ValueError with a reason that
    never repeats the payload (it is logged)."""
    if payload == "all" or ALERT_ID.fullmatch(payload):
        return payload, "hub"
    if not payload.startswith("{"):
        raise ValueError("expected `all`, an alert id or a JSON object")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise ValueError("not valid JSON") from None
    if not isinstance(data, dict) or set(data) != {"alert_id", "by"}:
        raise ValueError('expected a JSON object with "alert_id" and "by" and nothing else')
    target, name = data["alert_id"], data["by"]
    if not isinstance(target, str) or not (target == "all" or ALERT_ID.fullmatch(target)):
        raise ValueError('"alert_id" must be "all" or an alert id')
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX or not name.isprintable():
        raise ValueError(f'"by" must be a name of 1 to {NAME_MAX} printable characters')
    return target, name if name.startswith("fleet:") else f"hub:{name}"


def connect_properties() -> Properties:
    """CONNECT properties: no session kept after the connection (the broker queues nothing for us
    while we are away), and the largest packet we accept."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    props.MaximumPacketSize = MAX_PACKET
    return props


def read_password(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError([f"mqtt.password_file: cannot read {path}: {exc.strerror or exc}"]) from None


def page_url(config: Config) -> str:
    host = config.web.host
    if host in ("0.0.0.0", "::", ""):
        host = f"{socket.gethostname()}.local"
    return f"http://{host}:{config.web.port}/"


def discovery(config: Config) -> list[tuple[str, dict[str, Any]]]:
    """One retained config per entity: (topic, payload), full key names, no object_id."""
    dev = config.device
    base = f"{config.mqtt.base_topic}/{dev.id}"
    node = f"pillbox_{dev.id}"
    device = {
        "identifiers": [node],
        "name": dev.name,
        "manufacturer": "Pillbox",
        "model": "Pillbox smart pill dispenser",
        "sw_version": VERSION,
        "configuration_url": page_url(config),
    }
    state = f"{base}/state"
    out: list[tuple[str, dict[str, Any]]] = []

    def add(component: str, obj: str, name: str, **fields: Any) -> None:
        payload = {
            "name": name,
            "unique_id": f"{node}_{obj}",
            "availability_topic": f"{base}/availability",
            "device": device,
            **fields,
        }
        out.append((f"{config.mqtt.discovery_prefix}/{component}/{node}/{obj}/config", payload))

    add("event", "event", "Event", state_topic=f"{base}/event", event_types=list(EVENT_TYPES), icon="mdi:pill")
    add("sensor", "next_dose", "Next dose", state_topic=state, device_class="timestamp",
        value_template="{{ value_json.next_dose_at }}")  # fmt: skip
    add("sensor", "last_taken", "Last taken", state_topic=state, device_class="timestamp",
        value_template="{{ value_json.last_taken_at }}")  # fmt: skip
    add("sensor", "adherence_7d", "Adherence 7 days", state_topic=state, unit_of_measurement="%",
        state_class="measurement", value_template="{{ value_json.adherence_7d }}")  # fmt: skip
    for med in config.medications:
        key = json.dumps(med.name)
        add("sensor", f"hours_since_last_dose_{med.slug.replace('-', '_')}", f"{med.name} hours since last dose",
            state_topic=state, unit_of_measurement="h", device_class="duration", state_class="measurement",
            value_template=f"{{{{ value_json.hours_since_last_dose[{key}] }}}}")  # fmt: skip
        if med.stock is not None:
            add("sensor", f"stock_{med.slug.replace('-', '_')}", f"{med.name} stock", state_topic=state,
                unit_of_measurement="tablets", state_class="measurement", icon="mdi:pill-multiple",
                value_template=f"{{{{ value_json.stock[{key}] }}}}")  # fmt: skip
            add("sensor", f"days_of_supply_{med.slug.replace('-', '_')}", f"{med.name} days of supply",
                state_topic=state, unit_of_measurement="d", device_class="duration", state_class="measurement",
                value_template=f"{{{{ value_json.days_of_supply[{key}] }}}}")  # fmt: skip
    add("binary_sensor", "lid", "Lid", state_topic=state, device_class="opening",
        value_template="{{ 'ON' if value_json.lid == 'open' else 'OFF' }}")  # fmt: skip
    add("binary_sensor", "dose_due", "Dose due", state_topic=state, icon="mdi:pill",
        value_template="{{ 'ON' if value_json.dose_due else 'OFF' }}")  # fmt: skip
    add("binary_sensor", "problem", "Problem", state_topic=state, device_class="problem",
        value_template="{{ 'ON' if value_json.alert_level == 'high' else 'OFF' }}")  # fmt: skip
    add("button", "acknowledge", "Acknowledge alerts", command_topic=f"{base}/cmd/ack", payload_press="all",
        icon="mdi:check-all")  # fmt: skip
    add("button", "silence", "Silence", command_topic=f"{base}/cmd/silence", payload_press="silence",
        icon="mdi:volume-off")  # fmt: skip
    return out


class MqttBridge:
    """Connects the daemon to the broker."""

    def __init__(
        self, config: Config, daemon: Daemon, *, resend_delay: Callable[[], float] = lambda: random.uniform(1, 5)
    ) -> None:
        self.config = config
        self.daemon = daemon
        self.store = daemon.store
        m = config.mqtt
        self.base = f"{m.base_topic}/{config.device.id}"
        self.resend_delay = resend_delay
        # MQTT 5 for a session that ends with the connection (commands act only when they arrive while
        # we are connected), the Maximum Packet Size (an oversized message is never delivered to us)
        # and "retain as published" (a retained command is seen as retained, and ignored).
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pillbox-{config.device.id}", protocol=mqtt.MQTTv5
        )
        if m.username:
            self.client.username_pw_set(m.username, read_password(m.password_file) if m.password_file else None)
        if m.tls:
            self.client.tls_set(
                ca_certs=m.ca_file or None, certfile=m.client_cert or None, keyfile=m.client_key or None
            )
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
        daemon.listeners.append(self._on_events)
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
        # paho 2.1 closes its wake-up socket pair only in __del__, which a reference cycle (our bound
        # callbacks) delays to some later collection; close it now, as __del__ would.
        self.client._reset_sockets()
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
            if message.retain:
                log.info("ignoring a retained message on %s", topic)
            elif len(payload) > MAX_COMMAND:
                log.warning("ignoring a message of %d bytes on %s: no command is that long", len(payload), topic)
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
        subscriptions = [(self.topic("cmd/ack"), options), (self.topic("cmd/silence"), options)]
        if self.config.mqtt.discovery_prefix:
            subscriptions.append((f"{self.config.mqtt.discovery_prefix}/status", SubscribeOptions(qos=1)))
        client.subscribe(subscriptions)
        self._publish_discovery()
        self._publish_status(force=True)
        self._pump()

    def _publish_discovery(self) -> None:
        if not self.config.mqtt.discovery_prefix:
            return
        for topic, payload in discovery(self.config):
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)

    def _publish_status(self, force: bool = False) -> None:
        if self.daemon.closed:
            return
        state = json.dumps(device_state(self.daemon), separators=(",", ":"))
        alerts = json.dumps(alert_list(self.daemon), separators=(",", ":"))
        if force or state != self._last_state:
            self.client.publish(self.topic("state"), state, qos=1, retain=True)
            self._last_state = state
        if force or alerts != self._last_alerts:
            self.client.publish(self.topic("alerts"), alerts, qos=1, retain=True)
            self._last_alerts = alerts

    def _on_events(self, events: list[Event]) -> None:
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
        if topic == self.topic("cmd/silence"):  # any payload silences
            self.daemon.silence()
            log.info("silenced for 10 minutes from the hub")
            return
        try:
            payload = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            log.warning("ignoring a message on %s that is not UTF-8 text", topic)
            return
        if topic == self.topic("cmd/ack"):
            try:
                target, by = parse_ack(payload)
            except ValueError as why:
                log.warning("ignoring a command on %s: %s", topic, why)
                return
            try:
                self.daemon.call(lambda engine, now: engine.acknowledge(target, now, by=by))
            except NotFound:
                log.warning("ignoring a command on %s: no alert with id %s", topic, target)
            else:
                log.info("acknowledged %s from the hub (by %r)", target, by)
        elif topic == f"{self.config.mqtt.discovery_prefix}/status" and payload == "online":
            timer = threading.Timer(self.resend_delay(), lambda: self._post(self._rediscover))
            timer.daemon = True
            timer.start()

    def _rediscover(self) -> None:
        self._publish_discovery()
        self._publish_status(force=True)

    def waiting(self) -> int:
        return self.store.outbox_waiting()


# ----------------------------------------------------------------------------- for the doctor


def broker_problem(m: MqttConfig, client_id: str, password: str | None, timeout: float) -> tuple[str, str] | None:
    """Connect once, as the daemon would (credentials, TLS); None if the broker accepts, else (why, what to do)."""
    # MQTT 5, as the daemon speaks it: a broker without MQTT 5 fails here as it would for the daemon.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    answer: list[Any] = []
    client.on_connect = lambda c, u, flags, reason, props: answer.append(reason)
    if m.username:
        client.username_pw_set(m.username, password)
    client.connect_timeout = timeout
    try:
        if m.tls:
            if problem := tls_problem(m, timeout):
                return problem
            client.tls_set(m.ca_file or None, m.client_cert or None, m.client_key or None)
        client.connect(
            m.host, m.port, keepalive=max(10, int(timeout * 2)), clean_start=True, properties=connect_properties()
        )
        end = time.monotonic() + timeout
        while not answer and time.monotonic() < end:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS and not answer:
                return "the broker closed the connection before answering", "check port and tls (is it a TLS port?)"
    except (ssl.SSLError, ssl.CertificateError) as exc:
        return f"TLS failed ({exc})", "check tls, ca_file, the broker's certificate and name, and the port"
    except ConnectionRefusedError:
        return "nothing listens there", "is the broker running (systemctl status mosquitto)? check [mqtt] host and port"
    except OSError as exc:
        if isinstance(exc, TimeoutError) or "timed out" in str(exc):
            return f"no answer within {timeout:g} s", "check the network, [mqtt] host and port, and any firewall"
        return f"cannot connect ({exc.strerror or exc})", "check [mqtt] host and port and the network"
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
            client.loop_write()
        client._reset_sockets()  # close paho's sockets now rather than at garbage collection
    if not answer:
        return f"no answer within {timeout:g} s", "check [mqtt] port and tls: is a broker listening there?"
    reason = answer[0]
    if reason.is_failure:
        return (
            f"the broker refused the connection ({reason})",
            "check [mqtt] username and the password in password_file against the broker's users",
        )
    return None


def tls_problem(m: MqttConfig, timeout: float) -> tuple[str, str] | None:
    """A TLS handshake of our own first: paho leaves the socket of a failed handshake open."""
    try:
        context = ssl.create_default_context(cafile=m.ca_file or None)
        if m.client_cert:
            context.load_cert_chain(m.client_cert, m.client_key or None)
    except (OSError, ValueError) as exc:
        return f"the TLS files cannot be used ({exc})", "check [mqtt] ca_file, client_cert and client_key"
    with socket.create_connection((m.host, m.port), timeout=timeout) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=m.host):
                return None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            return f"TLS failed ({exc})", "check tls, ca_file, the broker's certificate and name, and the port"

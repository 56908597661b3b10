"""How the dispenser connects to a broker, shared by the bridge and the doctor's probe so the doctor
tests exactly what the daemon does: MQTT 5, no session after the connection, the largest packet."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..engine.model import MqttConfig
from ..errors import ConfigError

MAX_PACKET = 64 * 1024  # declared to the broker (MQTT 5 Maximum Packet Size): it never sends us more


def new_client(client_id: str) -> mqtt.Client:
    """A paho client speaking MQTT 5 (a broker without it fails for the doctor as for the daemon)."""
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


def connect_properties() -> Properties:
    """CONNECT properties: no session kept after the connection (the broker queues nothing for us
    while we are away), and the largest packet we accept."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    props.MaximumPacketSize = MAX_PACKET
    return props


def read_password(path: str) -> str:
    """The broker password: the file's text without its final line break."""
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError([f"mqtt.password_file: cannot read {path}: {exc.strerror or exc}"]) from None


def use_credentials(client: mqtt.Client, m: MqttConfig, password: str | None) -> None:
    """Username and password, and TLS with the configured CA and optional client certificate."""
    if m.username:
        client.username_pw_set(m.username, password)
    if m.tls:
        client.tls_set(ca_certs=m.ca_file or None, certfile=m.client_cert or None, keyfile=m.client_key or None)


def close_sockets(client: mqtt.Client) -> None:
    """Close paho's sockets now: paho 2.1 closes its wake-up socket pair only in __del__, which a
    reference cycle (our bound callbacks) delays to some later collection."""
    client._reset_sockets()

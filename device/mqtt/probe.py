"""The doctor's broker check: connect once as the daemon would (credentials, TLS, MQTT 5) and say
why it failed and what to do, in words a person installing the dispenser can act on."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any

import paho.mqtt.client as mqtt

from ..engine.model import MqttConfig
from .connection import close_sockets, connect_properties, new_client, use_credentials

Problem = tuple[str, str]  # (why, what to do)
TLS_FAILED = "check tls, ca_file, the broker's certificate and name, and the port"


def broker_problem(m: MqttConfig, client_id: str, password: str | None, timeout: float) -> Problem | None:
    """Connect once, as the daemon would (credentials, TLS); None if the broker accepts, else (why, what to do)."""
    client = new_client(client_id)
    answer: list[Any] = []
    client.on_connect = lambda c, u, flags, reason, props: answer.append(reason)
    client.connect_timeout = timeout
    try:
        if m.tls and (problem := tls_problem(m, timeout)):
            return problem
        use_credentials(client, m, password)
        client.connect(
            m.host, m.port, keepalive=max(10, int(timeout * 2)), clean_start=True, properties=connect_properties()
        )
        end = time.monotonic() + timeout
        while not answer and time.monotonic() < end:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS and not answer:
                return "the broker closed the connection before answering", "check port and tls (is it a TLS port?)"
    except (ssl.SSLError, ssl.CertificateError) as exc:
        return f"TLS failed ({exc})", TLS_FAILED
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
        close_sockets(client)
    if not answer:
        return f"no answer within {timeout:g} s", "check [mqtt] port and tls: is a broker listening there?"
    reason = answer[0]
    if reason.is_failure:
        return (
            f"the broker refused the connection ({reason})",
            "check [mqtt] username and the password in password_file against the broker's users",
        )
    return None


def tls_problem(m: MqttConfig, timeout: float) -> Problem | None:
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
            return f"TLS failed ({exc})", TLS_FAILED

"""What a message on a subscribed topic asks for (SPEC section 9), decided without paho or a broker.

Nothing here repeats a payload in a reason: reasons are logged, and a payload is whatever anyone
with publish rights on the command topics chose to send.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from ..engine.model import Config
from ..errors import PillboxError
from .discovery import base_topic, status_topic

ALERT_ID = re.compile(r"[0-9a-fA-F-]{8,64}")  # fullmatch only
MAX_COMMAND = 1024  # bytes: the longest command we accept (JSON ack with a 64-character name) fits
NAME_MAX = 64


class BadCommand(PillboxError, ValueError):
    """A command payload that is not one of the forms SPEC section 9 lists; the reason never repeats it."""


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge `target` (`all` or an alert id) on behalf of `by`."""

    target: str
    by: str


@dataclass(frozen=True)
class Silence:
    """Silence the sound for 10 minutes."""


@dataclass(frozen=True)
class Rediscover:
    """Home Assistant came online: send the discovery configs and the state again."""


@dataclass(frozen=True)
class Ignore:
    """Not acted on; `why` is logged (`ignoring <why>`, at `level`) and never contains the payload."""

    why: str
    level: int = logging.WARNING


Command = Acknowledge | Silence | Rediscover | Ignore


@dataclass(frozen=True)
class CommandTopics:
    """The topics the bridge subscribes to, from the config."""

    ack: str
    silence: str
    ha_status: str | None

    @classmethod
    def of(cls, config: Config) -> CommandTopics:
        b = base_topic(config)
        return cls(ack=f"{b}/cmd/ack", silence=f"{b}/cmd/silence", ha_status=status_topic(config))


def parse_ack(payload: str) -> tuple[str, str]:
    """A `cmd/ack` payload as (target, by): `all` or an alert id from the hub, or the JSON form
    `{"alert_id": ..., "by": "<name>"}` (SPEC section 9). Raises BadCommand with a reason that
    never repeats the payload (it is logged)."""
    if payload == "all" or ALERT_ID.fullmatch(payload):
        return payload, "hub"
    if not payload.startswith("{"):
        raise BadCommand("expected `all`, an alert id or a JSON object")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise BadCommand("not valid JSON") from None
    if not isinstance(data, dict) or set(data) != {"alert_id", "by"}:
        raise BadCommand('expected a JSON object with "alert_id" and "by" and nothing else')
    target, name = data["alert_id"], data["by"]
    if not isinstance(target, str) or not (target == "all" or ALERT_ID.fullmatch(target)):
        raise BadCommand('"alert_id" must be "all" or an alert id')
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX or not name.isprintable():
        raise BadCommand(f'"by" must be a name of 1 to {NAME_MAX} printable characters')
    return target, name if name.startswith("fleet:") else f"hub:{name}"


def screen(topic: str, size: int, retained: bool) -> Ignore | None:
    """The checks made as a message arrives, before it is queued: a retained command is stale, and
    nothing longer than MAX_COMMAND is a command."""
    if retained:
        return Ignore(f"a retained message on {topic}", logging.INFO)
    if size > MAX_COMMAND:
        return Ignore(f"a message of {size} bytes on {topic}: no command is that long")
    return None


def parse_command(topics: CommandTopics, topic: str, raw: bytes) -> Command | None:
    """What a live message asks for; None for a message that needs nothing (Home Assistant offline)."""
    if topic == topics.silence:  # any payload silences
        return Silence()
    try:
        payload = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Ignore(f"a message on {topic} that is not UTF-8 text")
    if topic == topics.ack:
        try:
            target, by = parse_ack(payload)
        except BadCommand as why:
            return Ignore(f"a command on {topic}: {why}")
        return Acknowledge(target, by)
    if topic == topics.ha_status and payload == "online":
        return Rediscover()
    return None

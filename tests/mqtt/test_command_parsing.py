"""Command payloads as tables (SPEC section 9): what each form means, and that no reason repeats it."""

from __future__ import annotations

import json
import logging

import pytest

from device.errors import PillboxError
from device.mqtt import BadCommand, parse_ack
from device.mqtt.commands import (
    MAX_COMMAND,
    Acknowledge,
    CommandTopics,
    Ignore,
    Rediscover,
    Silence,
    parse_command,
    screen,
)

ID = "3f2b9c1e-7a4d-4e21-9b0f-0c6d2a8e5f11"
TOPICS = CommandTopics(ack="pillbox/pillbox/cmd/ack", silence="pillbox/pillbox/cmd/silence", ha_status="ha/status")


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        ("all", ("all", "hub")),
        (ID, (ID, "hub")),
        ("deadbeef", ("deadbeef", "hub")),  # 8 hex digits: the shortest id
        (json.dumps({"alert_id": ID, "by": "Anna"}), (ID, "hub:Anna")),
        (json.dumps({"alert_id": "all", "by": "Kitchen tablet"}), ("all", "hub:Kitchen tablet")),
        (json.dumps({"by": "fleet:nurse.jo", "alert_id": "all"}), ("all", "fleet:nurse.jo")),  # kept as it is
        (json.dumps({"alert_id": "all", "by": "é" * 64}), ("all", "hub:" + "é" * 64)),  # characters, not bytes
    ],
    ids=["all", "id", "short-id", "json-id", "json-all", "fleet", "64-characters"],
)
def test_an_acknowledgement_names_its_target_and_who_sent_it(payload, parsed):
    assert parse_ack(payload) == parsed


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "expected `all`, an alert id"),
        ("ALL", "expected `all`, an alert id"),
        ("dead", "expected `all`, an alert id"),  # too short for an id
        ("../../SECRET", "expected `all`, an alert id"),
        ("f" * 65, "expected `all`, an alert id"),  # too long for an id
        ("{SECRET", "not valid JSON"),
        ("[" * 100_000, "expected `all`, an alert id"),
        ("{" * 100_000, "not valid JSON"),
        (json.dumps(["SECRET"]), "expected `all`, an alert id"),
        (json.dumps({"alert_id": "all"}), 'with "alert_id" and "by"'),
        (json.dumps({"alert_id": "all", "by": "x", "more": "SECRET"}), 'with "alert_id" and "by"'),
        (json.dumps({"alert_id": 7, "by": "x"}), '"alert_id" must be'),
        (json.dumps({"alert_id": "../SECRET", "by": "x"}), '"alert_id" must be'),
        (json.dumps({"alert_id": "all", "by": ["SECRET"]}), '"by" must be a name of 1 to 64'),
        (json.dumps({"alert_id": "all", "by": ""}), '"by" must be a name'),
        (json.dumps({"alert_id": "all", "by": "S" * 65}), '"by" must be a name'),
        (json.dumps({"alert_id": "all", "by": "SECRET\n"}), '"by" must be a name'),
        (json.dumps({"alert_id": "all", "by": "SECRET\x1b[31m"}), '"by" must be a name'),
        (json.dumps({"alert_id": "all", "by": "\u200b"}), '"by" must be a name'),
    ],
)
def test_a_bad_acknowledgement_is_refused_without_repeating_it(payload, reason):
    with pytest.raises(BadCommand) as caught:
        parse_ack(payload)
    assert reason in str(caught.value)
    assert "SECRET" not in str(caught.value) and "SSS" not in str(caught.value)


def test_a_bad_command_is_a_pillbox_error_and_a_value_error():
    assert issubclass(BadCommand, PillboxError) and issubclass(BadCommand, ValueError)


COMMAND_IDS = ["silence", "silence-empty", "silence-binary", "ack", "ack-json", "ack-bad", "ack-binary",
               "ha-online", "ha-offline", "other-topic"]  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "raw", "command"),
    [
        (TOPICS.silence, b"silence", Silence()),
        (TOPICS.silence, b"", Silence()),  # any payload silences
        (TOPICS.silence, b"\xff\xfe", Silence()),  # even one that is not text
        (TOPICS.ack, b" all\n", Acknowledge("all", "hub")),
        (TOPICS.ack, json.dumps({"alert_id": ID, "by": "Anna"}).encode(), Acknowledge(ID, "hub:Anna")),
        (TOPICS.ack, b"zzz", Ignore(f"a command on {TOPICS.ack}: expected `all`, an alert id or a JSON object")),
        (TOPICS.ack, b"\xffSECRET", Ignore(f"a message on {TOPICS.ack} that is not UTF-8 text")),
        ("ha/status", b"online", Rediscover()),
        ("ha/status", b"offline", None),
        ("elsewhere/cmd/ack", b"all", None),
    ],
    ids=COMMAND_IDS,
)
def test_a_live_message_means_one_command(topic, raw, command):
    assert parse_command(TOPICS, topic, raw) == command


def test_without_discovery_no_status_message_asks_for_rediscovery():
    topics = CommandTopics(TOPICS.ack, TOPICS.silence, ha_status=None)
    assert parse_command(topics, "homeassistant/status", b"online") is None
    assert parse_command(topics, "/status", b"online") is None


@pytest.mark.parametrize(
    ("size", "retained", "ignored"),
    [
        (3, False, None),
        (MAX_COMMAND, False, None),
        (MAX_COMMAND + 1, False, Ignore(f"a message of {MAX_COMMAND + 1} bytes on t: no command is that long")),
        (3, True, Ignore("a retained message on t", logging.INFO)),
    ],
    ids=["short", "longest", "too-long", "retained"],
)
def test_retained_and_oversized_messages_are_screened_out_on_arrival(size, retained, ignored):
    assert screen("t", size, retained) == ignored

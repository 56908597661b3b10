"""Commands from the hub against a real Mosquitto (SPEC section 9): only live commands act, nothing
a client publishes can stop the dispenser, and an acknowledgement records who sent it (`by`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest

from device.clock import utc_now

from .conftest import mqtt_config, wait_for

B = "pillbox/pillbox"
MiB = 1024 * 1024


def times_from_now(*minutes: int) -> str:
    now = dt.datetime.now(dt.UTC)
    return json.dumps(sorted((now + dt.timedelta(minutes=m)).strftime("%H:%M") for m in minutes))


# ------------------------------------------------------------------ 1. only live commands act


def test_a_command_published_while_the_daemon_was_down_is_not_applied_at_the_next_start(
    tmp_path, broker, listen, run_daemon
):
    # The reproduction: stop, `all` with QoS 1 (not retained) on cmd/ack, a dose window
    # closes while the dispenser is off, start again. With a persistent session the broker queued
    # the command and delivered it at the new connection, where it acknowledged the downtime miss.
    text = mqtt_config(tmp_path, broker.port)  # a dose due now, missed after 60 minutes
    daemon = run_daemon(text)
    wait_for(lambda: daemon.mqtt_connected() and daemon.store.outbox_waiting() == 0, what="the first session")
    daemon.stop()
    ears = listen(broker.port, [f"{B}/alerts", f"{B}/event"])
    ears.publish(f"{B}/cmd/ack", "all")  # QoS 1, not retained, while the dispenser is off
    daemon = run_daemon(text, wall=lambda: utc_now() + dt.timedelta(hours=2))  # the dose window closed meanwhile
    missed = [a for a in daemon.engine.active_alerts() if a.event_type == "dose_missed"]
    assert len(missed) == 1 and not missed[0].acknowledged  # raised during the downtime, at start
    wait_for(lambda: daemon.mqtt_connected() and daemon.store.outbox_waiting() == 0, what="the second session")
    ears.publish(f"{B}/cmd/silence", "x")  # a live command after it, to know a queued one had its chance
    wait_for(lambda: daemon.prompter.silenced_until is not None, what="the live command")
    alerts = {a.id: a for a in daemon.engine.active_alerts()}
    assert missed[0].id in alerts and alerts[missed[0].id].acknowledged is False
    kinds = [e["event_type"] for e in ears.json_on(f"{B}/event")]
    assert "dose_missed" in kinds and "alert_acknowledged" not in kinds and "alert_resolved" not in kinds
    listed = wait_for(lambda: ears.json_on(f"{B}/alerts"), what="alerts")[-1]
    assert [(a["event_type"], a["acknowledged"]) for a in listed] == [("dose_missed", False)]


# ------------------------------------------------------- 2. nothing published stops the dispenser


def test_a_1_mib_publish_on_each_command_topic_leaves_the_daemon_up_and_its_memory_flat(
    tmp_path, broker, listen, daemon_process
):
    text = mqtt_config(tmp_path, broker.port, med_times=times_from_now(180, 540))  # no dose due
    ears = listen(broker.port, [f"{B}/availability", f"{B}/alerts", f"{B}/event"])
    proc = daemon_process(text)
    wait_for(lambda: ears.last(f"{B}/availability") == "online", 30, "the daemon online")

    def extra_access() -> bool:
        listed = ears.json_on(f"{B}/alerts")
        return bool(listed) and any(a["event_type"] == "extra_access" for a in listed[-1])

    def silence_then_ack(round_: int) -> None:
        """A silence, then an alert acknowledged: the acknowledgement arrives after the silence, so the
        silence has been handled (or never delivered) when the alert is seen resolved."""
        ears.publish(f"{B}/cmd/silence", "silence")
        proc.send("lid_open", "lid_close")  # no dose due: extra_access
        wait_for(extra_access, 20, f"extra_access {round_}")
        ears.publish(f"{B}/cmd/ack", "all")  # acknowledges extra_access, which then resolves
        wait_for(lambda: not extra_access(), 20, f"the alert of round {round_} to resolve")

    silence_then_ack(1)  # every path a command takes has run once before the peak is read
    assert proc.log().count("silenced for 10 minutes") == 1
    before = proc.status_kb("VmHWM")
    for leaf in ("cmd/ack", "cmd/silence"):
        ears.client.publish(f"{B}/{leaf}", b"x" * MiB, qos=1).wait_for_publish(timeout=10)
    silence_then_ack(2)  # the next normal commands still work...
    after = proc.status_kb("VmHWM")
    print(f"VmHWM before the 1 MiB publishes: {before} kB, after: {after} kB")
    assert proc.proc.poll() is None
    # ... and the broker never delivered the oversized ones: the big silence did not silence
    # (SPEC: any payload silences, so a delivered one would have shown), and nothing echoed it.
    assert proc.log().count("silenced for 10 minutes") == 2
    assert "x" * 64 not in proc.log()
    dropped = "Dropping too large outgoing PUBLISH for pillbox-pillbox"  # Mosquitto honours our Maximum Packet Size
    wait_for(lambda: (tmp_path / "broker" / "mosquitto.log").read_text().count(dropped) == 2, what="the broker's log")
    assert after - before < 5 * 1024, (before, after)
    acks = [e for e in ears.json_on(f"{B}/event") if e["event_type"] == "alert_acknowledged"]
    assert len(acks) >= 2 and {e["by"] for e in acks} == {"hub"}
    assert proc.stop() == 0


def test_unexpected_command_payloads_are_logged_without_their_content(tmp_path, broker, listen, run_daemon, caplog):
    ears = listen(broker.port, [f"{B}/alerts"])
    daemon = run_daemon(mqtt_config(tmp_path, broker.port), synced=False)  # clock_unsynced: medium
    wait_for(lambda: ears.json_on(f"{B}/alerts") and ears.json_on(f"{B}/alerts")[-1], what="the alert")
    caplog.set_level(logging.INFO, logger="device.mqtt")
    secret = "SECRET-" + "q" * 3000  # below the broker's cut, above what any command needs
    odd = [secret, json.dumps({"alert_id": secret}), json.dumps([1, 2]), "{not json", "null", "12345",
           json.dumps({"alert_id": "all"}), json.dumps({"alert_id": "all", "by": "x", "more": secret}),
           json.dumps({"alert_id": 7, "by": "x"}), json.dumps({"alert_id": "all", "by": ["SECRET"]}),
           "\u202eSECRET", json.dumps({"alert_id": "../../SECRET", "by": "x"})]  # fmt: skip
    for payload in odd:
        ears.publish(f"{B}/cmd/ack", payload)
    ears.client.publish(f"{B}/cmd/ack", b"\xffSECRET\xfe", qos=1).wait_for_publish(timeout=5)
    ears.publish(f"{B}/cmd/ack", json.dumps({"alert_id": "all", "by": "Anna"}))
    wait_for(lambda: ears.json_on(f"{B}/alerts")[-1][0]["acknowledged"], what="the live acknowledgement")
    assert ears.json_on(f"{B}/alerts")[-1][0]["acknowledged_by"] == "hub:Anna"
    ignored = [r for r in caplog.records if r.name == "device.mqtt" and "ignoring" in r.getMessage()]
    assert len(ignored) == len(odd) + 1
    assert not any("SECRET" in r.getMessage() or "qqqq" in r.getMessage() for r in caplog.records)
    assert not daemon.closed and daemon.failure is None


# ------------------------------------------------------------------------- 3. who did it (`by`)


def unsynced_alert(tmp_path: Any, broker: Any, listen: Any, run_daemon: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The daemon with one medium alert (clock_unsynced, which stays listed once acknowledged)."""
    ears = listen(broker.port, [f"{B}/alerts", f"{B}/event"])
    daemon = run_daemon(mqtt_config(tmp_path, broker.port), synced=False)
    alerts = wait_for(lambda: ears.json_on(f"{B}/alerts") and ears.json_on(f"{B}/alerts")[-1], what="the alert")
    assert [a["event_type"] for a in alerts] == ["clock_unsynced"] and "acknowledged_by" not in alerts[0]
    return daemon, ears, alerts[0]


def acknowledged(ears: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The alert as B/alerts lists it once acknowledged, and the alert_acknowledged event on B/event."""
    alert = wait_for(lambda: [a for a in ears.json_on(f"{B}/alerts")[-1] if a["acknowledged"]], what="the ack")[0]
    event = wait_for(
        lambda: [e for e in ears.json_on(f"{B}/event") if e["event_type"] == "alert_acknowledged"], what="the event"
    )[0]
    return alert, event


@pytest.mark.parametrize("form", ["all", "id"])
def test_a_plain_acknowledgement_is_recorded_by_the_hub(tmp_path, broker, listen, run_daemon, form):
    daemon, ears, alert = unsynced_alert(tmp_path, broker, listen, run_daemon)
    ears.publish(f"{B}/cmd/ack", "all" if form == "all" else alert["id"])
    listed, event = acknowledged(ears)
    assert listed["id"] == alert["id"] and listed["acknowledged_by"] == "hub"
    assert event["alert_id"] == alert["id"] and event["by"] == "hub"
    assert daemon.engine.alerts[alert["id"]].acknowledged_by == "hub"


@pytest.mark.parametrize(
    ("target", "name", "recorded"),
    [
        ("id", "Anna", "hub:Anna"),
        ("all", "Kitchen tablet", "hub:Kitchen tablet"),
        ("all", "fleet:nurse.jo", "fleet:nurse.jo"),  # the fleet service's name is kept as it is
        ("id", "é" * 64, "hub:" + "é" * 64),  # 64 printable characters, not bytes
    ],
    ids=["id", "all", "fleet", "64-characters"],
)
def test_the_json_acknowledgement_records_the_name(tmp_path, broker, listen, run_daemon, target, name, recorded):
    daemon, ears, alert = unsynced_alert(tmp_path, broker, listen, run_daemon)
    ears.publish(f"{B}/cmd/ack", json.dumps({"alert_id": "all" if target == "all" else alert["id"], "by": name}))
    listed, event = acknowledged(ears)
    assert listed["id"] == alert["id"] and listed["acknowledged_by"] == recorded
    assert event["alert_id"] == alert["id"] and event["by"] == recorded
    assert daemon.engine.alerts[alert["id"]].acknowledged_by == recorded
    assert daemon.store.find_alert(alert["id"])["acknowledged_by"] == recorded


@pytest.mark.parametrize(
    "name",
    ["n" * 65, "nurse\njo", "nurse\x1b[31m", "tab\there", "", "\u200b"],
    ids=["65-characters", "newline", "escape", "tab", "empty", "zero-width-space"],
)
def test_a_json_acknowledgement_with_a_bad_name_is_ignored(tmp_path, broker, listen, run_daemon, caplog, name):
    daemon, ears, alert = unsynced_alert(tmp_path, broker, listen, run_daemon)
    caplog.set_level(logging.INFO, logger="device.mqtt")
    ears.publish(f"{B}/cmd/ack", json.dumps({"alert_id": alert["id"], "by": name}))
    ears.publish(f"{B}/cmd/ack", json.dumps({"alert_id": "all", "by": name}))
    ears.publish(f"{B}/cmd/ack", json.dumps({"alert_id": alert["id"], "by": "after"}))  # a good one after them
    listed, event = acknowledged(ears)
    assert listed["acknowledged_by"] == event["by"] == "hub:after"
    assert [e["by"] for e in ears.json_on(f"{B}/event") if e["event_type"] == "alert_acknowledged"] == ["hub:after"]
    ignored = [r.getMessage() for r in caplog.records if r.name == "device.mqtt" and "ignoring" in r.getMessage()]
    assert len(ignored) == 2 and not any(name and name in m for m in ignored)
    assert not daemon.closed

"""One JSON for an event, as the store, MQTT and the API give it (SPEC section 6)."""

from __future__ import annotations

import datetime as dt
import json

from device.engine.events import EVENT_TYPES, Event, Priority, from_json, to_json


def test_event_json_shape():
    event = Event(
        id="8c1d",
        seq=42,
        event_type="dose_missed",
        priority=Priority.MEDIUM,
        time=dt.datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=dt.UTC),
        device_id="pillbox",
        message="Baclofen 10 mg due at 08:00 was not taken.",
        fields={
            "during_downtime": True,
            "medication": "Baclofen",
            "dose_id": "baclofen/2026-11-26T08:00",
            "scheduled_for": dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC),
            "dose_mg": 10.0,
            "tablets": 1.5,
        },
    )
    data = to_json(event)
    assert list(data)[:11] == [
        "id", "seq", "event_type", "priority", "time", "device_id",
        "medication", "dose_id", "scheduled_for", "dose_mg", "tablets",
    ]  # fmt: skip
    assert data["time"] == "2026-11-26T10:00:00+00:00"
    assert data["scheduled_for"] == "2026-11-26T08:00:00+00:00"
    assert json.dumps(data["dose_mg"]) == "10" and data["tablets"] == 1.5
    assert list(data)[-1] == "message"
    assert to_json(from_json(json.loads(json.dumps(data)))) == data


def test_every_event_type_has_the_spec_priority():
    assert EVENT_TYPES["intake_stopped"] is Priority.HIGH
    assert EVENT_TYPES["dose_due"] is Priority.LOW
    assert len(EVENT_TYPES) == 25
    assert EVENT_TYPES["withdrawal_watch"] is Priority.MEDIUM

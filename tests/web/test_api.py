"""The JSON API: each answer's shape, and bad input gets a 4xx JSON naming the field, never a 500."""

from __future__ import annotations

import pytest

from ..engine.conftest import local

STATUS_KEYS = {
    "next_dose_at", "next_dose_medication", "next_dose_mg", "dose_due", "last_taken_at", "hours_since_last_dose",
    "adherence_7d", "lid", "alert_level", "active_alerts", "stock", "days_of_supply", "clock_synced", "away",
    "today", "hub_connected", "outbox_waiting",
}  # fmt: skip


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_status_shape(client, token):
    body = client.get("/api/v1/status", headers=auth(token)).get_json()
    assert set(body) == STATUS_KEYS
    assert body["dose_due"] is True and body["next_dose_medication"] == "Baclofen"
    assert [d["dose_id"] for d in body["today"]] == [
        "baclofen/2026-11-02T08:00", "baclofen/2026-11-02T14:00", "baclofen/2026-11-02T20:00",
    ]  # fmt: skip
    assert {"dose_id", "scheduled_for", "dose_mg", "state"} <= set(body["today"][0])
    assert body["today"][0]["state"] == "waiting" and body["hub_connected"] is False


def test_doses_range_and_errors(client, token):
    doses = client.get("/api/v1/doses?from=2026-11-02&to=2026-11-03", headers=auth(token)).get_json()
    assert len(doses) == 6 and doses[0]["dose_id"] == "baclofen/2026-11-02T08:00"
    for query, field in [
        ("from=2026-13-01", "from"),
        ("from=2026-11-03&to=2026-11-02", "to"),
        ("from=2026-01-01&to=2027-06-01", "to"),
        ("to=yesterday", "to"),
        ("colour=red", "colour"),
    ]:
        response = client.get(f"/api/v1/doses?{query}", headers=auth(token))
        assert response.status_code == 400 and response.get_json()["field"] == field, query


def test_events_paging_and_errors(client, token):
    events = client.get("/api/v1/events", headers=auth(token)).get_json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    after = client.get("/api/v1/events?after_seq=1&limit=1", headers=auth(token)).get_json()
    assert [e["seq"] for e in after] == [2]
    typed = client.get("/api/v1/events?type=dose_due", headers=auth(token)).get_json()
    assert {e["event_type"] for e in typed} == {"dose_due"}
    for query, field in [("limit=0", "limit"), ("limit=1001", "limit"), ("after_seq=-1", "after_seq"),
                         ("after_seq=abc", "after_seq"), ("type=party", "type")]:  # fmt: skip
        response = client.get(f"/api/v1/events?{query}", headers=auth(token))
        assert response.status_code == 400 and response.get_json()["field"] == field, query


def test_alerts_and_ack(client, token, rig):
    rig.run_to(local("2026-11-02T09:00"))  # overdue
    alerts = client.get("/api/v1/alerts", headers=auth(token)).get_json()
    assert [a["event_type"] for a in alerts] == ["dose_overdue"]
    alert = alerts[0]
    assert set(alert) >= {"id", "event_type", "priority", "since", "message", "acknowledged", "medication"}
    first = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth(token))
    again = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth(token))
    assert first.status_code == again.status_code == 200
    assert first.get_json()["acknowledged"] is again.get_json()["acknowledged"] is True
    assert client.post("/api/v1/alerts/unknown-id/ack", headers=auth(token)).status_code == 404


def test_refills(client, token):
    response = client.post("/api/v1/refills", json={"medication": "Baclofen", "tablets": 30}, headers=auth(token))
    assert response.status_code == 201
    assert response.get_json()["event_type"] == "refill" and response.get_json()["stock"] == 120
    for body, status, field in [
        ({"medication": "Baclofen", "tablets": 0}, 400, "tablets"),
        ({"medication": "Baclofen", "tablets": 1.3}, 400, "tablets"),
        ({"medication": "Baclofen", "tablets": "many"}, 400, "tablets"),
        ({"medication": "Baclofen", "tablets": True}, 400, "tablets"),
        ({"medication": "Baclofen", "tablets": 1e308 * 10}, 400, "tablets"),
        ({"medication": "Aspirin", "tablets": 5}, 404, "medication"),
        ({"medication": "Baclofen", "tablets": 5, "extra": 1}, 400, "extra"),
        ([1, 2], 400, "body"),
    ]:
        response = client.post("/api/v1/refills", json=body, headers=auth(token))
        assert response.status_code == status and response.get_json()["field"] == field, body
    broken = client.post(
        "/api/v1/refills", data="{not json", headers={**auth(token), "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.get_json()["field"] == "body"


def test_refill_mode_and_away(client, token):
    mode = client.post("/api/v1/refill-mode", headers=auth(token)).get_json()
    assert mode["refill_mode_until"].startswith("2026-11-02T08:20")
    away = client.post(
        "/api/v1/away", json={"from": "2026-11-03T09:00", "until": "2026-11-05T18:00"}, headers=auth(token)
    )
    assert away.status_code == 200 and away.get_json() == {
        "away": False, "from": "2026-11-03T09:00:00+00:00", "until": "2026-11-05T18:00:00+00:00",
    }  # fmt: skip
    back = client.delete("/api/v1/away", headers=auth(token))
    assert back.get_json() == {"away": False, "from": None, "until": None}
    for body, field in [
        ({"from": "2026-11-03T09:00"}, "until"),
        ({"until": "soon"}, "until"),
        ({"from": "2026-11-05T09:00", "until": "2026-11-04T09:00"}, "until"),
        ({"until": "2026-11-01T09:00"}, "until"),
    ]:
        response = client.post("/api/v1/away", json=body, headers=auth(token))
        assert response.status_code == 400 and response.get_json()["field"] == field, body


@pytest.mark.parametrize("encoded", [False, True])
def test_skip_and_taken_with_dose_ids_as_is_or_encoded(client, token, encoded):
    dose = "baclofen/2026-11-02T14:00" if not encoded else "baclofen%2F2026-11-02T14:00"
    skipped = client.post(f"/api/v1/doses/{dose}/skip", json={"reason": "fasting"}, headers=auth(token))
    assert skipped.status_code == 200 and skipped.get_json()["state"] == "skipped"
    assert skipped.get_json()["reason"] == "fasting"
    again = client.post(f"/api/v1/doses/{dose}/skip", json={"reason": "again"}, headers=auth(token))
    assert again.status_code == 409 and "error" in again.get_json()
    taken = client.post("/api/v1/doses/baclofen/2026-11-02T08:00/taken", json={"at": "2026-11-02T08:01"},
                        headers=auth(token))  # fmt: skip
    assert taken.status_code == 200 and taken.get_json()["state"] == "taken"
    assert taken.get_json()["source"] == "caregiver"


def test_skip_and_taken_errors(client, token):
    cases = [
        ("/api/v1/doses/baclofen/2026-11-02T09:00/skip", {"reason": "x"}, 404, "dose"),
        ("/api/v1/doses/aspirin/2026-11-02T08:00/skip", {"reason": "x"}, 404, "dose"),
        ("/api/v1/doses/nonsense/skip", {"reason": "x"}, 404, "dose"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/skip", {}, 400, "reason"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/skip", {"reason": "x" * 501}, 400, "reason"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/taken", {"at": "tomorrow"}, 400, "at"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/taken", {"at": "2026-11-02T12:00"}, 400, "at"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/taken", {"from_dispenser": "maybe"}, 400, "from_dispenser"),
    ]
    for path, body, status, field in cases:
        response = client.post(path, json=body, headers=auth(token))
        assert response.status_code == status, (path, body, response.get_json())
        assert response.get_json()["field"] == field, (path, body, response.get_json())


def test_mock_routes_drive_the_virtual_dispenser(client, token, rig):
    opened = client.post("/api/v1/mock/lid_open", headers=auth(token))
    assert opened.status_code == 200 and opened.get_json()["hardware"]["lid"] == "open"
    assert [e["event_type"] for e in rig.events][-1] == "dose_taken"
    assert client.post("/api/v1/mock/dance", headers=auth(token)).status_code == 400


def test_unknown_routes_and_methods_are_json(client, token):
    assert client.get("/api/v1/nothing", headers=auth(token)).status_code == 404
    wrong = client.put("/api/v1/status", headers=auth(token))
    assert wrong.status_code == 405 and "error" in wrong.get_json()


def test_openapi_document_lists_every_route(client, token):
    doc = client.get("/api/v1/openapi.json", headers=auth(token)).get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {
        "/status", "/doses", "/events", "/alerts", "/alerts/{alert_id}/ack", "/refills", "/refill-mode", "/away",
        "/doses/{dose_id}/skip", "/doses/{dose_id}/taken", "/openapi.json", "/mock/{action}",
    }  # fmt: skip


def test_times_out_of_range_are_400_not_500(client, token):
    # Found by schemathesis: a year-1 time with an offset overflowed on conversion to UTC.
    response = client.post("/api/v1/away", json={"until": "0001-01-01T00:01:00+00:05"}, headers=auth(token))
    assert response.status_code == 400 and response.get_json()["field"] == "until"
    days = client.get("/api/v1/doses?from=0001-01-01", headers=auth(token))
    assert days.status_code == 400 and days.get_json()["field"] == "from"


def test_review_findings_are_4xx_not_500(client, token, carer):
    # Found in review: each of these answered 500.
    assert client.post("/api/v1/alerts/all/ack", headers=auth(token)).status_code == 404
    assert carer.form("/actions/ack/all", {}).status_code == 302
    deep = client.post("/api/v1/refills", data="[" * 60000, headers={**auth(token), "Content-Type": "application/json"})
    assert deep.status_code == 400 and deep.get_json()["field"] == "body"
    huge = client.post("/api/v1/refills", data='{"tablets": 1' + "0" * 400 + "}",
                       headers={**auth(token), "Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 400 and huge.get_json()["field"] == "tablets"
    assert carer.client.get("/history?endpoint=x&_external=1&_anchor=y").status_code == 200
    assert carer.client.get("/history?page=99999999999999999999").status_code == 200


def test_taken_elsewhere_only_near_the_dose(client, token):
    far_back = client.post("/api/v1/doses/baclofen/2026-11-02T08:00/taken", json={"at": "2025-11-02T09:00"},
                           headers=auth(token))  # fmt: skip
    assert far_back.status_code == 400 and far_back.get_json()["field"] == "at"
    tomorrow = client.post("/api/v1/doses/baclofen/2026-11-04T08:00/taken", json={}, headers=auth(token))
    # Which rule refuses it (the dose too far ahead, or `at` too far from it) is the engine's to say.
    assert tomorrow.status_code == 400 and tomorrow.get_json()["field"] in ("dose", "at")
    later_today = client.post("/api/v1/doses/baclofen/2026-11-02T14:00/taken", json={}, headers=auth(token))
    assert later_today.status_code == 200


def test_openapi_event_types_come_from_the_engine_and_who_did_it_is_declared(client, token):
    from device.engine.events import EVENT_TYPES

    doc = client.get("/api/v1/openapi.json", headers=auth(token)).get_json()
    schemas = doc["components"]["schemas"]
    assert "withdrawal_watch" in EVENT_TYPES
    assert schemas["Event"]["properties"]["event_type"]["enum"] == list(EVENT_TYPES)
    assert schemas["Alert"]["properties"]["event_type"]["enum"] == list(EVENT_TYPES)
    (type_param,) = [p for p in doc["paths"]["/events"]["get"]["parameters"] if p["name"] == "type"]
    assert type_param["schema"]["enum"] == list(EVENT_TYPES)
    assert schemas["Event"]["properties"]["by"] == {"type": "string"} and "by" not in schemas["Event"]["required"]
    alert = schemas["Alert"]
    assert alert["properties"]["acknowledged_by"] == {"type": "string"} and "acknowledged_by" not in alert["required"]


class RefusingTaken:
    """Stands in for engine.mark_taken: records what the web layer passed, refuses as the engine does."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, dose_id, now, at=None, from_dispenser=False, *, by=None):
        from device.errors import ActionError

        self.calls.append({"dose_id": dose_id, "at": at, "from_dispenser": from_dispenser, "by": by})
        raise ActionError("at: required for a missed dose (due Mon 02 Nov 08:00): say when it was taken.")


def test_taken_passes_at_through_as_given_and_the_engines_refusal_names_at(client, token, carer, rig, monkeypatch):
    # The rules for `at` (required for a missed dose, near the dose's time) are the engine's; the web
    # layer only parses `at`, passes it on, and reports the engine's refusal as a 400 naming `at`.
    stand_in = RefusingTaken()
    monkeypatch.setattr(rig.daemon.engine, "mark_taken", stand_in)
    path = "/api/v1/doses/baclofen/2026-11-02T08:00/taken"
    for body, at in [
        ({"at": "2026-11-02T08:30"}, local("2026-11-02T08:30")),
        ({"at": "2026-11-02T08:30:00+01:00"}, local("2026-11-02T07:30")),
        ({}, None),
        ({"at": None}, None),
    ]:
        response = client.post(path, json=body, headers=auth(token))
        assert response.status_code == 400, body
        assert response.get_json()["field"] == "at" and "required for a missed dose" in response.get_json()["error"]
        assert stand_in.calls[-1] == {"dose_id": "baclofen/2026-11-02T08:00", "at": at, "from_dispenser": False,
                                      "by": "home-assistant"}, body  # fmt: skip
    calls = len(stand_in.calls)
    empty = client.post(path, json={"at": ""}, headers=auth(token))
    assert empty.status_code == 400 and empty.get_json()["field"] == "at" and len(stand_in.calls) == calls
    carer.form("/actions/taken", {"dose_id": "baclofen/2026-11-02T08:00"})
    assert stand_in.calls[-1]["at"] is None and stand_in.calls[-1]["by"] == "carer"
    assert "at: required for a missed dose" in carer.client.get("/").get_data(as_text=True)

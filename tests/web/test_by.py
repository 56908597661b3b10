"""Who did it (SPEC section 7 `by`): page actions carry the caregiver's name, API actions the token's name."""

from __future__ import annotations

import csv
import io

from ..engine.conftest import local

TOKEN_NAME = "home-assistant"


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def by_of(rig, event_type):
    found = [e for e in rig.events if e["event_type"] == event_type]
    assert found, f"no {event_type} event among {[e['event_type'] for e in rig.events]}"
    return found[-1].get("by")


def test_api_actions_with_a_token_carry_the_tokens_name(client, token, rig):
    rig.run_to(local("2026-11-02T09:00"))  # the 08:00 dose is overdue
    alert = client.get("/api/v1/alerts", headers=auth(token)).get_json()[0]
    acked = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth(token))
    assert acked.status_code == 200 and acked.get_json()["acknowledged_by"] == TOKEN_NAME
    assert by_of(rig, "alert_acknowledged") == TOKEN_NAME
    assert client.post("/api/v1/doses/baclofen/2026-11-02T14:00/skip", json={"reason": "clinic"},
                       headers=auth(token)).status_code == 200  # fmt: skip
    assert by_of(rig, "dose_skipped") == TOKEN_NAME
    assert client.post("/api/v1/doses/baclofen/2026-11-02T08:00/taken", json={"at": "2026-11-02T08:30"},
                       headers=auth(token)).status_code == 200  # fmt: skip
    assert by_of(rig, "dose_taken") == TOKEN_NAME
    assert client.post("/api/v1/refills", json={"tablets": 10}, headers=auth(token)).status_code == 201
    assert by_of(rig, "refill") == TOKEN_NAME
    assert client.post("/api/v1/refill-mode", headers=auth(token)).status_code == 200
    assert by_of(rig, "refill_mode") == TOKEN_NAME
    assert client.post("/api/v1/away", json={"until": "2026-11-03T18:00"}, headers=auth(token)).status_code == 200
    assert by_of(rig, "away_started") == TOKEN_NAME
    assert client.delete("/api/v1/away", headers=auth(token)).status_code == 200
    assert by_of(rig, "away_ended") == TOKEN_NAME


def test_page_actions_with_a_session_carry_the_caregivers_name(carer, rig):
    rig.run_to(local("2026-11-02T09:00"))
    alert = carer.client.get("/api/v1/alerts").get_json()[0]
    assert carer.form(f"/actions/ack/{alert['id']}", {}).status_code == 302
    assert by_of(rig, "alert_acknowledged") == "carer"
    carer.form("/actions/skip", {"dose_id": "baclofen/2026-11-02T14:00", "reason": "clinic visit"})
    assert by_of(rig, "dose_skipped") == "carer"
    carer.form("/actions/taken", {"dose_id": "baclofen/2026-11-02T08:00", "at": "2026-11-02T08:30"})
    assert by_of(rig, "dose_taken") == "carer"
    carer.form("/actions/refill", {"medication": "Baclofen", "tablets": "10"})
    assert by_of(rig, "refill") == "carer"
    carer.form("/actions/refill-mode", {})
    assert by_of(rig, "refill_mode") == "carer"
    carer.form("/actions/away", {"until": "2026-11-03T18:00"})
    assert by_of(rig, "away_started") == "carer"
    carer.form("/actions/away-end", {})
    assert by_of(rig, "away_ended") == "carer"


def test_session_json_requests_carry_the_caregivers_name(carer, rig):
    assert carer.post("/api/v1/refill-mode").status_code == 200
    assert by_of(rig, "refill_mode") == "carer"


def test_acknowledge_all_carries_the_caregivers_name(carer, rig):
    rig.run_to(local("2026-11-02T09:00"))
    carer.form("/actions/ack-all", {})
    assert by_of(rig, "alert_acknowledged") == "carer"
    assert {a["acknowledged_by"] for a in carer.client.get("/api/v1/alerts").get_json()} == {"carer"}


def test_alerts_list_and_dashboard_say_who_acknowledged(client, token, carer, rig):
    rig.run_to(local("2026-11-02T09:00"))
    alert = client.get("/api/v1/alerts", headers=auth(token)).get_json()[0]
    assert "acknowledged_by" not in alert
    client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth(token))
    listed = client.get("/api/v1/alerts", headers=auth(token)).get_json()
    assert [(a["id"], a["acknowledged_by"]) for a in listed] == [(alert["id"], TOKEN_NAME)]
    assert f"acknowledged by {TOKEN_NAME}" in carer.client.get("/").get_data(as_text=True)


def test_history_page_and_csv_show_by_source_and_reason(carer, rig):
    carer.form("/actions/skip", {"dose_id": "baclofen/2026-11-02T14:00", "reason": "clinic visit"})
    carer.form("/actions/taken", {"dose_id": "baclofen/2026-11-02T08:00"})
    page = carer.client.get("/history").get_data(as_text=True)
    assert "<th>By</th>" in page and "<td>carer</td>" in page
    response = carer.client.get("/history.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {"by", "source", "reason"} <= set(rows[0])
    skipped = next(r for r in rows if r["event_type"] == "dose_skipped")
    assert (skipped["by"], skipped["reason"]) == ("carer", "clinic visit")
    taken = next(r for r in rows if r["event_type"] == "dose_taken")
    assert (taken["by"], taken["source"]) == ("carer", "caregiver")
    started = next(r for r in rows if r["event_type"] == "device_started")
    assert started["by"] == started["source"] == started["reason"] == ""


def test_csv_cells_never_start_a_spreadsheet_formula(carer):
    # A reason is free text; a spreadsheet would run "=..." typed into it.
    carer.form("/actions/skip", {"dose_id": "baclofen/2026-11-02T14:00", "reason": "=HYPERLINK(1)"})
    rows = list(csv.DictReader(io.StringIO(carer.client.get("/history.csv").get_data(as_text=True))))
    skipped = next(r for r in rows if r["event_type"] == "dose_skipped")
    assert skipped["reason"] == "'=HYPERLINK(1)"

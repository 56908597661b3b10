"""The dashboard, its live fragment, the history with filters, paging and CSV, and the form actions."""

from __future__ import annotations

import csv
import io
import re

from ..engine.conftest import local


def test_dashboard_shows_what_a_caregiver_needs(carer, rig):
    rig.run_to(local("2026-11-02T16:00"))  # two doses missed in a row: intake_stopped
    text = carer.client.get("/").get_data(as_text=True)
    assert "‼ HIGH" in text and "What to do:" in text
    assert "get medical help at once" in text.lower() or "Get medical help at once" in text
    assert "hallucinations" in text
    for words in ["Next dose", "Since last Baclofen", "Stock:", "Adherence", "Plan:", "Refill mode", "Away from",
                  "Virtual dispenser", "Hub", "Clock", "Hardware", "Interactions", "Storage"]:  # fmt: skip
        assert words in text, words
    assert "✗ missed" in text  # state in words and symbols, not colour alone


def test_fragment_carries_a_content_hash(carer):
    first = carer.client.get("/fragment")
    second = carer.client.get("/fragment")
    assert first.status_code == 200 and first.headers["X-Content-Hash"] == second.headers["X-Content-Hash"]
    carer.post("/api/v1/mock/lid_open")
    third = carer.client.get("/fragment")
    assert third.headers["X-Content-Hash"] != first.headers["X-Content-Hash"]
    assert "✓ taken" in third.get_data(as_text=True)


def test_form_actions(carer, rig):
    ok = carer.form("/actions/skip", {"dose_id": "baclofen/2026-11-02T14:00", "reason": "clinic visit"})
    assert ok.status_code == 302
    page = carer.client.get("/").get_data(as_text=True)
    assert "Dose skipped." in page and "clinic visit" in page
    bad = carer.form("/actions/skip", {"dose_id": "baclofen/2026-11-02T14:00", "reason": "again"})
    assert bad.status_code == 302 and "already skipped" in carer.client.get("/").get_data(as_text=True)
    carer.form("/actions/taken", {"dose_id": "baclofen/2026-11-02T08:00", "from_dispenser": "on"})
    assert rig.daemon.engine.stock(0) == 89
    carer.form("/actions/refill", {"medication": "Baclofen", "tablets": "10"})
    assert rig.daemon.engine.stock(0) == 99
    carer.form("/actions/refill", {"medication": "Baclofen", "tablets": "ten"})
    assert "tablets:" in carer.client.get("/").get_data(as_text=True)
    carer.form("/actions/refill-mode", {})
    assert rig.daemon.engine.dev.refill_mode_until is not None
    carer.form("/actions/away", {"from": "2026-11-03T09:00", "until": "2026-11-04T09:00"})
    assert rig.daemon.engine.dev.away_until is not None
    carer.form("/actions/away-end", {})
    assert rig.daemon.engine.dev.away_until is None
    rig.run_to(local("2026-11-02T09:00"))
    carer.form("/actions/ack-all", {})
    assert "Alerts acknowledged" in carer.client.get("/").get_data(as_text=True)


def test_history_filters_pages_and_csv(carer, rig):
    rig.run_to(local("2026-11-09T00:00"))
    page = carer.client.get("/history").get_data(as_text=True)
    assert "events; page 1 of" in page and "dose_missed" in page
    due = carer.client.get("/history?type=dose_due&from=2026-11-03&to=2026-11-03").get_data(as_text=True)
    assert "3 events" in due
    many = carer.client.get("/history?page=2").get_data(as_text=True)
    assert "page 2 of" in many and "<td>" in many
    beyond = carer.client.get("/history?page=999").get_data(as_text=True)
    assert "<td>" in beyond  # past the end: the last page, not an empty one
    response = carer.client.get("/history.csv?type=dose_missed")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows and {r["event_type"] for r in rows} == {"dose_missed"}
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    odd = carer.client.get("/history?from=yesterday&page=x")
    assert odd.status_code == 200


def test_no_virtual_dispenser_or_mock_routes_on_real_pins(tmp_path, daemon_rig):
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from device.accounts import Accounts
    from device.daemon import Daemon
    from device.hardware import Hardware
    from device.store import Store
    from web import create_app

    from ..engine.conftest import make_config
    from .conftest import web_config

    class PinFactory(MockFactory):  # stands in for a real pin factory: not named MockFactory
        pass

    config = make_config(web_config(tmp_path))
    factory = PinFactory(pin_class=MockPWMPin)
    daemon = Daemon(config, Store(str(tmp_path / "p.db")), Hardware(config.hardware, factory),
                    synchronised=lambda: True)  # fmt: skip
    daemon.start(schedule=False)
    try:
        app = create_app(config, daemon, testing=True)
        token = Accounts(daemon.store).create_token("t")
        headers = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        assert client.post("/api/v1/mock/lid_open", headers=headers).status_code == 404
        assert "Virtual dispenser" not in client.get("/", headers=headers).get_data(as_text=True)
        assert "/mock/{action}" not in client.get("/api/v1/openapi.json", headers=headers).get_json()["paths"]
    finally:
        daemon.stop()
        factory.reset()


def test_dashboard_counts_in_good_english(carer, rig):
    # Just taken through the lid: "less than 0.1 hours", not "0.0 hours".
    carer.post("/api/v1/mock/lid_open")
    text = carer.client.get("/").get_data(as_text=True)
    assert "less than 0.1 hours" in text and "0.0 hours" not in text
    assert re.search(r"(?<![\d.])1 (tablets|days|hours)\b", text) is None

"""The API's input is declared once (web/contract.py): the handlers refuse exactly what the OpenAPI
document forbids, and the document states the ranges and rules the code enforces."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from jsonschema import Draft202012Validator

from web import contract


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def served(client, token):
    return client.get("/api/v1/openapi.json", headers=auth(token)).get_json()


def query_schema(doc, path, name):
    (param,) = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
    return param["schema"]


def body_property(doc, method, path, name):
    return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["properties"][name]


def allows(schema, value):
    return Draft202012Validator(schema).is_valid(value)


def refused(response, field):
    body = response.get_json()
    return response.status_code == 400 and body["field"] == field, body


# --------------------------------------------------- the disagreements schemathesis found


def test_empty_to_for_doses_is_refused_as_the_document_forbids(client, token):
    response = client.get("/api/v1/doses?to=", headers=auth(token))
    ok, body = refused(response, "to")
    assert ok and "not ''" in body["error"], body
    assert not allows(query_schema(served(client, token), "/doses", "to"), "")


@pytest.mark.parametrize("query", ["limit=", "after_seq=", "type="])
def test_empty_event_query_values_are_refused_as_the_document_forbids(client, token, query):
    name = query.rstrip("=")
    ok, body = refused(client.get(f"/api/v1/events?{query}", headers=auth(token)), name)
    assert ok and "not ''" in body["error"], body
    assert not allows(query_schema(served(client, token), "/events", name), "")


def test_years_2000_to_2200_are_what_both_the_document_and_the_handlers_allow(client, token):
    schema = query_schema(served(client, token), "/doses", "from")
    for day, accepted in [("1999-12-31", False), ("2000-01-01", True), ("2200-12-31", True), ("2201-01-01", False)]:
        response = client.get(f"/api/v1/doses?from={day}&to={day}", headers=auth(token))
        assert (response.status_code == 200) is accepted, (day, response.get_json())
        assert allows(schema, day) is accepted, day
        if not accepted:
            assert response.get_json()["field"] == "from" and day in response.get_json()["error"]
    until = body_property(served(client, token), "post", "/away", "until")
    assert not allows(until, "1999-12-31T23:59") and allows(until, "2200-12-31T23:59")
    ok, body = refused(client.post("/api/v1/away", json={"until": "1999-12-31T23:59"}, headers=auth(token)), "until")
    assert ok and "2000 to 2200" in body["error"], body


def test_after_seq_up_to_2_62_is_what_both_the_document_and_the_handlers_allow(client, token):
    schema = query_schema(served(client, token), "/events", "after_seq")
    assert (schema["minimum"], schema["maximum"]) == (0, 2**62)
    assert client.get(f"/api/v1/events?after_seq={2**62}", headers=auth(token)).get_json() == []
    ok, body = refused(client.get(f"/api/v1/events?after_seq={2**62 + 1}", headers=auth(token)), "after_seq")
    assert ok and str(2**62 + 1) in body["error"], body


def test_empty_medication_is_refused_and_the_document_says_it_must_not_be_empty(client, token):
    assert body_property(served(client, token), "post", "/refills", "medication")["minLength"] == 1
    ok, body = refused(client.post("/api/v1/refills", json={"medication": "", "tablets": 5}, headers=auth(token)),
                       "medication")  # fmt: skip
    assert ok, body
    # Left out (one medication configured) is still the one medication.
    assert client.post("/api/v1/refills", json={"tablets": 5}, headers=auth(token)).status_code == 201


# --------------------------------------------------- the document says what the code enforces


def test_the_document_states_the_ranges_the_code_enforces(client, token):
    doc = served(client, token)
    tablets = body_property(doc, "post", "/refills", "tablets")
    assert (tablets["minimum"], tablets["maximum"], tablets["multipleOf"]) == (0.5, 1000, 0.5)
    limit = query_schema(doc, "/events", "limit")
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 100)
    reason = body_property(doc, "post", "/doses/{dose_id}/skip", "reason")
    assert (reason["minLength"], reason["maxLength"]) == (1, 500) and not allows(reason, "   ")


def test_the_document_is_built_from_the_declarations_the_handlers_check_with(client, token):
    doc = served(client, token)
    assert query_schema(doc, "/events", "limit") == contract.EVENTS.properties["limit"]
    for method, path, declared in [
        ("post", "/refills", contract.REFILL),
        ("post", "/away", contract.AWAY),
        ("post", "/doses/{dose_id}/skip", contract.SKIP),
        ("post", "/doses/{dose_id}/taken", contract.TAKEN),
    ]:
        body = doc["paths"][path][method]["requestBody"]
        assert body["content"]["application/json"]["schema"] == declared.schema, path
        assert body["required"] is bool(declared.required), path


def test_rules_the_schema_cannot_express_are_stated_in_the_descriptions(client, token):
    doc = served(client, token)
    doses = doc["paths"]["/doses"]["get"]["description"]
    assert "- `to`: must not be before from" in doses and "- `to`: at most 366 days at a time" in doses
    assert "- `until`: is in the past" in doc["paths"]["/away"]["post"]["description"]
    assert "- `at`: required for a missed dose" in doc["paths"]["/doses/{dose_id}/taken"]["post"]["description"]
    assert "404" in doc["paths"]["/alerts/{alert_id}/ack"]["post"]["description"]
    # ... and each stated rule's words are what its refusal says.
    ok, body = refused(client.get("/api/v1/doses?from=2026-11-03&to=2026-11-02", headers=auth(token)), "to")
    assert ok and "must not be before from" in body["error"], body
    past = {"from": "2026-10-01T09:00", "until": "2026-11-01T09:00"}
    ok, body = refused(client.post("/api/v1/away", json=past, headers=auth(token)), "until")
    assert ok and "is in the past" in body["error"], body


# --------------------------------------------------- how refusals read


def test_a_refusal_names_the_field_and_quotes_the_value(client, token):
    response = client.get("/api/v1/events?limit=abc", headers=auth(token))
    assert response.get_json() == {
        "error": "limit: expected a whole number from 1 to 1000, not 'abc'.",
        "field": "limit",
    }
    twice = client.get("/api/v1/events?limit=1&limit=2", headers=auth(token))
    assert twice.status_code == 400 and twice.get_json()["field"] == "limit"
    huge = client.post("/api/v1/refills", json={"tablets": "x" * 500}, headers=auth(token)).get_json()
    assert huge["field"] == "tablets" and len(huge["error"]) < 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/refills", '{"tablets": NaN}', "tablets"),
        ("/api/v1/refills", '{"tablets": "5"}', "tablets"),  # JSON numbers are numbers; text is the forms' way
        ("/api/v1/away", '{"until": "2026-11-26T08:30\\n"}', "until"),
        ("/api/v1/away", '{"until": "2026-02-30T08:30"}', "until"),
        ("/api/v1/away", '{"until": "2026-11-26 08:30"}', "until"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/skip", '{"reason": "\\u001c"}', "reason"),
        ("/api/v1/doses/baclofen/2026-11-02T14:00/taken", '{"from_dispenser": "on"}', "from_dispenser"),
    ],
)
def test_odd_input_is_a_400_naming_the_field(client, token, path, body, field):
    response = client.post(path, data=body, headers={**auth(token), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["field"] == field, response.get_json()


def test_forms_send_text_and_leave_blank_fields_out():
    assert contract.REFILL.form({"medication": "Baclofen", "tablets": "2.5"}) == {"medication": "Baclofen",
                                                                                  "tablets": 2.5}  # fmt: skip
    with pytest.raises(contract.BadInput, match=r"^tablets: is required"):
        contract.REFILL.form({"medication": "Baclofen", "tablets": ""})
    assert contract.TAKEN.form({"from_dispenser": "on"}) == {"from_dispenser": True}
    with pytest.raises(contract.BadInput, match=r"^tablets: expected"):
        contract.REFILL.check({"tablets": "2.5"})


# --------------------------------------------------- the date pattern is the calendar


def test_the_date_pattern_accepts_exactly_the_calendar_days_of_2000_to_2200():
    pattern = re.compile(contract.DATE["pattern"])
    for year, month, day in itertools.product(range(1999, 2202), range(13), range(33)):
        text = f"{year:04d}-{month:02d}-{day:02d}"
        try:
            real = 2000 <= dt.date(year, month, day).year <= 2200
        except ValueError:
            real = False
        assert bool(pattern.search(text)) is real, text


@pytest.mark.parametrize(
    "text", ["2026-11-26T08:30", "2026-11-26T08:30:59", "2026-11-26T08:30:59.123456", "2024-02-29T23:59Z",
             "2200-12-31T00:00+23:59", "2000-01-01T00:00-05:30"],
)  # fmt: skip
def test_every_date_time_the_pattern_accepts_is_read_by_the_handlers(text):
    assert re.search(contract.DATE_TIME["pattern"], text)
    assert dt.datetime.fromisoformat(text).year in (2000, 2024, 2026, 2200)


@pytest.mark.parametrize(
    "text", ["2026-11-26", "2026-11-26T8:30", "2026-11-26T24:00", "2026-11-26T08:30+0100", "2100-02-29T08:00",
             "2026-11-26t08:30", "20261126T0830", "2026-W48-4T08:30"],
)  # fmt: skip
def test_the_date_time_pattern_refuses_what_iso_8601_allows_but_the_document_does_not(text):
    assert not re.search(contract.DATE_TIME["pattern"], text)

"""The OpenAPI 3 document of /api/v1 (what schemathesis checks the API against).

What each operation accepts comes from `contract`, the declarations the handlers check with; this
module adds the answers and the paths."""

from __future__ import annotations

from typing import Any

from device.engine.events import EVENT_TYPES
from device.hardware import MOCK_ACTIONS

from . import contract

NULLABLE_STR = {"type": ["string", "null"]}
NUM_OR_NULL = {"type": ["number", "null"]}
ERROR = {
    "description": "The request cannot be carried out; `field` names what is wrong.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
DOSE_ID = {
    "name": "dose_id",
    "in": "path",
    "required": True,
    "description": "`<medication-slug>/<YYYY-MM-DD>T<HH:MM>`; its `/` as is or encoded as %2F.",
    "schema": {"type": "string", "pattern": "^[a-z0-9-]+/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$"},
    "example": "baclofen/2026-11-02T14:00",
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    notes: str = "",
    query: contract.Input | None = None,
    body: contract.Input | None = None,
    path: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "401": ERROR}}
    declared = query or body
    if declared is not None and declared.rules:
        stated = "\n".join(f"- `{rule.field}`: {rule.text}" for rule in declared.rules)
        heading = "Beyond what the schema says, refused with a 400 that names the field and says:"
        notes = f"{notes}\n\n{heading}\n{stated}".strip()
    if notes:
        op["description"] = notes
    parameters = list(path)
    if query is not None:
        parameters += [
            {"name": name, "in": "query", "required": name in query.required, "description": schema["description"],
             "schema": schema}
            for name, schema in query.properties.items()
        ]  # fmt: skip
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        # Without a body the handlers read `{}`: a body is needed exactly when one of its fields is.
        op["requestBody"] = {
            "required": bool(body.required),
            "content": {"application/json": {"schema": body.schema}},
        }
    return op


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    },
    "Dose": {
        "type": "object",
        "required": ["dose_id", "medication", "scheduled_for", "dose_mg", "tablets", "state"],
        "properties": {
            "dose_id": {"type": "string"},
            "medication": {"type": "string"},
            "scheduled_for": {"type": "string", "format": "date-time"},
            "dose_mg": {"type": "number"},
            "tablets": {"type": "number"},
            "state": {"enum": ["upcoming", "waiting", "taken", "missed", "skipped", "away"]},
            "taken_at": NULLABLE_STR,
            "source": NULLABLE_STR,
            "reason": NULLABLE_STR,
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "seq", "event_type", "priority", "time", "device_id", "message"],
        "properties": {
            "id": {"type": "string"},
            "seq": {"type": "integer", "minimum": 1},
            "event_type": {"enum": list(EVENT_TYPES)},
            "priority": {"enum": ["info", "low", "medium", "high"]},
            "time": {"type": "string", "format": "date-time"},
            "device_id": {"type": "string"},
            "message": {"type": "string"},
            "by": {"type": "string"},
        },
    },
    "Alert": {
        "type": "object",
        "required": ["id", "event_type", "priority", "since", "message", "acknowledged"],
        "properties": {
            "id": {"type": "string"},
            "event_type": {"enum": list(EVENT_TYPES)},
            "priority": {"enum": ["low", "medium", "high"]},
            "since": {"type": "string", "format": "date-time"},
            "message": {"type": "string"},
            "acknowledged": {"type": "boolean"},
            "acknowledged_by": {"type": "string"},
            "medication": {"type": "string"},
            "dose_id": {"type": "string"},
        },
    },
    "Status": {
        "type": "object",
        "required": [
            "next_dose_at",
            "next_dose_medication",
            "next_dose_mg",
            "dose_due",
            "last_taken_at",
            "hours_since_last_dose",
            "adherence_7d",
            "lid",
            "alert_level",
            "active_alerts",
            "stock",
            "days_of_supply",
            "clock_synced",
            "away",
            "today",
            "hub_connected",
            "outbox_waiting",
        ],
        "properties": {
            "next_dose_at": NULLABLE_STR,
            "next_dose_medication": NULLABLE_STR,
            "next_dose_mg": NUM_OR_NULL,
            "dose_due": {"type": "boolean"},
            "last_taken_at": NULLABLE_STR,
            "hours_since_last_dose": {"type": "object", "additionalProperties": NUM_OR_NULL},
            "adherence_7d": NUM_OR_NULL,
            "lid": {"enum": ["open", "closed"]},
            "alert_level": {"enum": ["none", "low", "medium", "high"]},
            "active_alerts": {"type": "integer", "minimum": 0},
            "stock": {"type": "object", "additionalProperties": {"type": "number"}},
            "days_of_supply": {"type": "object", "additionalProperties": NUM_OR_NULL},
            "clock_synced": {"type": "boolean"},
            "away": {"type": "boolean"},
            "today": {"type": "array", "items": _ref("Dose")},
            "hub_connected": {"type": "boolean"},
            "outbox_waiting": {"type": "integer", "minimum": 0},
        },
    },
    "Away": {
        "type": "object",
        "required": ["away", "from", "until"],
        "properties": {"away": {"type": "boolean"}, "from": NULLABLE_STR, "until": NULLABLE_STR},
    },
}


def document(*, mock: bool = False) -> dict[str, Any]:
    dose_failures = {"200": _json(_ref("Dose")), "400": ERROR, "404": ERROR, "409": ERROR}
    dose_notes = "A dose id that is not planned gets a 404; a dose in a state that does not allow it, a 409."
    paths: dict[str, Any] = {
        "/status": {
            "get": _op(
                "Everything on the hub's state topic, today's doses, hub connection", {"200": _json(_ref("Status"))}
            )
        },
        "/doses": {
            "get": _op(
                "Doses on local dates from..to (inclusive)",
                {"200": _json({"type": "array", "items": _ref("Dose")}), "400": ERROR},
                notes="`from` is today when left out, `to` is `from`.",
                query=contract.DOSES,
            )
        },
        "/events": {
            "get": _op(
                "Events in seq order",
                {"200": _json({"type": "array", "items": _ref("Event")}), "400": ERROR},
                notes="Events with a seq above `after_seq`, of `type` if given, at most `limit` of them.",
                query=contract.EVENTS,
            )
        },
        "/alerts": {
            "get": _op("Active and acknowledged alerts", {"200": _json({"type": "array", "items": _ref("Alert")})})
        },
        "/alerts/{alert_id}/ack": {
            "post": _op(
                "Acknowledge an alert (idempotent)",
                {"200": _json(_ref("Alert")), "400": ERROR, "404": ERROR},
                notes="An alert id that does not exist (nor `all`: that is the page's button) gets a 404.",
                path=({"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}},),
            )
        },
        "/refills": {
            "post": _op(
                "Record a refill",
                {"201": _json(_ref("Event")), "400": ERROR, "404": ERROR},
                notes="A medication not in the configuration gets a 404.",
                body=contract.REFILL,
            )
        },
        "/refill-mode": {
            "post": _op(
                "Refill mode for 15 minutes: lid openings are not doses",
                {"200": _json({"type": "object", "properties": {"refill_mode_until": NULLABLE_STR}})},
            )
        },
        "/away": {
            "post": _op(
                "The patient is away from..until", {"200": _json(_ref("Away")), "400": ERROR}, body=contract.AWAY
            ),
            "delete": _op("The patient is back", {"200": _json(_ref("Away"))}),
        },
        "/doses/{dose_id}/skip": {
            "post": _op(
                "Skip a dose that has not reached a final state",
                dose_failures,
                notes=dose_notes,
                body=contract.SKIP,
                path=(DOSE_ID,),
            )
        },
        "/doses/{dose_id}/taken": {
            "post": _op(
                "Record a dose as taken (elsewhere, or missed by the sensors)",
                dose_failures,
                notes=dose_notes,
                body=contract.TAKEN,
                path=(DOSE_ID,),
            )
        },
        "/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"})})},
    }
    if mock:
        action = {"name": "action", "in": "path", "required": True, "schema": {"enum": list(MOCK_ACTIONS)}}
        paths["/mock/{action}"] = {
            "post": _op(
                "Act on the virtual dispenser (mock hardware only)",
                {"200": _json({"type": "object"}), "400": ERROR},
                path=(action,),
            )
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pillbox API", "version": "1", "description": "The smart pill dispenser's JSON API."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "pillbox_session"},
            },
        },
    }

"""The JSON API under /api/v1 (SPEC section 10): bare JSON lists or objects, errors name the field.

Each query and body is checked against its declaration in `contract`, which the OpenAPI document
is built from."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from device.errors import ActionError

from . import actions
from .auth import actor, json_error, login_required
from .contract import BadInput
from .openapi import document
from .services import services

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ActionError)
def action_error(error: ActionError) -> Any:
    field = getattr(error, "field", None)
    if field is None:
        text = str(error)
        head = text.split(":", 1)[0]
        field = head if ":" in text and head.isidentifier() else None
    return json_error(error.status, str(error), field)


def _body() -> Any:
    if not request.data:
        return {}
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if data is None:
        raise BadInput("body", "expected a JSON object (Content-Type: application/json).")
    return data


@bp.get("/status")
@login_required
def status() -> Any:
    return jsonify(actions.status())


@bp.get("/doses")
@login_required
def doses() -> Any:
    return jsonify(actions.doses(request.args))


@bp.get("/events")
@login_required
def events() -> Any:
    return jsonify(actions.events(request.args))


@bp.get("/alerts")
@login_required
def alerts() -> Any:
    return jsonify(actions.alerts())


@bp.post("/alerts/<alert_id>/ack")
@login_required
def ack(alert_id: str) -> Any:
    return jsonify(actions.acknowledge(alert_id, by=actor()))


@bp.post("/refills")
@login_required
def refills() -> Any:
    return jsonify(actions.refill(_body(), by=actor(), form=False)), 201


@bp.post("/refill-mode")
@login_required
def refill_mode() -> Any:
    return jsonify(actions.refill_mode(by=actor()))


@bp.post("/away")
@login_required
def away() -> Any:
    return jsonify(actions.set_away(_body(), by=actor(), form=False))


@bp.delete("/away")
@login_required
def away_end() -> Any:
    return jsonify(actions.end_away(by=actor()))


@bp.post("/doses/<path:dose_id>/skip")
@login_required
def skip(dose_id: str) -> Any:
    return jsonify(actions.skip(dose_id, _body(), by=actor(), form=False))


@bp.post("/doses/<path:dose_id>/taken")
@login_required
def taken(dose_id: str) -> Any:
    return jsonify(actions.taken(dose_id, _body(), by=actor(), form=False))


@bp.post("/mock/<action>")
@login_required
def mock(action: str) -> Any:
    if not services().mock:
        abort(404)
    return jsonify(actions.mock(action))


@bp.get("/openapi.json")
@login_required
def openapi() -> Any:
    return jsonify(document(mock=services().mock))

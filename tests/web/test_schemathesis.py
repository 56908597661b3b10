"""schemathesis against /api/v1/openapi.json: generated requests never get a 5xx, and every answer
matches the document (status codes, content type, body schema, Allow on 405)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from web.openapi import document

SCHEMA = schemathesis.openapi.from_dict(document(mock=True))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    allow_header_conformance,
]


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_against_its_openapi_document(case, client, token):
    # Only the checks the contract promises: semantic refusals (a date in the past, `to` before `from`)
    # are 400s that the document lists, not schema violations.
    case.call_and_validate(app=client.application, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

"""schemathesis against /api/v1/openapi.json: generated requests never get a 5xx, every answer matches
the document (status codes, content type, body schema, Allow on 405), and the document and the
handlers agree on what is valid input, in both directions."""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from web.openapi import document

SCHEMA = schemathesis.openapi.from_dict(document(mock=True))


def stated_rules(description: str) -> list[tuple[str, str]]:
    """The rules an operation's description states: (field, what the error says) for each line "- `to`: ..."."""
    return re.findall(r"^- `(\w+)`: (.+)$", description, re.MULTILINE)


def valid_input_accepted(ctx, response, case):
    """positive_data_acceptance, except for a 400 from a rule the document states beyond its schema (a date
    range in order, `at` near the dose's time): its error names that rule's field and says what the rule says."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and response.status_code == 400:
        error = response.json()
        for field, says in stated_rules(case.operation.definition.raw.get("description", "")):
            if error.get("field") == field and says in error["error"]:
                return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    allow_header_conformance,
    negative_data_rejection,  # input the document forbids is refused
    valid_input_accepted,  # input the document allows is accepted, or refused by a rule it states
]


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_against_its_openapi_document(case, client, token):
    case.call_and_validate(app=client.application, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

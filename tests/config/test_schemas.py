"""The config and scenario schemas describe every value, so no problem falls back to jsonschema's words."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from device.config_problems import CONFIG_SCHEMA, Schema
from device.scenario import SCHEMA as SCENARIO_SCHEMA


def values(schema: Schema, node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    node = schema.resolve_ref(node) if "description" not in node else node
    yield path, node
    for key, sub in node.get("properties", {}).items():
        yield from values(schema, sub, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), Mapping):
        yield from values(schema, node["items"], f"{path}[]")


@pytest.mark.parametrize("schema", [CONFIG_SCHEMA, SCENARIO_SCHEMA], ids=["config", "scenario"])
def test_every_value_says_what_is_expected(schema: Schema) -> None:
    assert [path for path, node in values(schema, schema.document, "") if "description" not in node] == []


def test_a_scenario_key_in_the_wrong_table_is_pointed_home() -> None:
    assert SCENARIO_SCHEMA.key_homes["at"] == ["[[action]]"]
    assert SCENARIO_SCHEMA.key_homes["start"] == ["the top level (before any table)"]
    assert SCENARIO_SCHEMA.key_homes["until"] == ["[[patient.period]]", "[[action]]"]
    assert CONFIG_SCHEMA.key_homes["dose_mg"] == ["[[medication.plan]]"]

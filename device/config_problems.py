"""Problems in pillbox.toml and scenario files: the JSON-Schema check, key paths, values as written, near-miss names."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("config_schema.json")
KeyPath = tuple[str | int, ...]


# --- problems -------------------------------------------------------------------------------------


class Problems:
    """Problems found so far, each tied to the key path it is about."""

    def __init__(self, file: str, doc: Mapping[str, Any]) -> None:
        self.file = file
        self.doc = doc
        self.items: list[tuple[KeyPath, str]] = []

    def add(self, path: KeyPath, text: str) -> None:
        self.items.append((path, text))

    def found(self, path: KeyPath) -> str:
        """The value at `path` as written in the file; secrets are never shown."""
        if is_secret(path):
            return "(hidden)"
        value: Any = self.doc
        for part in path:
            value = value[part]
        return show(value)

    def lines(self) -> list[str]:
        ordered = sorted(self.items, key=lambda item: [(isinstance(p, str), p) for p in item[0]])
        out = [f"{self.file}: {key_path(p) + ': ' if p else ''}{text}" for p, text in ordered]
        return list(dict.fromkeys(out))


def key_path(path: KeyPath) -> str:
    """("medication", 0, "plan", 2, "dose_mg") -> "medication[0].plan[2].dose_mg"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def show(value: Any, limit: int = 60) -> str:
    """A value the way it is written in TOML, shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float) and not math.isfinite(value):
        text = str(value)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = (
            "an array of tables"
            if any(isinstance(v, dict) for v in value)
            else ("[" + ", ".join(show(v, limit) for v in value) + "]")
        )
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_secret(path: KeyPath) -> bool:
    return any(isinstance(p, str) and ("password" in p.lower() or "key" in p.lower()) for p in path)


# --- schema ---------------------------------------------------------------------------------------


class Schema:
    """A JSON-Schema file describing a TOML document (the config, a simulation scenario)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        schema: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return schema

    @functools.cached_property
    def validator(self) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(self.document)

    def resolve_ref(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref", "")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            resolved: Mapping[str, Any] = self.document["$defs"][ref.removeprefix("#/$defs/")]
            return resolved
        return schema

    @functools.cached_property
    def key_homes(self) -> dict[str, list[str]]:
        """Key name -> the tables it belongs in ("[mqtt]", "[[medication.plan]]", "the top level")."""
        homes: dict[str, list[str]] = {}

        def table_of(node: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool] | None:
            node = self.resolve_ref(node)
            if node.get("type") == "object":
                return node, False
            items = node.get("items")
            if node.get("type") == "array" and isinstance(items, Mapping):
                found = table_of(items)
                return (found[0], True) if found and not found[1] else None
            return None

        def walk(node: Mapping[str, Any], name: str) -> None:
            for key, sub in node.get("properties", {}).items():
                if name:
                    homes.setdefault(key, []).append(name)
                found = table_of(sub)
                if found is not None:
                    inner = f"{name.strip('[]')}.{key}" if name else key
                    walk(found[0], f"[[{inner}]]" if found[1] else f"[{inner}]")
                elif not name:
                    homes.setdefault(key, []).append("the top level (before any table)")

        walk(self.document, "")
        return homes


CONFIG_SCHEMA = Schema(SCHEMA_PATH)


def schema_document() -> dict[str, Any]:
    return CONFIG_SCHEMA.document


def validator() -> jsonschema.Draft202012Validator:
    return CONFIG_SCHEMA.validator


def resolve_ref(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    return CONFIG_SCHEMA.resolve_ref(schema)


def jsonable(value: Any) -> Any:
    """TOML values as JSON-Schema sees them: dates as "YYYY-MM-DD"; nan, inf and times as null (invalid)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.time) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def key_homes() -> dict[str, list[str]]:
    """Key name -> the tables of the config it belongs in, to point at a key written in the wrong table."""
    return CONFIG_SCHEMA.key_homes


def unknown_key(key: str, known: Sequence[str], schema: Schema = CONFIG_SCHEMA) -> str:
    text = f"unknown key {key!r}"  # repr: a quoted TOML key may hold a newline
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    homes = schema.key_homes.get(key)
    if near:
        text += f" — did you mean {near[0]!r}?"
    elif homes:
        text += f" — it belongs in {' or '.join(homes)}"
    else:
        text += f" (known keys: {', '.join(known)})"
    if "password" in key.lower() and schema is CONFIG_SCHEMA:
        text += " (the config holds only password_file, the path of a file with the password)"
    return text


def check_schema(data: Mapping[str, Any], problems: Problems, schema: Schema = CONFIG_SCHEMA) -> set[KeyPath]:
    """Add a problem per schema violation; return the paths whose values cannot be trusted.

    `data` is the document as JSON-Schema sees it; `problems` holds it as written in the file."""
    broken: set[KeyPath] = set()
    for error in schema.validator.iter_errors(data):
        path: KeyPath = tuple(error.absolute_path)
        where = error.schema if isinstance(error.schema, Mapping) else {}
        if error.validator == "additionalProperties":
            known = list(where.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                problems.add((*path, key), unknown_key(key, known, schema))
        elif error.validator == "required":
            for key in error.validator_value:
                if key not in error.instance:
                    wanted = schema.resolve_ref(where["properties"][key]).get("description", "a value")
                    problems.add((*path, key), f"missing required key (expected {wanted})")
                    broken.add((*path, key))
        elif error.validator == "enum":
            choices = ", ".join(str(c) for c in error.validator_value)
            problems.add(path, f"must be one of {choices}, not {problems.found(path)}")
            broken.add(path)
        else:
            wanted = where.get("description")
            if wanted:
                problems.add(path, f"expected {wanted}, found {problems.found(path)}")
            else:
                problems.add(path, "invalid value" if is_secret(path) else error.message)
            broken.add(path)
    return broken


def trusted(prefix: KeyPath, broken: set[KeyPath]) -> bool:
    """True when no schema problem lies at, above or below `prefix`."""
    return not any(b[: len(prefix)] == prefix or prefix[: len(b)] == b for b in broken)

"""Problems in pillbox.toml: the JSON-Schema check, key paths, values as written, near-miss names."""

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


@functools.cache
def schema_document() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema_document())


def resolve_ref(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref", "")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = schema_document()["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return schema


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
    """Key name -> the tables it belongs in, to point at a key written in the wrong table."""
    schema = schema_document()
    tables = {f"[{name}]": sub for name, sub in schema["properties"].items() if name != "medication"}
    tables["[[medication]]"] = schema["$defs"]["medication"]
    tables["[[medication.plan]]"] = schema["$defs"]["phase"]
    homes: dict[str, list[str]] = {}
    for table, sub in tables.items():
        for key in sub.get("properties", {}):
            homes.setdefault(key, []).append(table)
    return homes


def unknown_key(key: str, known: Sequence[str]) -> str:
    text = f"unknown key {key!r}"  # repr: a quoted TOML key may hold a newline
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    homes = key_homes().get(key)
    if near:
        text += f" — did you mean {near[0]!r}?"
    elif homes:
        text += f" — it belongs in {' or '.join(homes)}"
    else:
        text += f" (known keys: {', '.join(known)})"
    if "password" in key.lower():
        text += " (the config holds only password_file, the path of a file with the password)"
    return text


def check_schema(data: Mapping[str, Any], problems: Problems) -> set[KeyPath]:
    """Add a problem per schema violation; return the paths whose values cannot be trusted."""
    broken: set[KeyPath] = set()
    for error in validator().iter_errors(data):
        path: KeyPath = tuple(error.absolute_path)
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        if error.validator == "additionalProperties":
            known = list(schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                problems.add((*path, key), unknown_key(key, known))
        elif error.validator == "required":
            for key in error.validator_value:
                if key not in error.instance:
                    wanted = resolve_ref(schema["properties"][key]).get("description", "a value")
                    problems.add((*path, key), f"missing required key (expected {wanted})")
                    broken.add((*path, key))
        elif error.validator == "enum":
            choices = ", ".join(str(c) for c in error.validator_value)
            problems.add(path, f"must be one of {choices}, not {problems.found(path)}")
            broken.add(path)
        else:
            wanted = schema.get("description")
            if wanted:
                problems.add(path, f"expected {wanted}, found {problems.found(path)}")
            else:
                problems.add(path, "invalid value" if is_secret(path) else error.message)
            broken.add(path)
    return broken


def trusted(prefix: KeyPath, broken: set[KeyPath]) -> bool:
    """True when no schema problem lies at, above or below `prefix`."""
    return not any(b[: len(prefix)] == prefix or prefix[: len(b)] == b for b in broken)

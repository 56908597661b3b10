"""What /api/v1 accepts, declared once: each query string and request body as a JSON Schema.

The handlers check their input with these declarations and `openapi.py` builds the document from
them, so the two cannot disagree. A check no schema can express (a date range in order, a dose that
must be near its time) is a `Rule`: carried out in code, and stated in the document.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from device.engine.events import EVENT_TYPES
from device.errors import ActionError


class BadInput(ActionError):
    """A field of a request is missing or wrong; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Rule:
    """A check the schema cannot express: a request it refuses gets a 400 `field: ...text...`."""

    field: str
    text: str

    def refuse(self, detail: str = "") -> BadInput:
        return BadInput(self.field, f"{self.text}{detail}.")


@dataclass(frozen=True)
class Input:
    """One query string or JSON body: a flat object of declared properties, and its rules."""

    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()

    @property
    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.properties,
            "required": list(self.required),
            "additionalProperties": False,
        }

    @cached_property
    def _validators(self) -> dict[str, Draft202012Validator]:
        return {name: Draft202012Validator(schema) for name, schema in self.properties.items()}

    def check(self, data: Any) -> dict[str, Any]:
        """`data` if it is as declared, else BadInput naming the first field at fault and its value."""
        if not isinstance(data, dict):
            raise BadInput("body", f"expected a JSON object, not {shown(data)}.")
        for name in data:
            if name not in self.properties:
                raise BadInput(name, f"unknown field (expected one of: {', '.join(self.properties)}).")
        for name, schema in self.properties.items():
            if name not in data:
                if name in self.required:
                    raise BadInput(name, "is required.")
            elif _beyond_every_range(data[name]) or not self._validators[name].is_valid(data[name]):
                raise BadInput(name, f"expected {schema['description']}, not {shown(data[name])}.")
        defaults = {name: schema["default"] for name, schema in self.properties.items() if "default" in schema}
        return defaults | data

    def query(self, args: MultiDict[str, str]) -> dict[str, Any]:
        """A query string: each value is text, read as the type its schema declares."""
        for name, values in args.lists():
            if len(values) > 1 and name in self.properties:
                raise BadInput(name, f"given {len(values)} times; give it once.")
        return self.check({name: _from_text(value, self.properties.get(name)) for name, value in args.items()})

    def form(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """An HTML form's fields: a blank one is left out, a number or a tick arrives as text."""
        return self.check(
            {
                name: _from_text(value, self.properties.get(name)) if isinstance(value, str) else value
                for name, value in data.items()
                if value != ""
            }
        )


def shown(value: Any) -> str:
    """A value as a message quotes it: short, and never the whole of a huge one."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:40] + "…"


def _beyond_every_range(value: Any) -> bool:
    # Every number declared here has bounds; these would only crash the validator's arithmetic.
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**64


def _from_text(text: str, schema: dict[str, Any] | None) -> Any:
    kind = (schema or {}).get("type")
    if kind == "integer" and re.fullmatch(r"-?[0-9]{1,30}", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"-?[0-9]{1,30}(\.[0-9]{1,30})?", text):
        return float(text) if "." in text else int(text)
    if kind == "boolean" and text in ("true", "on", "false", "off"):
        return text in ("true", "on")
    return text


# ------------------------------------------------------------------------ dates and times

# Exactly the calendar days of the years 2000 to 2200, so the pattern alone decides what is a date.
_YEAR = r"(?:2[01][0-9]{2}|2200)"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"  # every month has days 1 to 28
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"  # all but February have 29 and 30
    r"|(?:0[13578]|1[02])-31)"
)
_LEAP_DAY = r"(?:20(?:[02468][048]|[13579][26])|21(?:[02468][48]|[13579][26]|[2468]0))-02-29"  # not 2100, 2200
_DAY = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_DAY})"
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"

DATE = {
    "type": "string",
    "pattern": f"^{_DAY}$",
    "description": "a local date like 2026-11-26, in the years 2000 to 2200",
}
DATE_TIME = {
    "type": "string",
    "pattern": f"^{_DAY}{_TIME}{_OFFSET}$",
    "description": (
        "a date and time like 2026-11-26T08:30 (the device's local time) or 2026-11-26T08:30:00+01:00,"
        " in the years 2000 to 2200"
    ),
}


def _or_null(schema: dict[str, Any], meaning: str) -> dict[str, Any]:
    return {
        **schema,
        "type": [schema["type"], "null"],
        "description": f"{schema['description']}, or null for {meaning}",
    }


# ------------------------------------------------------------------------ queries

MAX_DAYS = 366
TO_NOT_BEFORE_FROM = Rule("to", "must not be before from")
DOSES_AT_MOST = Rule("to", f"at most {MAX_DAYS} days at a time")
DOSES = Input(
    {"from": DATE, "to": DATE},
    rules=(TO_NOT_BEFORE_FROM, DOSES_AT_MOST),
)
EVENTS = Input(
    {
        "after_seq": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**62,
            "default": 0,
            "description": f"a whole number from 0 to {2**62} (2^62)",
        },
        "type": {"type": "string", "enum": list(EVENT_TYPES), "description": "one of the event types"},
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "default": 100,
            "description": "a whole number from 1 to 1000",
        },
    }
)

# ------------------------------------------------------------------------ bodies

MEDICATION_NEEDED = Rule("medication", "required where there are several medications")
REFILL = Input(
    {
        "medication": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "a medication's name, as in the configuration",
        },
        "tablets": {
            "type": "number",
            "minimum": 0.5,
            "maximum": 1000,
            "multipleOf": 0.5,
            "description": "a number of tablets from 0.5 to 1000, in halves",
        },
    },
    required=("tablets",),
    rules=(MEDICATION_NEEDED, Rule("medication", "stock is not tracked")),  # the engine's: no `stock` configured
)
UNTIL_AFTER_FROM = Rule("until", "must be after from")
AWAY_AT_MOST = Rule("until", f"at most a year away ({MAX_DAYS} days after from)")
AWAY = Input(
    {"from": _or_null(DATE_TIME, "now"), "until": DATE_TIME},
    required=("until",),
    rules=(UNTIL_AFTER_FROM, Rule("until", "is in the past"), AWAY_AT_MOST),
)
# Not blank: a character none of the regular-expression engines or str.strip() count as space.
_NOT_BLANK = "[^\\s\\x1c-\\x1f\\x85\\ufeff]"
SKIP = Input(
    {
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "pattern": _NOT_BLANK,
            "description": "why the dose is skipped: up to 500 characters, not blank",
        }
    },
    required=("reason",),
)
TAKEN = Input(
    {
        "at": _or_null(DATE_TIME, "now"),
        "from_dispenser": {
            "type": "boolean",
            "default": False,
            "description": "true or false: whether the tablets came from the dispenser",
        },
    },
    rules=(
        # The engine's, in its words: whether a dose needs `at`, and how near its time it must be.
        Rule("at", "required for a missed dose"),
        Rule("at", "is in the future"),
        Rule("at", "is more than 6 hours from the dose's time"),
        Rule("at", "is before the dose's window opened"),
        Rule("at", "is after the window of the next dose"),
    ),
)

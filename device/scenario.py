"""Simulation scenarios (SPEC section 12): the file format, validated like the config."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema

from .config_problems import key_path, show
from .engine.model import Config
from .errors import ScenarioError

SCHEMA_PATH = Path(__file__).with_name("scenario_schema.json")


@dataclass(frozen=True)
class Behaviour:
    """How the simulated patient answers the prompts for a dose."""

    takes: str = "all"
    slots: tuple[str, ...] = ()
    delay_minutes: float = 5
    via: str = "lid"

    def takes_slot(self, slot: str) -> bool:
        return self.takes == "all" or (self.takes == "slots" and slot in self.slots)


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    until: dt.datetime
    behaviour: Behaviour


@dataclass(frozen=True)
class Action:
    at: dt.datetime
    do: str
    index: int
    tablets: float | None = None
    medication: str | None = None
    dose: str | None = None
    until: dt.datetime | None = None
    reason: str | None = None
    from_dispenser: bool = False
    taken_at: dt.datetime | None = None  # mark_taken: when it was taken (default: now, or a missed dose's time)


@dataclass(frozen=True)
class Scenario:
    start: dt.datetime
    end: dt.datetime
    patient: Behaviour
    periods: tuple[Period, ...]
    actions: tuple[Action, ...]

    def behaviour_for(self, scheduled_for: dt.datetime) -> Behaviour:
        for period in self.periods:
            if period.start <= scheduled_for < period.until:
                return period.behaviour
        return self.patient


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _plain(value: Any) -> Any:
    """TOML datetimes written without quotes become the strings the schema expects."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # nan and inf: the schema then says what was expected
    return value


def _schema_problems(data: dict[str, Any], file: str) -> list[str]:
    out: list[str] = []
    for error in _validator().iter_errors(data):
        path = key_path(tuple(error.absolute_path))
        where = f"{file}: {path + ': ' if path else ''}"
        schema = error.schema if isinstance(error.schema, dict) else {}
        if error.validator == "additionalProperties":
            known = list(schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" — did you mean '{near[0]}'?" if near else f" (known keys: {', '.join(known)})"
                out.append(f"{file}: {path + '.' if path else ''}{key}: unknown key '{key}'{hint}")
        elif error.validator == "required":
            for key in error.validator_value:
                if key not in error.instance:
                    prefix = f"{file}: {path + '.' if path else ''}{key}"
                    out.append(f"{prefix}: missing required key")
        elif error.validator == "enum":
            choices = ", ".join(str(c) for c in error.validator_value)
            out.append(f"{where}must be one of {choices}, not {show(error.instance)}")
        else:
            wanted = schema.get("description") or _resolved_description(schema)
            if wanted:
                out.append(f"{where}expected {wanted}, found {show(error.instance)}")
            else:
                out.append(f"{where}{error.message}")
    return sorted(set(out), key=out.index)


def _resolved_description(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        defs = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]
        found = defs.get(ref.removeprefix("#/$defs/"), {}).get("description")
        return found if isinstance(found, str) else None
    return None


def _impossible_times(data: dict[str, Any], file: str) -> list[str]:
    """Times that match the pattern but are not on the calendar (2026-11-31T10:00)."""
    places: list[tuple[str, Any]] = [("start", data.get("start")), ("end", data.get("end"))]
    for i, period in enumerate(data.get("patient", {}).get("period", [])):
        places += [
            (f"patient.period[{i}].from", period.get("from")),
            (f"patient.period[{i}].until", period.get("until")),
        ]
    for i, action in enumerate(data.get("action", [])):
        places += [(f"action[{i}].at", action.get("at")), (f"action[{i}].until", action.get("until"))]
    out = []
    for where, value in places:
        if isinstance(value, str):
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                out.append(f"{file}: {where}: expected a real local date and time, found {show(value)}")
    return out


def _instant(text: str, tz: ZoneInfo) -> dt.datetime:
    naive = dt.datetime.fromisoformat(text)
    return naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def _behaviour(raw: dict[str, Any], base: Behaviour) -> Behaviour:
    return Behaviour(
        takes=raw.get("takes", base.takes),
        slots=tuple(raw.get("slots", base.slots)),
        delay_minutes=float(raw.get("delay_minutes", base.delay_minutes)),
        via=raw.get("via", base.via),
    )


def load_scenario(path: str, tz: ZoneInfo, config: Config | None = None) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the scenario file: {exc.strerror or exc}"]) from None
    return parse_scenario(text, path, tz, config)


def _check_against(config: Config, actions: list[Action], file: str) -> list[str]:
    """Mistakes visible before running: an unknown medication, a dose the plan does not have."""
    from .engine.plan import Schedule

    meds = config.medications
    names = ", ".join(m.name for m in meds)
    out = []
    for a in actions:
        if a.do == "refill":
            if a.medication is None and len(meds) > 1:
                out.append(f"{file}: action[{a.index}].medication: required where there are several medications "
                           f"({names})")  # fmt: skip
            elif a.medication is not None and not any(a.medication in (m.name, m.slug) for m in meds):
                out.append(f"{file}: action[{a.index}].medication: expected one of {names}, found {show(a.medication)}")
        if a.do in ("skip", "mark_taken") and a.dose is not None:
            planned = any(Schedule(m, config.tz).find(a.dose) is not None for m in meds)
            if not planned:
                out.append(f"{file}: action[{a.index}].dose: expected a dose of the plan, found {show(a.dose)}")
    return out


def parse_scenario(text: str, file: str, tz: ZoneInfo, config: Config | None = None) -> Scenario:
    """Parse and check a scenario; every problem is reported at once (ScenarioError)."""
    try:
        data = _plain(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{file}: not valid TOML: {exc}"]) from None
    problems = _schema_problems(data, file)
    problems += _impossible_times(data, file)
    if problems:
        raise ScenarioError(problems)
    start, end = _instant(data["start"], tz), _instant(data["end"], tz)
    if end <= start:
        problems.append(f"{file}: end: expected a time after start ({data['start']}), found {show(data['end'])}")
    raw_patient = data.get("patient", {})
    patient = _behaviour(raw_patient, Behaviour())
    periods = []
    for i, raw in enumerate(raw_patient.get("period", [])):
        p_start, p_until = _instant(raw["from"], tz), _instant(raw["until"], tz)
        if p_until <= p_start:
            problems.append(
                f"{file}: patient.period[{i}].until: expected a time after from ({raw['from']}), "
                f"found {show(raw['until'])}"
            )
        periods.append(Period(p_start, p_until, _behaviour(raw, patient)))
    named = [("patient", patient)] + [(f"patient.period[{i}]", p.behaviour) for i, p in enumerate(periods)]
    for where, behaviour in named:
        if behaviour.takes == "slots" and not behaviour.slots:
            problems.append(f'{file}: {where}.slots: expected a list of times when takes = "slots", found none')
    actions = []
    needs = {
        "refill": ("tablets",),
        "skip": ("dose",),
        "mark_taken": ("dose",),
        "away": ("until",),
        "power_off": ("until",),
    }
    for i, raw in enumerate(data.get("action", [])):
        at = _instant(raw["at"], tz)
        if at < start:
            problems.append(f"{file}: action[{i}].at: expected a time at or after start ({data['start']}), "
                            f"found {show(raw['at'])}")  # fmt: skip
        for key in needs.get(raw["do"], ()):
            if key not in raw:
                problems.append(f'{file}: action[{i}].{key}: missing, required for do = "{raw["do"]}"')
        until = _instant(raw["until"], tz) if "until" in raw else None
        if until is not None and until <= at:
            problems.append(
                f"{file}: action[{i}].until: expected a time after at ({raw['at']}), found {show(raw['until'])}"
            )
        actions.append(
            Action(
                at=at,
                do=raw["do"],
                index=i,
                tablets=raw.get("tablets"),
                medication=raw.get("medication"),
                dose=raw.get("dose"),
                until=until,
                reason=raw.get("reason"),
                from_dispenser=raw.get("from_dispenser", False),
                taken_at=_instant(raw["taken_at"], tz) if "taken_at" in raw else None,
            )
        )
    if config is not None:
        problems += _check_against(config, actions, file)
    if problems:
        raise ScenarioError(problems)
    return Scenario(start, end, patient, tuple(periods), tuple(actions))

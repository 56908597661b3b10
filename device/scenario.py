"""Simulation scenarios (SPEC section 12): the file format, validated like the config."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .config_problems import KeyPath, Problems, Schema, check_schema, show, trusted
from .engine.model import Config
from .errors import ScenarioError

SCHEMA_PATH = Path(__file__).with_name("scenario_schema.json")
SCHEMA = Schema(SCHEMA_PATH)


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


class _Reader:
    """The scenario's values that passed the schema; an impossible time is reported once, at its path."""

    def __init__(self, data: dict[str, Any], broken: set[KeyPath], problems: Problems, tz: ZoneInfo) -> None:
        self.data, self.broken, self.problems, self.tz = data, broken, problems, tz

    def raw(self, path: KeyPath) -> Any:
        value: Any = self.data
        for part in path:
            in_list = isinstance(part, int) and isinstance(value, list) and part < len(value)
            if not (in_list or (isinstance(part, str) and isinstance(value, dict) and part in value)):
                return None
            value = value[part]
        return value

    def get(self, path: KeyPath) -> Any:
        """The value at `path`, or None where it is absent or the schema refused it."""
        return self.raw(path) if trusted(path, self.broken) else None

    def tables(self, path: KeyPath) -> list[tuple[int, dict[str, Any]]]:
        value = self.raw(path)
        return [(i, t) for i, t in enumerate(value) if isinstance(t, dict)] if isinstance(value, list) else []

    def time(self, path: KeyPath) -> dt.datetime | None:
        text = self.get(path)
        if not isinstance(text, str):
            return None
        try:
            naive = dt.datetime.fromisoformat(text)
        except ValueError:  # matches the pattern but is not on the calendar (2026-11-31T10:00)
            self.problems.add(path, f"expected a real local date and time, found {show(text)}")
            self.broken.add(path)
            return None
        return naive.replace(tzinfo=self.tz, fold=0).astimezone(dt.UTC)


def _behaviour(
    read: _Reader, at: KeyPath, base: Behaviour, base_unknown: frozenset[str]
) -> tuple[Behaviour, frozenset[str]]:
    """The behaviour a table gives, and the keys whose value is unknown (refused here or above)."""
    raw = read.raw(at)
    raw = raw if isinstance(raw, dict) else {}
    unknown = frozenset(k for k in raw if not trusted((*at, k), read.broken))
    unknown |= frozenset(k for k in base_unknown if k not in raw)
    sound = {k: v for k, v in raw.items() if k not in unknown}
    behaviour = Behaviour(
        takes=sound.get("takes", base.takes),
        slots=tuple(sound.get("slots", base.slots)),
        delay_minutes=float(sound.get("delay_minutes", base.delay_minutes)),
        via=sound.get("via", base.via),
    )
    return behaviour, unknown


def load_scenario(path: str, tz: ZoneInfo, config: Config | None = None) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the scenario file: {exc.strerror or exc}"]) from None
    return parse_scenario(text, path, tz, config)


def _check_against(config: Config, read: _Reader, problems: Problems) -> None:
    """Mistakes visible before running: an unknown medication, a dose the plan does not have."""
    from .engine.plan import Schedule

    meds = config.medications
    names = ", ".join(m.name for m in meds)
    for i, raw in read.tables(("action",)):
        do, medication, dose = (read.get(("action", i, key)) for key in ("do", "medication", "dose"))
        if do == "refill":
            if "medication" not in raw and len(meds) > 1:
                problems.add(("action", i, "medication"), f"required where there are several medications ({names})")
            elif medication is not None and not any(medication in (m.name, m.slug) for m in meds):
                problems.add(("action", i, "medication"), f"expected one of {names}, found {show(medication)}")
        planned = dose is not None and any(Schedule(m, config.tz).find(dose) is not None for m in meds)
        if do in ("skip", "mark_taken") and dose is not None and not planned:
            problems.add(("action", i, "dose"), f"expected a dose of the plan, found {show(dose)}")


NEEDS = {
    "refill": ("tablets",),
    "skip": ("dose",),
    "mark_taken": ("dose",),
    "away": ("until",),
    "power_off": ("until",),
}


def parse_scenario(text: str, file: str, tz: ZoneInfo, config: Config | None = None) -> Scenario:
    """Parse and check a scenario; every problem is reported at once (ScenarioError), like the config's."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{file}: not valid TOML: {exc}"]) from None
    problems = Problems(file, doc)
    data = _plain(doc)
    read = _Reader(data, check_schema(data, problems, SCHEMA), problems, tz)
    # Every check below looks only at values the schema passed, so that nothing is reported twice.
    start, end = read.time(("start",)), read.time(("end",))
    if start is not None and end is not None and end <= start:
        problems.add(("end",), f"expected a time after start ({data['start']}), found {show(data['end'])}")
    patient, unknown = _behaviour(read, ("patient",), Behaviour(), frozenset())
    named: list[tuple[KeyPath, Behaviour, frozenset[str]]] = [(("patient",), patient, unknown)]
    periods = []
    for i, raw in read.tables(("patient", "period")):
        at: KeyPath = ("patient", "period", i)
        p_start, p_until = read.time((*at, "from")), read.time((*at, "until"))
        if p_start is not None and p_until is not None and p_until <= p_start:
            problems.add((*at, "until"), f"expected a time after from ({raw['from']}), found {show(raw['until'])}")
        behaviour, period_unknown = _behaviour(read, at, patient, unknown)
        named.append((at, behaviour, period_unknown))
        if p_start is not None and p_until is not None:
            periods.append(Period(p_start, p_until, behaviour))
    for at, behaviour, not_known in named:
        if behaviour.takes == "slots" and not behaviour.slots and not {"takes", "slots"} & not_known:
            problems.add((*at, "slots"), 'expected a list of times when takes = "slots", found none')
    actions = []
    for i, raw in read.tables(("action",)):
        at = ("action", i)
        when, do = read.time((*at, "at")), read.get((*at, "do"))
        if when is not None and start is not None and when < start:
            problems.add((*at, "at"), f"expected a time at or after start ({data['start']}), found {show(raw['at'])}")
        for key in NEEDS.get(do, ()):
            if key not in raw:
                problems.add((*at, key), f'missing, required for do = "{do}"')
        until = read.time((*at, "until"))
        if until is not None and when is not None and until <= when:
            problems.add((*at, "until"), f"expected a time after at ({raw['at']}), found {show(raw['until'])}")
        taken_at = read.time((*at, "taken_at"))
        if when is not None and do is not None:
            actions.append(
                Action(
                    at=when,
                    do=do,
                    index=i,
                    tablets=read.get((*at, "tablets")),
                    medication=read.get((*at, "medication")),
                    dose=read.get((*at, "dose")),
                    until=until,
                    reason=read.get((*at, "reason")),
                    from_dispenser=read.get((*at, "from_dispenser")) or False,
                    taken_at=taken_at,
                )
            )
    if config is not None:
        _check_against(config, read, problems)
    if problems.items or start is None or end is None:
        raise ScenarioError(problems.lines() or [f"{file}: the scenario is not usable"])
    return Scenario(start, end, patient, tuple(periods), tuple(actions))

"""Read pillbox.toml: check every key and the plan rules, report every problem at once, build `Config`."""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from device.engine.model import (
    Config,
    DeviceConfig,
    HardwareConfig,
    Medication,
    MqttConfig,
    Phase,
    WebConfig,
    slugify,
    to_ug,
)
from device.engine.planwarn import format_mg
from device.errors import ConfigError

from .config_problems import (
    KeyPath,
    Problems,
    check_schema,
    jsonable,
    resolve_ref,
    schema_document,
    show,
    trusted,
)

DEFAULT_CONFIG_PATH = "/etc/pillbox/pillbox.toml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PINS = ("due_led", "alert_led", "buzzer", "lid", "button")
MINUTES_PER_DAY = 24 * 60


def find_config_path(cli_path: str | None, environ: Mapping[str, str]) -> str:
    """The config file to read: --config, else $PILLBOX_CONFIG, else /etc/pillbox/pillbox.toml."""
    return cli_path or environ.get("PILLBOX_CONFIG") or DEFAULT_CONFIG_PATH


def load_config(path: str) -> Config:
    """Read and validate the config file; ConfigError lists every problem found."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (give it with --config or $PILLBOX_CONFIG)"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (bad byte at offset {exc.start})"]) from None
    return parse_config(text, path)


def parse_config(text: str, path: str) -> Config:
    """Validate TOML text read from `path` (named in messages) and build the typed config."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    problems = Problems(path, doc)
    data = jsonable(doc)
    broken = check_schema(data, problems)
    config = _build(data, broken, problems)
    if problems.items or config is None:
        raise ConfigError(problems.lines() or [f"{path}: the configuration is not usable"])
    return config


def system_timezone(etc: Path = Path("/etc")) -> str:
    """The system's IANA zone ($TZ, the /etc/localtime link, else /etc/timezone), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink(etc / "localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    with contextlib.suppress(OSError, UnicodeDecodeError):
        candidates.append((etc / "timezone").read_text(encoding="utf-8").strip())
    return next((name for name in candidates if _is_timezone(name)), "UTC")


# --- semantic checks and building -----------------------------------------------------------------


def _build(data: Mapping[str, Any], broken: set[KeyPath], problems: Problems) -> Config | None:
    device = _device(data.get("device", {}), problems) if trusted(("device",), broken) else None
    hardware = _hardware(data.get("hardware", {}), problems) if trusted(("hardware",), broken) else None
    mqtt = _mqtt(data.get("mqtt", {}), problems) if trusted(("mqtt",), broken) else None
    web = WebConfig(**_known(data.get("web", {}), "web")) if trusted(("web",), broken) else None
    raw_meds = data.get("medication", [])
    # A wrong value in a medication must not hide its other problems: each check runs on the values
    # the schema passed and is skipped only where a value it needs was refused.
    meds = [
        _medication(raw, i, broken, problems) if isinstance(raw, Mapping) else None
        for i, raw in enumerate(raw_meds if isinstance(raw_meds, list) else [])
    ]
    _check_slugs(raw_meds if isinstance(raw_meds, list) else [], problems)
    if device is None or hardware is None or mqtt is None or web is None or not meds:
        return None
    if any(med is None for med in meds):
        return None
    return Config(
        medications=tuple(m for m in meds if m is not None),
        device=device,
        hardware=hardware,
        mqtt=mqtt,
        web=web,
        path=problems.file,
    )


def _known(raw: Mapping[str, Any], table: str) -> dict[str, Any]:
    """A table's known keys, integer-typed ones as int (TOML 60.0 passes the schema as an integer)."""
    schema = schema_document()
    props = (schema["$defs"].get(table) or schema["properties"][table])["properties"]
    return {k: int(v) if resolve_ref(props[k]).get("type") == "integer" else v for k, v in raw.items() if k in props}


def _is_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _device(raw: Mapping[str, Any], problems: Problems) -> DeviceConfig | None:
    name = raw.get("timezone")
    if name is None or _is_timezone(name):
        return DeviceConfig(**{**_known(raw, "device"), "timezone": name or system_timezone()})
    text = f'expected an IANA time zone name such as "Europe/London", found {show(name)}'
    near = difflib.get_close_matches(name, available_timezones(), n=1, cutoff=0.6)
    problems.add(("device", "timezone"), text + (f" — did you mean '{near[0]}'?" if near else ""))
    return None


def _hardware(raw: Mapping[str, Any], problems: Problems) -> HardwareConfig | None:
    values = _known(raw, "hardware")
    ok = True
    defaults = HardwareConfig()
    used: dict[int, str] = {}
    for pin in PINS:
        number = values.get(pin, getattr(defaults, pin))
        if number in used:
            problems.add(("hardware", pin), f"pin {number} is already used by hardware.{used[number]}")
            ok = False
        used.setdefault(number, pin)
    quiet = values.pop("quiet_hours", None)
    if quiet is not None:
        if len(quiet) == 2 and quiet[0] == quiet[1]:
            problems.add(
                ("hardware", "quiet_hours"),
                f"start and end are both {show(quiet[0])}; give two different times, or [] for none",
            )
            ok = False
        values["quiet_hours"] = (quiet[0], quiet[1]) if quiet else None
    return HardwareConfig(**values) if ok else None


def _mqtt(raw: Mapping[str, Any], problems: Problems) -> MqttConfig | None:
    values = _known(raw, "mqtt")
    if bool(values.get("client_cert")) != bool(values.get("client_key")):
        missing = "client_key" if values.get("client_cert") else "client_cert"
        problems.add(("mqtt", missing), "missing: client_cert and client_key go together")
        return None
    return MqttConfig(**values)


def _check_slugs(raw_meds: Sequence[Any], problems: Problems) -> None:
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_meds):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name:
            continue
        slug = slugify(name)
        if not slug:
            problems.add(("medication", i, "name"), f"expected a letter or digit in the name, found {show(name)}")
        elif slug in seen:
            problems.add(
                ("medication", i, "name"),
                f"{show(name)} has the same id '{slug}' as medication[{seen[slug]}]; names must differ",
            )
        seen.setdefault(slug, i)


def _medication(raw: Mapping[str, Any], i: int, broken: set[KeyPath], problems: Problems) -> Medication | None:
    at: KeyPath = ("medication", i)
    unknown = {k for k in MEDICATION_KEYS | raw.keys() if not trusted((*at, k), broken)}
    values = _known({k: v for k, v in raw.items() if k != "plan" and k not in unknown}, "medication")
    defaults = Medication(name="", strength_mg=1, plan=())
    late = values.get("late_after_minutes", defaults.late_after_minutes)
    missed = values.get("missed_after_minutes", defaults.missed_after_minutes)
    ok = True
    if not {"late_after_minutes", "missed_after_minutes"} & unknown and late >= missed:
        problems.add((*at, "late_after_minutes"), f"expected less than missed_after_minutes ({missed}), found {late}")
        ok = False
    span = None
    if not {"early_minutes", "missed_after_minutes"} & unknown:
        span = values.get("early_minutes", defaults.early_minutes) + missed
    limits = _Limits(values.get("strength_mg"), values.get("max_daily_mg"), span)
    plan = _plan(raw.get("plan"), i, limits, broken, problems)
    if plan is None or not ok or unknown:
        return None
    values["interactions"] = tuple(values.get("interactions", ()))
    return Medication(**values, plan=plan, index=i)


MEDICATION_KEYS = frozenset(schema_document()["$defs"]["medication"]["properties"])
PHASE_KEYS = frozenset(schema_document()["$defs"]["phase"]["properties"])
CARRIED = ("times", "dose_mg", "days")


@dataclass(frozen=True)
class _Limits:
    """What the plan checks need from the medication; None where it is not known (a refused value)."""

    strength_mg: float | None
    max_daily_mg: float | None
    span: int | None  # early_minutes + missed_after_minutes


@dataclass(frozen=True)
class _Step:
    """A phase as far as it is known: `unknown` names the values refused here or carried from a refused one."""

    phase: Phase
    raw: Mapping[str, Any]
    unknown: frozenset[str]


def _plan(raw_plan: Any, i: int, limits: _Limits, broken: set[KeyPath], problems: Problems) -> tuple[Phase, ...] | None:
    """The phases sorted by start, with times, days and dose_mg carried over; None after a problem.

    A value the schema refused does not stop the checks: those that need it are skipped, the others run."""
    base: KeyPath = ("medication", i, "plan")
    if not isinstance(raw_plan, list) or base in broken:
        return None
    count = len(problems.items)
    dated: list[tuple[dt.date | None, int, Mapping[str, Any], frozenset[str]]] = []
    for j, raw in enumerate(raw_plan):
        if not isinstance(raw, Mapping):
            dated.append((None, j, {}, PHASE_KEYS))
            continue
        refused = frozenset(k for k in PHASE_KEYS | raw.keys() if not trusted((*base, j, k), broken))
        start = None
        if "start" not in refused:
            try:
                start = dt.date.fromisoformat(raw["start"])
            except ValueError:
                problems.add(
                    (*base, j, "start"), f"expected a real calendar date, found {problems.found((*base, j, 'start'))}"
                )
        dated.append((start, j, raw, refused))
    known = sorted((start, j) for start, j, _, _ in dated if start is not None)
    for (start, j), (again, k) in pairwise(known):
        if start == again:
            problems.add((*base, k, "start"), f"same start date as plan[{j}] ({start}); each phase needs its own")
    # Without every start the order is not known: each phase is then checked with its own values only.
    ordered = len(known) == len(dated)
    if ordered:
        dated.sort(key=lambda item: (item[0], item[1]))
        first_start, j0, first, _ = dated[0]
        for key in ("times", "dose_mg"):
            if key not in first:
                problems.add((*base, j0, key), f"missing; the first phase (earliest start {first_start}) must set it")
    steps: list[_Step] = []
    for start, j, raw, refused in dated:
        carried = steps[-1] if steps and ordered else None
        before = carried.phase if carried else Phase(start=dt.date.min, times=(), dose_mg=0)
        # Before the first phase nothing is known but days (every day); unordered, nothing carries over.
        unknown: set[str] = set(carried.unknown if carried else {"times", "dose_mg"} if ordered else CARRIED)
        values: dict[str, Any] = {"times": before.times, "dose_mg": before.dose_mg, "days": before.days}
        for key in CARRIED:
            if key in raw and key in refused:
                unknown.add(key)
            elif key in raw:
                unknown.discard(key)
        if "times" in raw and "times" not in unknown:
            values["times"] = tuple(sorted(raw["times"]))
        if "dose_mg" in raw and "dose_mg" not in unknown:
            values["dose_mg"] = raw["dose_mg"]
        if "days" in raw and "days" not in unknown:
            days = frozenset(WEEKDAYS.index(d) for d in raw["days"])
            values["days"] = None if len(days) == 7 else days
        confirmed = "prescriber_confirmed" not in refused and raw.get("prescriber_confirmed", False)
        phase = Phase(start=start or dt.date.min, prescriber_confirmed=confirmed, index=j, **values)
        steps.append(_Step(phase, raw, frozenset(unknown | (refused & {"start"}))))
    for step in steps:
        _check_phase(step, (*base, step.phase.index), limits, problems)
    if ordered and limits.span is not None:
        for before_step, step in pairwise(steps):
            if not {"times", "days"} & (before_step.unknown | step.unknown):
                _check_phase_change(before_step, step, (*base, step.phase.index), limits.span, problems)
    if len(problems.items) > count or not ordered or any(step.unknown for step in steps):
        return None
    return tuple(step.phase for step in steps)


def _check_phase(step: _Step, at: KeyPath, limits: _Limits, problems: Problems) -> None:
    phase, raw, unknown = step.phase, step.raw, step.unknown
    for key in ("times", "days"):
        if key in raw and key not in unknown:
            for value in sorted({v for v in raw[key] if raw[key].count(v) > 1}):
                problems.add((*at, key), f"{show(value)} is listed twice")
    dose_ug = to_ug(phase.dose_mg)
    strength = limits.strength_mg
    # In half-micrograms, so that half of a 0.125 mg tablet (62.5 µg) is exact too.
    dose_known = "dose_mg" in raw and "dose_mg" not in unknown
    if dose_known and strength is not None and round(phase.dose_mg * 2000) % round(strength * 1000):
        strength_ug = to_ug(strength)
        problems.add(
            (*at, "dose_mg"),
            f"expected a multiple of half a tablet ({strength / 2:g} mg with "
            f"{format_mg(strength_ug)} mg tablets), found {show(raw['dose_mg'])} "
            f"({dose_ug / strength_ug:.3g} tablets)",
        )
    # Per dose day, never averaged over the week: 160 mg on Mondays only is 160 mg that day.
    limit = limits.max_daily_mg
    if limit is not None and not {"dose_mg", "times"} & unknown and phase.daily_ug > to_ug(limit):
        problems.add(
            (*at, "dose_mg" if "dose_mg" in raw else "times"),
            f"the daily dose {format_mg(phase.daily_ug)} mg ({format_mg(dose_ug)} mg × {len(phase.times)}) "
            f"is above max_daily_mg = {show(limit)}",
        )
    if not ("times" in raw or "days" in raw) or "times" in unknown or limits.span is None or _ends_plan(step):
        return  # carried-over slots were checked where they were written
    span = limits.span
    where = (*at, "times" if "times" in raw else "days")
    minutes = [_minutes(t) for t in phase.times]
    for (a, ta), (b, tb) in pairwise(zip(minutes, phase.times, strict=True)):
        if b > a and span >= b - a:
            problems.add(where, _overlap(ta, tb, b - a, span))
    if "days" in unknown:
        return  # the last slot of a day and the first of the next dose day: needs the days
    day_gap = _min_day_gap(phase.days)
    wrap = day_gap * MINUTES_PER_DAY - (minutes[-1] - minutes[0])
    if span >= wrap:
        next_day = "the next day" if day_gap == 1 else f"{day_gap} days later"
        problems.add(where, _overlap(phase.times[-1], f"{phase.times[0]} {next_day}", wrap, span))


def _ends_plan(step: _Step) -> bool:
    """No doses in this phase, as far as is known (a refused dose_mg counts as doses given)."""
    return not step.phase.times or ("dose_mg" not in step.unknown and step.phase.dose_mg == 0)


def _check_phase_change(before_step: _Step, step: _Step, at: KeyPath, span: int, problems: Problems) -> None:
    """The last dose of the old phase and the first of the new one must not have touching windows."""
    before, phase = before_step.phase, step.phase
    if _ends_plan(before_step) or _ends_plan(step) or (before.times, before.days) == (phase.times, phase.days):
        return
    last_day = next(
        (d for d in _days_back(phase.start - dt.timedelta(days=1), before.start) if _active(before, d)), None
    )
    first_day = next((d for d in _days_on(phase.start) if _active(phase, d)), None)
    if last_day is None or first_day is None:
        return
    days = (first_day - last_day).days
    gap = days * MINUTES_PER_DAY + _minutes(phase.times[0]) - _minutes(before.times[-1])
    if span >= gap:
        text = _overlap(f"{before.times[-1]} on {last_day}", f"{phase.times[0]} on {first_day}", gap, span)
        problems.add((*at, "start"), f"across the phase change: {text}")


def _overlap(first: str, second: str, gap: int, span: int) -> str:
    return (
        f"the windows of the slots {first} and {second} overlap or touch: early_minutes + "
        f"missed_after_minutes = {span} must be less than the {gap} minutes between them"
    )


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _min_day_gap(days: frozenset[int] | None) -> int:
    """The fewest days from one dose day to the next (1 for every day, 7 for one weekday)."""
    if days is None:
        return 1
    return min((b - a) % 7 or 7 for a in days for b in days)


def _active(phase: Phase, day: dt.date) -> bool:
    return phase.days is None or day.weekday() in phase.days


def _days_back(day: dt.date, earliest: dt.date) -> Iterator[dt.date]:
    for n in range(7):
        if day - dt.timedelta(days=n) >= earliest:
            yield day - dt.timedelta(days=n)


def _days_on(day: dt.date) -> Iterator[dt.date]:
    for n in range(7):
        yield day + dt.timedelta(days=n)

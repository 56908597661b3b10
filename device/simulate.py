"""`pillbox simulate`: the real engine and store on a virtual clock (SPEC section 12)."""

from __future__ import annotations

import datetime as dt
import heapq
import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from .engine.engine import Engine
from .engine.events import Event, to_json
from .engine.model import Config
from .engine.plan import Schedule
from .errors import ActionError
from .scenario import Action, Scenario
from .store import Store

LID_CLOSE_AFTER = dt.timedelta(seconds=30)

# Order of inputs that fall on the same instant: the patient before the caregiver's one-offs.
_PATIENT, _ACTION, _POWER_ON = 0, 1, 2


@dataclass(order=True)
class _Input:
    at: dt.datetime
    order: int
    seq: int
    kind: str = field(compare=False)
    action: Action | None = field(compare=False, default=None)


@dataclass
class Summary:
    """Counts per medication, written to stderr at the end: each dose by its final state."""

    planned: Counter[str] = field(default_factory=Counter)
    finals: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # dose -> (medication, state, late)
    alerts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    events: int = 0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, event: Event) -> None:
        self.events += 1
        med = event.get("medication") or "(device)"
        kind = event.event_type
        dose = event.get("dose_id")
        if kind == "dose_taken":  # a caregiver's correction replaces a missed
            self.finals[dose] = (med, "taken", not event.get("on_time"))
        elif kind == "dose_missed":
            self.finals[dose] = (med, "missed", False)
        elif kind == "dose_skipped":
            self.finals[dose] = (med, "skipped", False)
        opens_alert = event.priority in ("medium", "high") or kind == "lid_left_open"
        if opens_alert and not event.get("reminder"):
            self.alerts[med][kind] += 1

    def count(self, medication: str, state: str) -> int:
        return sum(1 for med, st, _ in self.finals.values() if med == medication and st == state)

    def late(self, medication: str) -> int:
        return sum(1 for med, st, late in self.finals.values() if med == medication and st == "taken" and late)

    def text(self, config: Config) -> str:
        lines = [f"Simulation: {self.events} events, {self.restarts} restarts after power cuts."]
        for med in config.medications:
            name = med.name
            taken, missed = self.count(name, "taken"), self.count(name, "missed")
            adherence = f"{100 * taken / (taken + missed):.1f}%" if taken + missed else "n/a"
            lines.append(
                f"{name}: planned {self.planned[name]}, taken {taken} (late {self.late(name)}), "
                f"missed {missed}, skipped {self.count(name, 'skipped')}, adherence {adherence}"
            )
            lines.append("  alerts: " + _counts(self.alerts.get(name)))
        lines.append("Device alerts: " + _counts(self.alerts.get("(device)")))
        lines.extend(self.notes)
        return "\n".join(lines) + "\n"


def _counts(counter: Counter[str] | None) -> str:
    if not counter:
        return "none"
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counter.items()))


class Simulation:
    """Runs a scenario against the engine, writing each event as a JSON line to `out`."""

    def __init__(self, config: Config, scenario: Scenario, out: TextIO, db_path: str) -> None:
        self.config = config
        self.scenario = scenario
        self.out = out
        self.db_path = db_path
        self.summary = Summary()
        self.lid_open = False  # the physical lid, whether or not the device sees it
        self.engine: Engine | None = None
        self.store: Store | None = None
        self.powered_until: dt.datetime | None = None
        self._queue: list[_Input] = []
        self._count = 0

    # ----------------------------------------------------------------------------- timeline

    def _push(self, at: dt.datetime, order: int, kind: str, action: Action | None = None) -> None:
        self._count += 1
        heapq.heappush(self._queue, _Input(at, order, self._count, kind, action))

    def _patient_inputs(self) -> None:
        """The patient acts at scheduled_for + delay_minutes of each dose it takes, once per moment."""
        sc = self.scenario
        moments: dict[dt.datetime, str] = {}
        for med in self.config.medications:
            schedule = Schedule(med, self.config.tz)
            for spec in schedule.forward(sc.start - dt.timedelta(days=2), key="scheduled_for"):
                if spec.scheduled_for >= sc.end:
                    break
                if spec.scheduled_for >= sc.start:
                    self.summary.planned[med.name] += 1
                how = sc.behaviour_for(spec.scheduled_for)
                if not how.takes_slot(spec.slot):
                    continue
                at = spec.scheduled_for + dt.timedelta(minutes=how.delay_minutes)
                if sc.start <= at < sc.end:
                    moments.setdefault(at, how.via)
        for at, via in moments.items():
            if via == "lid":
                self._push(at, _PATIENT, "lid_open")
                self._push(at + LID_CLOSE_AFTER, _PATIENT, "lid_close")
            else:
                self._push(at, _PATIENT, "press")

    # ---------------------------------------------------------------------------------- run

    def run(self) -> Summary:
        self._patient_inputs()
        hold = dt.timedelta(seconds=self.config.hardware.help_hold_seconds)
        for action in self.scenario.actions:
            # A hold is help once the button has been down for help_hold_seconds, as on the device.
            self._push(action.at + (hold if action.do == "hold" else dt.timedelta(0)), _ACTION, action.do, action)
        self._power_on(self.scenario.start)
        end = self.scenario.end
        while True:
            wake = self.engine.next_wakeup() if self.engine is not None else None
            nxt = self._queue[0].at if self._queue else None
            times = [t for t in (wake, nxt) if t is not None]
            if not times or min(times) >= end:
                break
            t = min(times)
            if nxt is not None and nxt == t:
                item = heapq.heappop(self._queue)
                if self.engine is not None:
                    self._emit(self.engine.tick(t))
                self._apply(item)
            else:
                assert self.engine is not None
                self._emit(self.engine.tick(t))
        if self.store is not None:
            self.store.close()
        return self.summary

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            self.out.write(json.dumps(to_json(event), separators=(", ", ": ")) + "\n")
            self.summary.add(event)

    def _power_on(self, at: dt.datetime) -> None:
        self.store = Store(self.db_path, durable=False)
        self.engine = Engine(self.config, self.store)
        self._emit(self.engine.start(at, lid_open=self.lid_open))

    def _apply(self, item: _Input) -> None:
        kind, t = item.kind, item.at
        if kind == "lid_open":
            self.lid_open = True
        elif kind == "lid_close":
            self.lid_open = False
        if kind == "power_on":
            self.summary.restarts += 1
            self._power_on(t)
            return
        engine = self.engine
        if engine is None:
            if item.action is not None and kind not in ("lid_open", "lid_close", "press", "hold"):
                self.summary.notes.append(
                    f"note: action[{item.action.index}] ({kind}) at {t.isoformat()} came during a power cut "
                    "and was not seen."
                )
            return
        handlers: dict[str, Callable[[], Any]] = {
            "lid_open": lambda: engine.lid_opened(t),
            "lid_close": lambda: engine.lid_closed(t),
            "press": lambda: engine.press(t)[1],
            "hold": lambda: engine.hold(t),
            "refill_mode": lambda: engine.start_refill_mode(t),
            "ack_all": lambda: engine.acknowledge("all", t)[1],
        }
        a = item.action
        if a is not None:
            handlers.update(
                refill=lambda: engine.refill(a.medication or self._only_medication(a), a.tablets or 0, t),
                skip=lambda: engine.skip(a.dose or "", a.reason or "skipped in the scenario", t),
                mark_taken=lambda: engine.mark_taken(a.dose or "", t, at=a.taken_at, from_dispenser=a.from_dispenser),
                away=lambda: engine.set_away(t, a.until or t, t),
                power_off=lambda: self._power_off(a, t),
            )
        try:
            events = handlers[kind]()
        except ActionError as exc:
            where = f"action[{a.index}] ({kind})" if a is not None else kind
            self.summary.notes.append(f"note: {where} at {t.isoformat()} was refused: {exc}")
            return
        if isinstance(events, list):
            self._emit(events)

    def _only_medication(self, action: Action) -> str:
        meds = self.config.medications
        if len(meds) != 1:
            raise ActionError(f"action[{action.index}].medication: required where there are several medications.")
        return meds[0].name

    def _power_off(self, action: Action, t: dt.datetime) -> list[Event]:
        """A power cut: the engine stops dead (no device_stopped) and restarts from the database."""
        assert self.store is not None and action.until is not None
        self.store.close()
        self.engine = self.store = None
        self._push(action.until, _POWER_ON, "power_on")
        return []


def run_simulation(config: Config, scenario: Scenario, out: TextIO) -> Summary:
    """Simulate in a throw-away database."""
    with tempfile.TemporaryDirectory(prefix="pillbox-sim-") as tmp:
        return Simulation(config, scenario, out, os.path.join(tmp, "pillbox.db")).run()


def iter_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)

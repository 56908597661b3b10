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

from .core import DeviceCore, Step, VirtualHardware
from .driver import VirtualDriver
from .engine.engine import Engine
from .engine.events import Event, opens_alert, to_json
from .engine.model import Config
from .engine.plan import Schedule
from .errors import ActionError
from .formats import adherence
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
        if opens_alert(kind, event.priority) and not event.get("reminder"):
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
            share = adherence(taken, missed)
            percent = f"{share:.1f}%" if share is not None else "n/a"
            lines.append(
                f"{name}: planned {self.planned[name]}, taken {taken} (late {self.late(name)}), "
                f"missed {missed}, skipped {self.count(name, 'skipped')}, adherence {percent}"
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
        self.pins = VirtualHardware()  # the physical lid, whether or not the device sees it
        self.driver: VirtualDriver | None = None
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
        while self._queue and self._queue[0].at < end:
            item = heapq.heappop(self._queue)
            if self.driver is not None:  # up to the input; its command catches up to the instant itself
                self._emit(self.driver.advance(item.at, settle=False).events)
            self._apply(item)
        if self.driver is not None:
            self._emit(self.driver.advance(end - dt.timedelta(microseconds=1), settle=False).events)
        if self.store is not None:
            self.store.close()
        return self.summary

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            self.out.write(json.dumps(to_json(event), separators=(", ", ": ")) + "\n")
            self.summary.add(event)

    def _power_on(self, at: dt.datetime) -> None:
        self.store = Store(self.db_path, durable=False)
        self.driver = VirtualDriver(DeviceCore(self.config, self.store, self.pins, prompts=False), at)
        self._emit(self.driver.start(synced=True).events)  # a virtual clock counts as synchronised

    def _apply(self, item: _Input) -> None:
        kind, t = item.kind, item.at
        if kind == "lid_open":
            self.pins.lid_open = True
        elif kind == "lid_close":
            self.pins.lid_open = False
        if kind == "power_on":
            self.summary.restarts += 1
            self._power_on(t)
            return
        driver = self.driver
        if driver is None:
            if item.action is not None and kind not in ("lid_open", "lid_close", "press", "hold"):
                self.summary.notes.append(
                    f"note: action[{item.action.index}] ({kind}) at {t.isoformat()} came during a power cut "
                    "and was not seen."
                )
            return
        core = driver.core
        driver.now = max(driver.now, t)

        def command(action: Callable[[Engine, dt.datetime], Any]) -> Step:
            return core.command(action, t, t)

        handlers: dict[str, Callable[[], Step | None]] = {
            "lid_open": lambda: driver.lid(True),
            "lid_close": lambda: driver.lid(False),
            "press": driver.press,
            "hold": driver.hold,
            "refill_mode": lambda: command(lambda e, now: e.start_refill_mode(now)),
            "ack_all": lambda: command(lambda e, now: e.acknowledge("all", now)),
        }
        a = item.action
        if a is not None:
            handlers.update(
                refill=lambda: command(lambda e, now: e.refill(a.medication, a.tablets or 0, now)),
                skip=lambda: command(lambda e, now: e.skip(a.dose or "", a.reason or "skipped in the scenario", now)),
                mark_taken=lambda: command(
                    lambda e, now: e.mark_taken(a.dose or "", now, at=a.taken_at, from_dispenser=a.from_dispenser)
                ),
                away=lambda: command(lambda e, now: e.set_away(now, a.until or now, now)),
                power_off=lambda: self._power_off(a, t),
            )
        try:
            step = handlers[kind]()
        except ActionError as exc:
            where = f"action[{a.index}] ({kind})" if a is not None else kind
            self.summary.notes.append(f"note: {where} at {t.isoformat()} was refused: {exc}")
            return
        if step is not None:
            self._emit(step.events)

    def _power_off(self, action: Action, t: dt.datetime) -> None:
        """A power cut: the engine stops dead (no device_stopped) and restarts from the database."""
        assert self.store is not None and action.until is not None
        self.store.close()
        self.driver = self.store = None
        self._push(action.until, _POWER_ON, "power_on")


def run_simulation(config: Config, scenario: Scenario, out: TextIO) -> Summary:
    """Simulate in a throw-away database."""
    with tempfile.TemporaryDirectory(prefix="pillbox-sim-") as tmp:
        return Simulation(config, scenario, out, os.path.join(tmp, "pillbox.db")).run()


def iter_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)

"""The device core: everything that decides — the engine, the prompts, what an input edge or a clock
step means — over a small hardware port. It has no threads, no scheduler and no clock of its own:
`pillbox run` drives it from the wall clock (device/daemon.py), `simulate` and the test rigs from a
virtual one (device/driver.py). Every call takes `now` (the wall clock) and `steady` (a clock that
never steps, for the prompts' rhythm) and returns a `Step`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .engine.engine import Engine, Store
from .engine.events import Event
from .engine.model import Config
from .engine.prompts import Indication, Prompter, Sound
from .engine.state import Alert

T = TypeVar("T")
SOUND_RANK = {Sound.BEEP: 0, Sound.LOW: 1, Sound.MEDIUM: 2, Sound.HIGH: 3}


class HardwarePort(Protocol):
    """What the core needs from the dispenser's pins (gpiozero in device/hardware, nothing in simulate)."""

    @property
    def lid_open(self) -> bool: ...

    @property
    def sounding(self) -> bool: ...

    def show(self, indication: Indication) -> None: ...

    def sound(self, sound: Sound) -> None: ...

    def silence(self) -> None: ...

    def progress(self, taken_today: int) -> None: ...


class VirtualHardware:
    """A dispenser without pins: the lid is what the caller says; lights and sound are remembered."""

    def __init__(self) -> None:
        self.lid_open = False
        self.sounding = False
        self.indication: Indication | None = None
        self.sounds: list[Sound] = []

    def show(self, indication: Indication) -> None:
        self.indication = indication

    def sound(self, sound: Sound) -> None:
        self.sounds.append(sound)

    def silence(self) -> None:
        self.sounding = False

    def progress(self, taken_today: int) -> None:
        pass


@dataclass
class Step:
    """What one call of the core did: the events committed (in seq order), and the alerts it concerned."""

    events: list[Event] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    intake: bool = False

    def __iadd__(self, other: Step) -> Step:
        self.events += other.events
        self.alerts += other.alerts
        self.intake = self.intake or other.intake
        return self


def _as_step(result: Any) -> Step:
    """An engine command's result (events; (intake, events); (alerts, events)) as a Step."""
    if isinstance(result, Step):
        return result
    if isinstance(result, tuple):
        first, events = result
        if isinstance(first, bool):
            return Step(list(events), intake=first)
        return Step(list(events), alerts=list(first))
    return Step(list(result) if isinstance(result, list) else [])


class DeviceCore:
    """The engine and the prompts, with the hardware they drive."""

    def __init__(self, config: Config, store: Store, hardware: HardwarePort, *, prompts: bool = True) -> None:
        self.config = config
        self.hardware = hardware
        self.engine = Engine(config, store)
        self.prompter = Prompter(config.hardware.quiet_hours, config.tz)
        self.prompts = prompts  # False: no lights or sound are decided (simulate)
        self.clock_synced = False

    @property
    def started(self) -> bool:
        return self.engine.started

    @property
    def lid_open(self) -> bool:
        """The lid as the core knows it (the pin's state before the start)."""
        return self.engine.dev.lid_open if self.engine.started else self.hardware.lid_open

    # ------------------------------------------------------------------------------- driving

    def start(self, now: dt.datetime, steady: dt.datetime, *, synced: bool) -> Step:
        """Start (or restart) at `now`: downtime, first start; clock_unsynced unless `synced`."""
        self.clock_synced = synced
        events = self.engine.start(now, lid_open=self.hardware.lid_open)
        if synced:
            events += self.engine.clock_synced(now)  # resolves an alert left from an earlier start
        else:
            events += self.engine.clock_unsynced(now)
        return self._after(Step(events), now, steady)

    def tick(self, now: dt.datetime, steady: dt.datetime) -> Step:
        return self._after(Step(self.engine.tick(now)), now, steady)

    def stop(self, now: dt.datetime) -> Step:
        return Step(self.engine.stop(now))

    def clock_step(self, now: dt.datetime, seconds: float, steady: dt.datetime) -> Step:
        """The wall clock stepped by `seconds` against the steady clock: schedules rebuilt."""
        return self._after(Step(self.engine.clock_jump(now, seconds)), now, steady)

    def clock_became_synced(self, now: dt.datetime, steady: dt.datetime) -> Step:
        if self.clock_synced:
            return Step()
        self.clock_synced = True
        return self._after(Step(self.engine.clock_synced(now)), now, steady)

    def next_wakeup(self, now: dt.datetime, steady: dt.datetime) -> dt.datetime | None:
        """The next wall-clock instant at which the engine or the prompts need a tick."""
        times = [self.engine.next_wakeup()]
        prompt = self.prompter.next_wakeup() if self.prompts else None
        if prompt is not None:
            times.append(now + (prompt - steady))
        found = [t for t in times if t is not None]
        return min(found) if found else None

    # ------------------------------------------------------------------------ patient inputs

    def lid(self, opened: bool, now: dt.datetime, steady: dt.datetime) -> Step:
        if opened:
            return self._after(Step(self.engine.lid_opened(now)), now, steady)
        return self._after(Step(self.engine.lid_closed(now)), now, steady)

    def press(self, now: dt.datetime, steady: dt.datetime) -> Step:
        """A short press: intake of the due doses; otherwise it silences, or shows today's progress."""
        intake, events = self.engine.press(now)
        if not intake and self.prompts:
            sounding = self.hardware.sounding or self.prompter.level is not None
            self.prompter.silence(steady)
            self.hardware.silence()
            if not sounding:
                self.hardware.progress(self.engine.taken_today(now))
        return self._after(Step(events, intake=intake), now, steady)

    def hold(self, now: dt.datetime, steady: dt.datetime) -> Step:
        return self._after(Step(self.engine.hold(now)), now, steady)

    def silence(self, now: dt.datetime, steady: dt.datetime) -> Step:
        """Silence the buzzer for 10 minutes (a press that is not an intake, or the hub)."""
        self.prompter.silence(steady)
        self.hardware.silence()
        return Step()

    # --------------------------------------------------------------------- caregiver commands

    def command(self, action: Callable[[Engine, dt.datetime], Any], now: dt.datetime, steady: dt.datetime) -> Step:
        """A caregiver's or the hub's command on the engine (acknowledge, skip, refill, away, …)."""
        return self._after(_as_step(action(self.engine, now)), now, steady)

    def query(self, read: Callable[[Engine, dt.datetime], T], now: dt.datetime) -> T:
        return read(self.engine, now)

    # ---------------------------------------------------------------------------------- after

    def _after(self, step: Step, now: dt.datetime, steady: dt.datetime) -> Step:
        """After the store committed the step's events: what the patient sees and hears."""
        if self.prompts:
            sounds = self.prompter.update(self.engine.view(now), step.events, steady, wall=now)
            self.hardware.show(self.prompter.indication())
            if sounds:
                self.hardware.sound(max(sounds, key=SOUND_RANK.__getitem__))
        return step

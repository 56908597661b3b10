"""What the patient does: the lid's reed switch and the help button, debounced in our own code
(gpiozero's MockPin ignores bounce_time) with an injectable clock and timer so it can be tested."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from ..engine.model import HardwareConfig
from .factory import close_devices, is_mock, opening

log = logging.getLogger("device.hardware")

CallLater = Callable[[float, Callable[[], None]], Any]


def start_timer(delay: float, fn: Callable[[], None]) -> threading.Timer:
    """Run `fn` once after `delay` seconds, on a daemon thread."""
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.start()
    return timer


class Debouncer:
    """Leading-edge debounce: a change is taken at once, chatter inside the lockout is ignored, and
    the pin is read again when the lockout ends so that the final state is never lost."""

    def __init__(
        self,
        read: Callable[[], bool],
        on_change: Callable[[bool], None],
        seconds: float,
        clock: Callable[[], float],
        call_later: CallLater,
    ) -> None:
        self.read, self.on_change, self.seconds = read, on_change, seconds
        self.clock, self.call_later = clock, call_later
        self.state = read()
        self._accepted_at = float("-inf")
        self._resync_pending = False
        self._lock = threading.Lock()

    def edge(self) -> None:
        with self._lock:
            now = self.clock()
            if now - self._accepted_at < self.seconds:
                if not self._resync_pending:
                    self._resync_pending = True
                    self.call_later(self._accepted_at + self.seconds - now, self._resync)
                return
            changed = self._take(now)
        if changed is not None:
            self.on_change(changed)

    def _resync(self) -> None:
        with self._lock:
            self._resync_pending = False
            try:
                changed = self._take(self.clock())
            except Exception:  # the pin was closed meanwhile (shutdown): nothing left to report
                log.debug("debounce re-read failed", exc_info=True)
                return
        if changed is not None:
            self.on_change(changed)

    def _take(self, now: float) -> bool | None:
        state = self.read()
        if state == self.state:
            return None
        self.state, self._accepted_at = state, now
        return state


class ButtonLogic:
    """A short press is reported on release; a hold of `hold_seconds` as help, once."""

    def __init__(
        self, hold_seconds: float, call_later: CallLater, on_press: Callable[[], None], on_hold: Callable[[], None]
    ) -> None:
        self.hold_seconds, self.call_later = hold_seconds, call_later
        self.on_press, self.on_hold = on_press, on_hold
        self._token: object | None = None
        self._held = False

    def change(self, pressed: bool) -> None:
        if pressed:
            token = self._token = object()
            self._held = False
            self.call_later(self.hold_seconds, lambda: self._check_hold(token))
        elif self._token is not None:
            self._token = None
            if not self._held:
                self.on_press()

    def _check_hold(self, token: object) -> None:
        if self._token is token and not self._held:
            self._held = True
            self.on_hold()


class InputListener(Protocol):
    """Who hears of the lid and the button (the Hardware, for the daemon); read at each input."""

    on_lid: Callable[[bool], None]
    on_press: Callable[[], None]
    on_hold: Callable[[], None]


class Inputs:
    """The lid and the button, reported to a listener on gpiozero's threads; an error in the
    listener is logged there, never raised into gpiozero."""

    def __init__(
        self,
        config: HardwareConfig,
        factory: Factory,
        listener: InputListener,
        *,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = start_timer,
    ) -> None:
        self.listener = listener
        with opening() as keep:
            # Reed switch: a closed lid pulls the pin low, so "active" (low) means closed.
            self.lid = keep(DigitalInputDevice(config.lid, pull_up=True, pin_factory=factory))
            if is_mock(factory):
                factory.pin(config.lid).drive_low()  # the virtual dispenser starts with its lid closed
            self.button = keep(DigitalInputDevice(config.button, pull_up=True, pin_factory=factory))
        seconds = config.debounce_ms / 1000
        self._lid = Debouncer(lambda: not self.lid.is_active, self._lid_changed, seconds, clock, call_later)
        self._button_logic = ButtonLogic(config.help_hold_seconds, call_later, self._pressed, self._held)
        self._button = Debouncer(lambda: self.button.is_active, self._button_logic.change, seconds, clock, call_later)
        for device, debouncer in ((self.lid, self._lid), (self.button, self._button)):
            device.when_activated = debouncer.edge
            device.when_deactivated = debouncer.edge

    @property
    def lid_open(self) -> bool:
        return self._lid.state

    def _lid_changed(self, opened: bool) -> None:
        self._guard(self.listener.on_lid, opened)

    def _pressed(self) -> None:
        self._guard(self.listener.on_press)

    def _held(self) -> None:
        self._guard(self.listener.on_hold)

    @staticmethod
    def _guard(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("error handling a dispenser input")

    def close(self) -> None:
        close_devices([self.lid, self.button])

"""The dispenser's pins through gpiozero: LEDs, buzzer, lid reed switch and button.

The only module that imports gpiozero. It offers intent-level calls (`show`, `sound`, `progress`)
and reports the patient's inputs through callbacks, debounced in our own code (gpiozero's MockPin
ignores bounce_time) with an injectable clock and timer so the logic can be tested.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gpiozero import LED, PWMLED, Buzzer, DigitalInputDevice, TonalBuzzer
from gpiozero.pins import Factory

from .engine.model import HardwareConfig
from .engine.prompts import Indication, Led, Sound
from .errors import PillboxError

log = logging.getLogger(__name__)

CallLater = Callable[[float, Callable[[], None]], Any]

# (on seconds, off seconds) per pulse; IEC 60601-1-8 style: high = a burst of 10, medium = 3, low = 2.
PATTERNS: dict[Sound, list[tuple[float, float]]] = {
    Sound.LOW: [(0.25, 0.25)] * 2,
    Sound.MEDIUM: [(0.2, 0.15)] * 3,
    Sound.HIGH: [(0.1, 0.08)] * 5 + [(0.1, 0.4)] + [(0.1, 0.08)] * 4,
    Sound.BEEP: [(0.08, 0.0)],
}
MOCK_ACTIONS = ("lid_open", "lid_close", "press", "hold")
TONES = {Sound.LOW: 440.0, Sound.MEDIUM: 523.0, Sound.HIGH: 880.0, Sound.BEEP: 660.0}


class HardwareError(PillboxError, RuntimeError):
    """The GPIO pins cannot be used (no GPIO, no permission, unknown pin factory)."""


def make_factory(name: str) -> Factory:
    """The gpiozero pin factory for `hardware.pin_factory` (or `mock`)."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    if name == "auto" and not glob.glob("/dev/gpiochip*"):
        raise HardwareError(
            "this machine has no GPIO (no /dev/gpiochip*): run `pillbox run --mock-hardware`, "
            'or set pin_factory = "mock" in [hardware]'
        )
    order = ["lgpio", "rpigpio", "pigpio"] if name == "auto" else [name]
    problems = []
    for candidate in order:
        try:
            if candidate == "lgpio":
                from gpiozero.pins.lgpio import LGPIOFactory

                return LGPIOFactory()
            if candidate == "rpigpio":
                from gpiozero.pins.rpigpio import RPiGPIOFactory

                return RPiGPIOFactory()
            if candidate == "pigpio":
                from gpiozero.pins.pigpio import PiGPIOFactory

                return PiGPIOFactory()
        except Exception as exc:  # each factory fails in its own way (ImportError, OSError, ...)
            problems.append(f"{candidate}: {exc}")
    raise HardwareError(f"no GPIO pin factory could be used ({'; '.join(problems)})")


def _timer(delay: float, fn: Callable[[], None]) -> threading.Timer:
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


class Hardware:
    """The dispenser's LEDs, buzzer, lid and button."""

    def __init__(
        self,
        config: HardwareConfig,
        factory: Factory,
        *,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = _timer,
    ) -> None:
        self.config = config
        self.factory = factory
        self.is_mock = type(factory).__name__ == "MockFactory"
        self.on_lid: Callable[[bool], None] = lambda opened: None
        self.on_press: Callable[[], None] = lambda: None
        self.on_hold: Callable[[], None] = lambda: None
        kw = {"pin_factory": factory}
        try:
            self.due_led = PWMLED(config.due_led, **kw)
            self.alert_led = LED(config.alert_led, **kw)
            self.buzzer: Buzzer | TonalBuzzer = (
                TonalBuzzer(config.buzzer, **kw) if config.buzzer_type == "tonal" else Buzzer(config.buzzer, **kw)
            )
            # Reed switch: a closed lid pulls the pin low, so "active" (low) means closed.
            self.lid = DigitalInputDevice(config.lid, pull_up=True, **kw)
            if self.is_mock:
                factory.pin(config.lid).drive_low()  # the virtual dispenser starts with its lid closed
            self.button = DigitalInputDevice(config.button, pull_up=True, **kw)
        except Exception as exc:
            self.close()
            raise HardwareError(f"cannot use the GPIO pins: {exc}") from exc
        seconds = config.debounce_ms / 1000
        self._lid = Debouncer(lambda: not self.lid.is_active, self._lid_changed, seconds, clock, call_later)
        self._button_logic = ButtonLogic(config.help_hold_seconds, call_later, self._pressed, self._held)
        self._button = Debouncer(lambda: self.button.is_active, self._button_logic.change, seconds, clock, call_later)
        for device, debouncer in ((self.lid, self._lid), (self.button, self._button)):
            device.when_activated = debouncer.edge
            device.when_deactivated = debouncer.edge
        self.indication = Indication(Led.OFF, Led.OFF)
        self.last_sound: Sound | None = None
        self.sounds_played = 0
        self._stop = threading.Event()
        self._player: threading.Thread | None = None
        self._sound_lock = threading.Lock()

    # ------------------------------------------------------------------------------ inputs

    @property
    def lid_open(self) -> bool:
        return self._lid.state

    def _lid_changed(self, opened: bool) -> None:
        self._guard(self.on_lid, opened)

    def _pressed(self) -> None:
        self._guard(self.on_press)

    def _held(self) -> None:
        self._guard(self.on_hold)

    @staticmethod
    def _guard(fn: Callable[..., None], *args: Any) -> None:
        """Callbacks run on gpiozero's threads: never let an error escape into them."""
        try:
            fn(*args)
        except Exception:
            log.exception("error handling a dispenser input")

    # ----------------------------------------------------------------------------- outputs

    def show(self, indication: Indication) -> None:
        if indication.due_led != self.indication.due_led:
            if indication.due_led is Led.PULSE:
                self.due_led.pulse(fade_in_time=1, fade_out_time=1)
            else:
                self.due_led.off()
        if indication.alert_led != self.indication.alert_led:
            mode = indication.alert_led
            if mode is Led.STEADY:
                self.alert_led.on()
            elif mode is Led.MEDIUM:
                self.alert_led.blink(on_time=1, off_time=1)  # 0.5 Hz
            elif mode is Led.HIGH:
                self.alert_led.blink(on_time=0.25, off_time=0.25)  # 2 Hz
            else:
                self.alert_led.off()
        self.indication = indication

    def sound(self, sound: Sound) -> None:
        """Play one pattern in the background, replacing any pattern still playing."""
        with self._sound_lock:
            self._halt()
            self.last_sound = sound
            self.sounds_played += 1
            self._stop = stop = threading.Event()
            self._player = threading.Thread(target=self._play, args=(sound, stop), daemon=True, name="buzzer")
            self._player.start()

    def silence(self) -> None:
        with self._sound_lock:
            self._halt()

    def _halt(self) -> None:
        self._stop.set()
        if self._player is not None and self._player is not threading.current_thread():
            self._player.join(timeout=2)
        self._player = None
        self._buzz(False, Sound.BEEP)

    def _play(self, sound: Sound, stop: threading.Event) -> None:
        try:
            for on, off in PATTERNS[sound]:
                if stop.is_set():
                    break
                self._buzz(True, sound)
                if stop.wait(on):
                    break
                self._buzz(False, sound)
                if off and stop.wait(off):
                    break
        except Exception:
            log.exception("buzzer pattern failed")
        finally:
            self._buzz(False, sound)

    def _buzz(self, on: bool, sound: Sound) -> None:
        if isinstance(self.buzzer, TonalBuzzer):
            if on:
                self.buzzer.play(TONES[sound])
            else:
                self.buzzer.stop()
        elif on:
            self.buzzer.on()
        else:
            self.buzzer.off()

    @property
    def sounding(self) -> bool:
        return self._player is not None and self._player.is_alive()

    def progress(self, taken_today: int) -> None:
        """Blink the due LED once per dose taken today (only while it is not pulsing)."""
        if self.indication.due_led is Led.OFF and taken_today > 0:
            self.due_led.blink(on_time=0.3, off_time=0.4, n=taken_today)

    def snapshot(self) -> dict[str, Any]:
        return {
            "due_led": str(self.indication.due_led),
            "alert_led": str(self.indication.alert_led),
            "buzzer": self.sounding,
            "last_sound": str(self.last_sound) if self.last_sound else None,
            "lid": "open" if self.lid_open else "closed",
        }

    # ------------------------------------------------------------------------ mock controls

    def _mock_pin(self, number: int) -> Any:
        if not self.is_mock:
            raise HardwareError("the virtual dispenser exists only on mock hardware")
        return self.factory.pin(number)

    def mock_lid(self, opened: bool) -> None:
        pin = self._mock_pin(self.config.lid)
        pin.drive_high() if opened else pin.drive_low()

    def mock_button(self, pressed: bool) -> None:
        pin = self._mock_pin(self.config.button)
        pin.drive_low() if pressed else pin.drive_high()

    def mock(self, action: str) -> None:
        """One of MOCK_ACTIONS on the virtual dispenser; a hold keeps the button down for
        help_hold_seconds and releases it in the background."""
        if action == "lid_open":
            self.mock_lid(True)
        elif action == "lid_close":
            self.mock_lid(False)
        elif action == "press":
            self.mock_button(True)
            self.mock_button(False)
        elif action == "hold":
            self.mock_button(True)
            _timer(self.config.help_hold_seconds + 0.2, lambda: self.mock_button(False))
        else:
            raise ValueError(f"action: must be one of {', '.join(MOCK_ACTIONS)}, not {action!r}")

    # ------------------------------------------------------------------------------ closing

    def close(self) -> None:
        """Everything off and the pins released."""
        with contextlib.suppress(Exception):
            self.silence()
        for name in ("due_led", "alert_led", "buzzer", "lid", "button"):
            device = getattr(self, name, None)
            if device is not None:
                try:
                    if hasattr(device, "off"):
                        device.off()
                    device.close()
                except Exception:
                    log.debug("closing %s failed", name, exc_info=True)

"""What the patient sees and hears: the due LED, the alert LED and the buzzer's patterns."""

from __future__ import annotations

import contextlib
import logging
import threading

from gpiozero import LED, PWMLED, Buzzer, TonalBuzzer
from gpiozero.pins import Factory

from ..engine.model import HardwareConfig
from ..engine.prompts import Indication, Led, Sound
from .factory import close_devices, opening

log = logging.getLogger("device.hardware")

# (on seconds, off seconds) per pulse; IEC 60601-1-8 style: high = a burst of 10, medium = 3, low = 2.
PATTERNS: dict[Sound, list[tuple[float, float]]] = {
    Sound.LOW: [(0.25, 0.25)] * 2,
    Sound.MEDIUM: [(0.2, 0.15)] * 3,
    Sound.HIGH: [(0.1, 0.08)] * 5 + [(0.1, 0.4)] + [(0.1, 0.08)] * 4,
    Sound.BEEP: [(0.08, 0.0)],
}
TONES = {Sound.LOW: 440.0, Sound.MEDIUM: 523.0, Sound.HIGH: 880.0, Sound.BEEP: 660.0}


class Outputs:
    """The two LEDs and the buzzer (active or tonal), driven by intent: an Indication, a Sound."""

    def __init__(self, config: HardwareConfig, factory: Factory) -> None:
        with opening() as keep:
            self.due_led = keep(PWMLED(config.due_led, pin_factory=factory))
            self.alert_led = keep(LED(config.alert_led, pin_factory=factory))
            self.buzzer: Buzzer | TonalBuzzer = keep(
                TonalBuzzer(config.buzzer, pin_factory=factory)
                if config.buzzer_type == "tonal"
                else Buzzer(config.buzzer, pin_factory=factory)
            )
        self.indication = Indication(Led.OFF, Led.OFF)
        self.last_sound: Sound | None = None
        self.sounds_played = 0
        self._stop = threading.Event()
        self._player: threading.Thread | None = None
        self._sound_lock = threading.Lock()

    # -------------------------------------------------------------------------------- LEDs

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

    def progress(self, taken_today: int) -> None:
        """Blink the due LED once per dose taken today (only while it is not pulsing)."""
        if self.indication.due_led is Led.OFF and taken_today > 0:
            self.due_led.blink(on_time=0.3, off_time=0.4, n=taken_today)

    # ------------------------------------------------------------------------------ buzzer

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

    @property
    def sounding(self) -> bool:
        return self._player is not None and self._player.is_alive()

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

    def close(self) -> None:
        """Silent, dark, and the pins released."""
        with contextlib.suppress(Exception):
            self.silence()
        close_devices([self.due_led, self.alert_led, self.buzzer])

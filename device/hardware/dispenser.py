"""The dispenser's pins as one object: the outputs and inputs composed, the intent-level calls the
device core uses (`show`, `sound`, `silence`, `progress`, `lid_open`, input callbacks), and the
controls of the virtual dispenser on mock pins."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from gpiozero.pins import Factory

from ..engine.model import HardwareConfig
from ..engine.prompts import Indication, Sound
from ..errors import ActionError
from .factory import HardwareError, is_mock
from .inputs import CallLater, Inputs, start_timer
from .outputs import Outputs

MOCK_ACTIONS = ("lid_open", "lid_close", "press", "hold")


class Hardware:
    """The dispenser's LEDs, buzzer, lid and button."""

    def __init__(
        self,
        config: HardwareConfig,
        factory: Factory,
        *,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = start_timer,
    ) -> None:
        self.config = config
        self.factory = factory
        self.is_mock = is_mock(factory)
        # Set by the daemon; called on gpiozero's threads, where an error is logged, never raised.
        self.on_lid: Callable[[bool], None] = lambda opened: None
        self.on_press: Callable[[], None] = lambda: None
        self.on_hold: Callable[[], None] = lambda: None
        outputs = None
        try:
            outputs = Outputs(config, factory)  # each part closes what it opened if it fails
            self.inputs = Inputs(config, factory, self, clock=clock, call_later=call_later)
        except Exception as exc:
            if outputs is not None:
                outputs.close()
            raise HardwareError(f"cannot use the GPIO pins: {exc}") from exc
        self.outputs = outputs

    # ------------------------------------------------------------------------------ inputs

    @property
    def lid_open(self) -> bool:
        return self.inputs.lid_open

    # ----------------------------------------------------------------------------- outputs

    def show(self, indication: Indication) -> None:
        self.outputs.show(indication)

    def sound(self, sound: Sound) -> None:
        """Play one pattern in the background, replacing any pattern still playing."""
        self.outputs.sound(sound)

    def silence(self) -> None:
        self.outputs.silence()

    def progress(self, taken_today: int) -> None:
        """Blink the due LED once per dose taken today (only while it is not pulsing)."""
        self.outputs.progress(taken_today)

    @property
    def sounding(self) -> bool:
        return self.outputs.sounding

    @property
    def indication(self) -> Indication:
        return self.outputs.indication

    @property
    def last_sound(self) -> Sound | None:
        return self.outputs.last_sound

    @property
    def sounds_played(self) -> int:
        return self.outputs.sounds_played

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
            start_timer(self.config.help_hold_seconds + 0.2, lambda: self.mock_button(False))
        else:
            raise ActionError(f"action: must be one of {', '.join(MOCK_ACTIONS)}, not {action!r}")

    # ------------------------------------------------------------------------------ closing

    def close(self) -> None:
        """Everything off and the pins released."""
        for part in (self.outputs, self.inputs):
            with contextlib.suppress(Exception):
                part.close()

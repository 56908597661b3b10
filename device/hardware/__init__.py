"""The dispenser's pins through gpiozero; the only package that imports gpiozero.

`Hardware` (dispenser.py) composes the outputs (LEDs, buzzer patterns) and the inputs (lid and
button, with our own debounce and hold); factory.py chooses the pin factory, or the mock one.
"""

from .dispenser import MOCK_ACTIONS, Hardware
from .factory import HardwareError, make_factory
from .inputs import ButtonLogic, CallLater, Debouncer
from .outputs import PATTERNS, TONES

__all__ = [
    "MOCK_ACTIONS",
    "PATTERNS",
    "TONES",
    "ButtonLogic",
    "CallLater",
    "Debouncer",
    "Hardware",
    "HardwareError",
    "make_factory",
]

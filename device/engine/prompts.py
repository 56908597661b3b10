"""What the patient sees and hears (SPEC section 6), decided from the engine's state and the time.

Pure: the daemon asks for the indication after every engine step and at `next_wakeup()`, then
tells the hardware. Sound is for the patient and only for what they can act on now.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .events import Event, Priority, opens_alert

MIN = dt.timedelta(minutes=1)
SILENCE_FOR = 10 * MIN
EVERY = {"low": 10 * MIN, "medium": 5 * MIN, "high": 2 * MIN}


class Led(enum.StrEnum):
    OFF = "off"
    STEADY = "steady"
    PULSE = "pulse"  # the due LED, breathing
    MEDIUM = "medium"  # about 0.5 Hz flashing
    HIGH = "high"  # about 2 Hz flashing


class Sound(enum.StrEnum):
    LOW = "low"  # 1-2 pulses
    MEDIUM = "medium"  # 3 pulses
    HIGH = "high"  # a burst of 10 pulses
    BEEP = "beep"  # one short confirmation beep


@dataclass(frozen=True)
class View:
    """The facts the prompts depend on, read from the engine at one moment."""

    due: bool  # a dose is due and untaken
    overdue: bool  # ... and past its late time
    due_in_episode: bool  # ... for a medication whose intake has stopped
    alert_level: Priority | None  # highest unacknowledged alert
    any_alert: bool  # any active alert, acknowledged or not


@dataclass(frozen=True)
class Indication:
    due_led: Led
    alert_led: Led


def in_quiet_hours(now: dt.datetime, quiet: tuple[str, str] | None, tz: ZoneInfo) -> bool:
    if not quiet:
        return False
    local = now.astimezone(tz).strftime("%H:%M")
    start, end = quiet
    return start <= local < end if start < end else local >= start or local < end


class Prompter:
    """Keeps the prompt rhythm: when each pattern sounds, silence, quiet hours."""

    def __init__(self, quiet_hours: tuple[str, str] | None, tz: ZoneInfo) -> None:
        self.quiet_hours = quiet_hours
        self.tz = tz
        self.level: str | None = None  # the prompt level sounding for the due dose
        self.last_prompt: dt.datetime | None = None
        self.silenced_until: dt.datetime | None = None
        self.view = View(False, False, False, None, False)

    def indication(self) -> Indication:
        v = self.view
        if v.due_in_episode or v.alert_level is Priority.HIGH:
            alert = Led.HIGH
        elif v.alert_level is Priority.MEDIUM or v.overdue:
            alert = Led.MEDIUM
        elif v.any_alert:
            alert = Led.STEADY
        else:
            alert = Led.OFF
        return Indication(Led.PULSE if v.due else Led.OFF, alert)

    def _prompt_level(self) -> str | None:
        v = self.view
        if not v.due:
            return None
        if v.due_in_episode:
            return "high"
        return "medium" if v.overdue else "low"

    def update(self, view: View, events: list[Event], now: dt.datetime, wall: dt.datetime | None = None) -> list[Sound]:
        """New facts and the events just recorded; the sounds to play now.

        `now` times the rhythm and the silence and should never step (the daemon passes a monotonic
        time); `wall`, the local wall-clock time, decides quiet hours (default: `now`).
        """
        self.view = view
        sounds: list[Sound] = []
        quiet = in_quiet_hours(wall or now, self.quiet_hours, self.tz)
        for event in events:
            newer_alert = opens_alert(event.event_type, event.priority)
            reminder = bool(event.get("reminder"))
            if newer_alert and event.event_type not in ("dose_overdue",) and not reminder:
                self.silenced_until = None  # a newer alert sounds again
            if event.event_type == "help_requested":
                sounds.append(Sound.BEEP)
            elif quiet or view.due or reminder:  # a high alert bursts once, when raised
                continue
            elif event.priority is Priority.HIGH:
                sounds.append(Sound.HIGH)
            elif event.event_type == "lid_left_open":
                sounds.append(Sound.LOW)
        level = self._prompt_level()
        if level is None:
            self.level = self.last_prompt = None
        elif level != self.level:
            self.level, self.last_prompt = level, None
        if self.level is not None and self._silenced(now) is False:
            due_at = self.last_prompt + EVERY[self.level] if self.last_prompt else now
            if due_at <= now:
                sounds.append(Sound(self.level))
                self.last_prompt = now
        elif self.level is not None and self.last_prompt is None:
            self.last_prompt = now  # silenced at the start: count the rhythm from now
        if self._silenced(now):
            sounds = [s for s in sounds if s is Sound.BEEP]
        return sounds

    def _silenced(self, now: dt.datetime) -> bool:
        return self.silenced_until is not None and now < self.silenced_until

    def silence(self, now: dt.datetime) -> None:
        self.silenced_until = now + SILENCE_FOR

    def next_wakeup(self) -> dt.datetime | None:
        if self.level is None:
            return None
        nxt = self.last_prompt + EVERY[self.level] if self.last_prompt else None
        if self.silenced_until is not None and (nxt is None or nxt < self.silenced_until):
            nxt = self.silenced_until
        return nxt

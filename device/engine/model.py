"""The validated configuration as typed records; the engine reads nothing else."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


def slugify(name: str) -> str:
    """Medication slug for dose ids: lower case, runs of non-alphanumerics to one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def to_ug(mg: float) -> int:
    """Milligrams as whole micrograms, so plan arithmetic never meets float rounding."""
    return round(mg * 1000)


@dataclass(frozen=True)
class Phase:
    """From local midnight of `start`, `dose_mg` at each slot in `times` on the listed `days`."""

    start: dt.date
    times: tuple[str, ...]  # "HH:MM" local slots, sorted, as written in the config
    dose_mg: float
    days: frozenset[int] | None = None  # weekday numbers, Monday=0; None: every day
    prescriber_confirmed: bool = False
    index: int = 0  # position in the config file, for messages (medication[0].plan[index])

    @property
    def ends_plan(self) -> bool:
        return self.dose_mg == 0 or not self.times

    @property
    def daily_ug(self) -> int:
        """Micrograms on one dose day (what max_daily_mg limits)."""
        return 0 if self.ends_plan else to_ug(self.dose_mg) * len(self.times)

    @property
    def weekly_ug(self) -> int:
        """Micrograms a week: the exact form of the phase's daily dose (SPEC 5: week's mg / 7)."""
        return self.daily_ug * (7 if self.days is None else len(self.days))


def daily_mg(weekly_ug: int) -> float:
    """A phase's daily dose in mg as printed and sent: the week's dose / 7, to 0.1 mg (to 0.001 mg
    below 1 mg, so that a vitamin's 0.025 mg is not shown as 0)."""
    value = weekly_ug / 7000
    return round(value, 1) if value >= 1 else round(value, 3)


@dataclass(frozen=True)
class Medication:
    name: str
    strength_mg: float
    plan: tuple[Phase, ...]  # sorted by start
    stock: float | None = None
    refill_warning_days: float = 7
    with_food: bool = False
    taper_required: bool = True
    max_daily_mg: float | None = None
    early_minutes: int = 60
    late_after_minutes: int = 60
    missed_after_minutes: int = 120
    cessation_missed_doses: int = 2
    cessation_hours: float = 24
    reduction_ratio: float = 0.7
    interactions: tuple[str, ...] = ()
    notes: str | None = None
    storage: str | None = None
    index: int = 0

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def tablets(self, dose_mg: float) -> float:
        """Tablets for a dose; whole or half (validated)."""
        return round(dose_mg * 2000) // round(self.strength_mg * 1000) / 2  # half-micrograms: 0.0625 of 0.125


@dataclass(frozen=True)
class DeviceConfig:
    id: str = "pillbox"
    name: str = "Pillbox"
    timezone: str = "UTC"
    state_dir: str = "/var/lib/pillbox"
    clock_sync_wait_minutes: float = 10

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class HardwareConfig:
    pin_factory: str = "auto"
    due_led: int = 17
    alert_led: int = 27
    buzzer: int = 22
    buzzer_type: str = "active"
    lid: int = 23
    button: int = 24
    help_hold_seconds: float = 3
    debounce_ms: int = 50
    quiet_hours: tuple[str, str] | None = ("22:00", "07:00")


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    base_topic: str = "pillbox"
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class WebConfig:
    host: str = "0.0.0.0"
    port: int = 8080


@dataclass(frozen=True)
class Config:
    medications: tuple[Medication, ...]
    device: DeviceConfig = field(default_factory=DeviceConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    web: WebConfig = field(default_factory=WebConfig)
    path: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return self.device.tz

    def medication(self, name_or_slug: str) -> Medication:
        for med in self.medications:
            if name_or_slug in (med.name, med.slug):
                return med
        raise KeyError(name_or_slug)

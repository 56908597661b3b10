"""The exceptions Pillbox raises; each names the object and the value at fault."""

from __future__ import annotations


class PillboxError(Exception):
    """Base of every error Pillbox raises on purpose."""


class ConfigError(PillboxError, ValueError):
    """The configuration file is unusable; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ScenarioError(ConfigError):
    """A simulation scenario file is unusable."""


class ActionError(PillboxError, ValueError):
    """A caregiver or hub action cannot be carried out (unknown dose, bad value)."""

    status = 400


class NotFound(ActionError, LookupError):
    """The dose, alert or medication named does not exist."""

    status = 404


class Conflict(ActionError):
    """The action does not fit the current state (e.g. skipping a dose already taken)."""

    status = 409

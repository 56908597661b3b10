"""The device core on a virtual clock: `simulate` and the test rigs move time, the core acts at
every instant it asks for. The daemon is the other driver, on the wall clock (device/daemon.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .core import DeviceCore, Step

GUARD = 1_000_000


def wake_until(
    to: dt.datetime,
    next_wakeup: Callable[[], dt.datetime | None],
    wake_at: Callable[[dt.datetime], None],
) -> None:
    """Call `wake_at(t)` at every instant `next_wakeup()` names, in order, up to and including `to`."""
    for _ in range(GUARD):
        wake = next_wakeup()
        if wake is None or wake > to:
            return
        wake_at(wake)
    raise RuntimeError(f"no progress waking up to {to.isoformat()}")


class VirtualDriver:
    """Moves a virtual clock forward; the steady clock is the same clock (a virtual one never steps)."""

    def __init__(self, core: DeviceCore, now: dt.datetime) -> None:
        self.core = core
        self.now = now

    def start(self, *, synced: bool = True) -> Step:
        return self.core.start(self.now, self.now, synced=synced)

    def advance(self, to: dt.datetime, *, settle: bool = True) -> Step:
        """Act at every instant up to `to`; with `settle`, also at `to` itself (commands catch up anyway)."""
        step = Step()

        def tick(t: dt.datetime) -> None:
            nonlocal step
            self.now = max(self.now, t)
            step += self.core.tick(self.now, self.now)

        wake_until(to, lambda: self.core.next_wakeup(self.now, self.now), tick)
        if settle and self.now < to:
            tick(to)
        self.now = max(self.now, to)
        return step

    # The patient's inputs and a caregiver's commands, at the driver's `now`.

    def lid(self, opened: bool) -> Step:
        return self.core.lid(opened, self.now, self.now)

    def press(self) -> Step:
        return self.core.press(self.now, self.now)

    def hold(self) -> Step:
        return self.core.hold(self.now, self.now)

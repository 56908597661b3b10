"""The system clock: is it synchronised (most Pis have no real-time clock), and did it step?"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import os
import time
from collections.abc import Callable

TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"
STEP_LIMIT = 120.0  # seconds of wall clock against the monotonic clock that count as a step
STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: modes, then 20 longs/ints we only need for the status word.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


def kernel_synchronised() -> bool | None:
    """The kernel's view (adjtimex, read only); None when it cannot be asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not timex.status & STA_UNSYNC


def clock_synchronised(flag: str = TIMESYNC_FLAG) -> bool:
    """systemd-timesyncd's flag file first, then the kernel's status."""
    if os.path.exists(flag):
        return True
    return bool(kernel_synchronised())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StepWatch:
    """Notices steps of the wall clock against the monotonic clock."""

    def __init__(self, wall: Callable[[], dt.datetime] = utc_now, mono: Callable[[], float] = time.monotonic) -> None:
        self.wall, self.mono = wall, mono
        self.offset = self._offset()

    def _offset(self) -> float:
        return self.wall().timestamp() - self.mono()

    def check(self) -> float:
        """Seconds the wall clock stepped since the last check (0 when under the limit)."""
        offset = self._offset()
        step = offset - self.offset
        self.offset = offset
        return step if abs(step) > STEP_LIMIT else 0.0

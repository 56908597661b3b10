"""The daemon: the device core (device/core.py) on the wall clock, with threads, APScheduler and signals.

Everything that decides is in the core; this module only wakes it. One lock guards the core:
gpiozero's callbacks, the scheduler's thread and the web and MQTT threads all go through it. Nothing
polls: one job sleeps until the next instant the core needs, and one heartbeat (every 15 s) watches
the clock against the monotonic clock and feeds the watchdog.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from .clock import StepWatch, clock_synchronised, utc_now
from .core import DeviceCore, Step
from .engine.engine import Engine
from .engine.events import Event
from .engine.model import Config
from .engine.prompts import Prompter
from .errors import PillboxError
from .hardware import Hardware
from .store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
HEARTBEAT_SECONDS = 15
STEADY_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class DaemonStopped(PillboxError, RuntimeError):
    """The daemon has stopped: no more engine actions."""


class Daemon:
    """Engine + store + hardware on the wall clock."""

    def __init__(
        self,
        config: Config,
        store: Store,
        hardware: Hardware,
        *,
        wall: Callable[[], dt.datetime] = utc_now,
        mono: Callable[[], float] = time.monotonic,
        synchronised: Callable[[], bool] = clock_synchronised,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.hardware = hardware
        self.wall = wall
        self.synchronised = synchronised
        # Sleeping on `done` lets a SIGTERM end the start-up clock wait at once.
        self.sleep: Callable[[float], None] = sleep or self._sleep_until_stopped
        self.mono = mono
        self.steps = StepWatch(wall, mono)
        self.core = DeviceCore(config, store, hardware)
        self.lock = threading.RLock()
        self.listeners: list[Callable[[list[Event]], None]] = []
        self.heartbeat_hooks: list[Callable[[], None]] = []
        self.start_hooks: list[Callable[[], None]] = []  # once the engine has started
        self.stop_hooks: list[Callable[[], None]] = []  # after device_stopped, before the store closes
        self.hub_probes: list[Callable[[], bool]] = []  # is the hub's broker connected?
        self.failure: BaseException | None = None
        self.done = threading.Event()  # a stop was asked for (signal) or a thread failed
        self.closed = False
        self.scheduling = True
        self.heartbeat_seconds: float = HEARTBEAT_SECONDS
        self.scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.scheduler.add_listener(self._job_failed, EVENT_JOB_ERROR)
        hardware.on_lid = self._lid
        hardware.on_press = self._press
        hardware.on_hold = self._hold

    @property
    def engine(self) -> Engine:
        return self.core.engine

    @property
    def prompter(self) -> Prompter:
        return self.core.prompter

    @property
    def clock_synced(self) -> bool:
        return self.core.clock_synced

    # --------------------------------------------------------------------------- lifecycle

    def _sleep_until_stopped(self, seconds: float) -> None:
        self.done.wait(seconds)

    def wait_for_clock(self) -> bool:
        """Wait (bounded) for a synchronised clock before anything is decided from it."""
        limit = self.config.device.clock_sync_wait_minutes * 60
        waited = 0.0
        while not self.synchronised():
            if waited >= limit or self.done.is_set():
                return False
            if waited == 0:
                log.info("waiting up to %.0f s for the clock to be synchronised", limit)
            step = min(5.0, limit - waited)
            self.sleep(step)
            waited += step
        return True

    def start(self, *, schedule: bool = True) -> None:
        """Start the engine (after the bounded clock wait); `schedule=False` leaves waking to the caller."""
        synced = self.wait_for_clock()
        if self.done.is_set():
            return  # asked to stop (SIGTERM) during the wait: nothing was started
        with self.lock:
            step = self.core.start(self.wall(), self._steady(), synced=synced)
            self.steps.check()
            self._after(step)
        for hook in self.start_hooks:
            hook()
        self.scheduling = schedule
        if not schedule:
            return
        self.scheduler.start()
        threading.Thread(target=self._heartbeat_clock, name="heartbeat", daemon=True).start()
        self._reschedule()
        log.info("started: %d medication(s), next wake-up %s", len(self.config.medications), self.next_wakeup())

    def stop(self) -> None:
        """A clean shutdown: device_stopped recorded and passed on, LEDs and buzzer off, store closed."""
        if self.closed:
            return
        self.done.set()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:
            log.debug("scheduler already stopped", exc_info=True)
        with self.lock:
            self.closed = True
            try:
                if self.core.started:
                    self._signal(self.core.stop(self.wall()).events)
            except Exception:
                log.exception("could not record device_stopped")
            finally:
                self.hardware.close()
        for hook in self.stop_hooks:
            try:
                hook()
            except Exception:
                log.exception("error while stopping")
        self.store.close()

    def fail(self, exc: BaseException) -> None:
        """An error in a thread: record it and make the process exit non-zero (systemd restarts it)."""
        if self.failure is None:
            self.failure = exc
        log.critical("fatal error: %r", exc, exc_info=exc)
        self.done.set()

    def _job_failed(self, event: JobExecutionEvent) -> None:
        if self.closed:
            return  # stopping: a job that ran into the closed store is no failure of the daemon
        self.fail(event.exception or RuntimeError(f"job {event.job_id} failed"))

    # ------------------------------------------------------------------------ the clockwork

    def _steady(self) -> dt.datetime:
        """The monotonic clock as a datetime: the prompts' rhythm never jumps with the wall clock."""
        return STEADY_EPOCH + dt.timedelta(seconds=self.mono())

    def next_wakeup(self) -> dt.datetime | None:
        return self.core.next_wakeup(self.wall(), self._steady())

    def _reschedule(self) -> None:
        if self.closed or not self.scheduler.running:
            return
        nxt = self.next_wakeup()
        if nxt is None:
            job = self.scheduler.get_job("wake")
            if job is not None:
                job.remove()
            return
        self.scheduler.add_job(self.wake, DateTrigger(run_date=nxt), id="wake", replace_existing=True)

    def wake(self) -> None:
        """The scheduled instant has come: let the engine and the prompts act."""
        with contextlib.suppress(DaemonStopped):  # a wake-up that lost the race with a clean stop
            self.drive(self.core.tick)

    def _heartbeat_clock(self) -> None:
        """Every `heartbeat_seconds` on the monotonic clock, hand the heartbeat to the scheduler.

        Counting on the monotonic clock keeps the beat regular when the wall clock steps back (an
        interval trigger would wait out the step). Running the beat as a scheduler job means a hung
        scheduler runs no heartbeat, so the watchdog goes unfed.
        """
        while not self.done.wait(self.heartbeat_seconds):
            try:
                self.scheduler.add_job(self.heartbeat, id="heartbeat", replace_existing=True)
            except Exception:
                if not self.closed:
                    log.exception("cannot schedule the heartbeat")

    def heartbeat(self) -> None:
        """Every 15 s: watch the clock (steps, sync) and tell the watchdog we are alive."""
        with self.lock:
            if self.closed or not self.core.started:
                return
            seconds = self.steps.check()
            now, steady = self.wall(), self._steady()
            step = Step()
            if seconds:
                log.warning("wall clock stepped by %.0f s; rebuilding schedules", seconds)
                step += self.core.clock_step(now, seconds, steady)
            if not self.clock_synced and self.synchronised():
                step += self.core.clock_became_synced(now, steady)
            if step.events:
                self._after(step)
            elif seconds:
                self._reschedule()
        for hook in self.heartbeat_hooks:
            hook()

    def drive(self, what: Callable[[dt.datetime, dt.datetime], Step]) -> Step:
        """Run one core call now under the lock; signal its events; reschedule.

        A wall-clock step is noticed first (the scheduler may wake us for an instant the step jumped
        over before the heartbeat runs), so that what the step skipped is handled as downtime.
        """
        with self.lock:
            if self.closed:
                raise DaemonStopped("the daemon is stopped")
            now, steady = self.wall(), self._steady()
            seconds = self.steps.check()
            if seconds:
                log.warning("wall clock stepped by %.0f s; rebuilding schedules", seconds)
                self._after(self.core.clock_step(now, seconds, steady))
            step = what(now, steady)
            self._after(step)
            return step

    def call(self, action: Callable[[Engine, dt.datetime], T]) -> T:
        """Run an engine command (the façade's) through the core; its result as the engine gave it."""
        results: list[T] = []

        def run(engine: Engine, now: dt.datetime) -> T:
            results.append(action(engine, now))
            return results[0]

        self.drive(lambda now, steady: self.core.command(run, now, steady))
        return results[0]

    def _after(self, step: Step) -> None:
        """After the store committed the step's events: listeners, next wake-up."""
        self._signal(step.events)
        self._reschedule()

    def _signal(self, events: list[Event]) -> None:
        for listener in self.listeners:
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed")

    # ------------------------------------------------------------------------ patient inputs

    def _lid(self, opened: bool) -> None:
        if not self.core.started or self.closed:
            return  # before the start the lid's state is read, not its changes
        self.drive(lambda now, steady: self.core.lid(opened, now, steady))

    def _press(self) -> None:
        if not self.core.started or self.closed:
            return
        self.drive(self.core.press)

    def _hold(self) -> None:
        if not self.core.started or self.closed:
            return
        self.drive(self.core.hold)

    def silence(self) -> None:
        """Silence the buzzer for 10 minutes (the hub's `cmd/silence`)."""
        with self.lock:
            self.core.silence(self.wall(), self._steady())
            self._reschedule()

    def healthy(self) -> bool:
        """The scheduler runs and the database answers (for /healthz and the watchdog)."""
        if self.closed or not self.store.ping():
            return False
        if not self.core.started:
            return True  # still waiting (bounded) for a synchronised clock
        return self.scheduler.running or not self.scheduling

    def mqtt_connected(self) -> bool:
        """Whether the hub's broker is connected (False when MQTT is off)."""
        return any(probe() for probe in self.hub_probes)

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"hardware": self.hardware.snapshot(), "next_wakeup": self.next_wakeup()}

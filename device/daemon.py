"""The daemon: APScheduler wakes the engine at the instants it asks for; hardware and inputs wired in.

One lock guards the engine: gpiozero's callbacks, the scheduler's thread and (later) the web and MQTT
threads all go through `call()`. Nothing polls: one job sleeps until the next instant the engine or
the prompts need, and one heartbeat (every 15 s) watches the clock and feeds the watchdog.
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
from .engine.engine import Engine
from .engine.events import Event
from .engine.model import Config
from .engine.prompts import Prompter, Sound
from .hardware import Hardware
from .store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
HEARTBEAT_SECONDS = 15
STEADY_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
SOUND_RANK = {Sound.BEEP: 0, Sound.LOW: 1, Sound.MEDIUM: 2, Sound.HIGH: 3}


class DaemonStopped(RuntimeError):
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
        self.engine = Engine(config, store)
        self.prompter = Prompter(config.hardware.quiet_hours, config.tz)
        self.lock = threading.RLock()
        self.listeners: list[Callable[[list[Event]], None]] = []
        self.heartbeat_hooks: list[Callable[[], None]] = []
        self.start_hooks: list[Callable[[], None]] = []  # once the engine has started
        self.stop_hooks: list[Callable[[], None]] = []  # after device_stopped, before the store closes
        self.hub_probes: list[Callable[[], bool]] = []  # is the hub's broker connected?
        self.clock_synced = False
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
        self.clock_synced = self.wait_for_clock()
        if self.done.is_set():
            return  # asked to stop (SIGTERM) during the wait: nothing was started
        with self.lock:
            now = self.wall()
            events = self.engine.start(now, lid_open=self.hardware.lid_open)
            if self.clock_synced:
                events += self.engine.clock_synced(now)  # resolves an alert left from an earlier start
            else:
                events += self.engine.clock_unsynced(now)
            self.steps.check()
            self._after(events, now)
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
                if self.engine.started:
                    self._signal(self.engine.stop(self.wall()))
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
        times = [self.engine.next_wakeup()]
        prompt = self.prompter.next_wakeup()
        if prompt is not None:
            times.append(self.wall() + (prompt - self._steady()))
        found = [t for t in times if t is not None]
        return min(found) if found else None

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
            self.call(lambda engine, now: engine.tick(now))

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
            if self.closed or not self.engine.started:
                return
            step = self.steps.check()
            now = self.wall()
            events: list[Event] = []
            if step:
                log.warning("wall clock stepped by %.0f s; rebuilding schedules", step)
                events += self.engine.clock_jump(now, step)
            if not self.clock_synced and self.synchronised():
                self.clock_synced = True
                events += self.engine.clock_synced(now)
            if events:
                self._after(events, now)
            elif step:
                self._reschedule()
        for hook in self.heartbeat_hooks:
            hook()

    def call(self, action: Callable[[Engine, dt.datetime], T]) -> T:
        """Run an engine action now under the lock; signal its events; reschedule.

        A wall-clock step is noticed first (the scheduler may wake us for an instant the step jumped
        over before the heartbeat runs), so that what the step skipped is handled as downtime.
        """
        with self.lock:
            if self.closed:
                raise DaemonStopped("the daemon is stopped")
            now = self.wall()
            step = self.steps.check()
            if step:
                log.warning("wall clock stepped by %.0f s; rebuilding schedules", step)
                self._after(self.engine.clock_jump(now, step), now)
            result = action(self.engine, now)
            events = result[-1] if isinstance(result, tuple) else result
            self._after(events if isinstance(events, list) else [], now)
            return result

    def _after(self, events: list[Event], now: dt.datetime) -> None:
        """After the store committed `events`: lights, sound, listeners, next wake-up."""
        sounds = self.prompter.update(self.engine.view(now), events, self._steady(), wall=now)
        self.hardware.show(self.prompter.indication())
        if sounds:
            self.hardware.sound(max(sounds, key=SOUND_RANK.__getitem__))
        self._signal(events)
        self._reschedule()

    def _signal(self, events: list[Event]) -> None:
        for listener in self.listeners:
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed")

    # ------------------------------------------------------------------------ patient inputs

    def _lid(self, opened: bool) -> None:
        if not self.engine.started or self.closed:
            return  # before the start the lid's state is read, not its changes
        if opened:
            self.call(lambda engine, now: engine.lid_opened(now))
        else:
            self.call(lambda engine, now: engine.lid_closed(now))

    def _press(self) -> None:
        if not self.engine.started or self.closed:
            return

        def press(engine: Engine, now: dt.datetime) -> list[Event]:
            intake, events = engine.press(now)
            if not intake:
                sounding = self.hardware.sounding or self.prompter.level is not None
                self.prompter.silence(self._steady())
                self.hardware.silence()
                if not sounding:
                    self.hardware.progress(engine.taken_today(now))
            return events

        self.call(press)

    def _hold(self) -> None:
        if not self.engine.started or self.closed:
            return
        self.call(lambda engine, now: engine.hold(now))

    def silence(self) -> None:
        """Silence the buzzer for 10 minutes (the hub's `cmd/silence`)."""
        with self.lock:
            self.prompter.silence(self._steady())
            self.hardware.silence()
            self._reschedule()

    def healthy(self) -> bool:
        """The scheduler runs and the database answers (for /healthz and the watchdog)."""
        if self.closed or not self.store.ping():
            return False
        if not self.engine.started:
            return True  # still waiting (bounded) for a synchronised clock
        return self.scheduler.running or not self.scheduling

    def mqtt_connected(self) -> bool:
        """Whether the hub's broker is connected (False when MQTT is off)."""
        return any(probe() for probe in self.hub_probes)

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"hardware": self.hardware.snapshot(), "next_wakeup": self.next_wakeup()}

"""systemd's notify protocol, spoken directly over `$NOTIFY_SOCKET`, and the watchdog it feeds.

`Type=notify` units learn that the daemon is up from `READY=1`, and with `WatchdogSec=` they expect
`WATCHDOG=1` regularly or restart the service. Pillbox sends `WATCHDOG=1` only from the daemon's
15-second heartbeat and only while every health probe passes: a hung scheduler thread runs no
heartbeat, so the pings stop and systemd restarts the service. Nothing here polls on its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger(__name__)
Probe = Callable[[], bool]


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send one sd_notify datagram (e.g. "READY=1"); False when there is no socket or it fails."""
    address = environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]  # Linux abstract namespace
    elif not address.startswith("/"):
        return False  # not under systemd (or a transport we do not speak, such as vsock)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def watchdog_seconds(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """The watchdog interval systemd asks of this process (`WatchdogSec=`), or None."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """READY=1 once started, WATCHDOG=1 on each healthy heartbeat, STATUS= when health changes."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        environ: Mapping[str, str] = os.environ,
        send: Callable[[str, Mapping[str, str]], bool] = notify,
    ) -> None:
        self.probes = dict(probes)
        self.environ = environ
        self.send = send
        self.ready_sent = False
        self.status = ""
        self._lock = threading.Lock()

    def _say(self, *lines: str) -> None:
        self.send("\n".join(lines), self.environ)

    def failing(self) -> list[str]:
        """Names of the probes that fail now (a probe that raises fails)."""
        bad = []
        for name, probe in self.probes.items():
            try:
                healthy = probe()
            except Exception:
                log.debug("health probe %r raised", name, exc_info=True)
                healthy = False
            if not healthy:
                bad.append(name)
        return bad

    def ready(self) -> None:
        """The daemon has started: tell systemd once."""
        with self._lock:
            if self.ready_sent:
                return
            self.ready_sent = True
            self.status = "Running."
            self._say("READY=1", f"STATUS={self.status}")

    def beat(self) -> None:
        """From the heartbeat: WATCHDOG=1 if every probe passes, else say what is wrong and stay silent."""
        bad = self.failing()
        with self._lock:
            status = "Running." if not bad else f"Unhealthy ({', '.join(bad)}): watchdog not fed."
            lines = [] if bad else ["WATCHDOG=1"]
            if status != self.status:
                if bad:
                    log.error("health check failed: %s; systemd's watchdog will restart the service", ", ".join(bad))
                else:
                    log.info("healthy again")
                self.status = status
                lines.append(f"STATUS={status}")
            if lines:
                self._say(*lines)

    def stopping(self) -> None:
        """The daemon is shutting down cleanly: tell systemd before the slow goodbyes."""
        with self._lock:
            self.status = "Stopping."
            self._say("STOPPING=1", f"STATUS={self.status}")


def daemon_probes(daemon: Daemon, mqtt_loop_alive: Probe | None = None) -> dict[str, Probe]:
    """The health probes of a running daemon: scheduler, database and (when enabled) the MQTT loop."""

    def scheduler() -> bool:
        sched = daemon.scheduler
        thread = getattr(sched, "_thread", None)  # BackgroundScheduler's own thread
        alive = thread is not None and thread.is_alive()
        return bool(sched.running and alive)

    probes: dict[str, Probe] = {"scheduler": scheduler, "database": daemon.store.ping}  # SELECT 1
    if mqtt_loop_alive is not None:
        probes["MQTT loop"] = mqtt_loop_alive
    return probes


def watch(daemon: Daemon, mqtt_loop_alive: Probe | None, environ: Mapping[str, str]) -> Watchdog:
    """Create the watchdog for `daemon` and hook it into its start, heartbeat and stop."""
    from .daemon import HEARTBEAT_SECONDS

    interval = watchdog_seconds(environ)
    if interval is not None and interval < 2 * HEARTBEAT_SECONDS:
        log.warning(
            "WatchdogSec=%gs is shorter than two heartbeats (%d s): expect needless restarts",
            interval,
            2 * HEARTBEAT_SECONDS,
        )
    dog = Watchdog(daemon_probes(daemon, mqtt_loop_alive), environ=environ)
    daemon.start_hooks.append(dog.ready)
    daemon.heartbeat_hooks.append(dog.beat)
    daemon.stop_hooks.insert(0, dog.stopping)  # before the MQTT bridge's goodbye, which may take seconds
    return dog

"""`pillbox run`: build the daemon from the config, run it until SIGTERM/SIGINT or a fatal error."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, TextIO

from .daemon import Daemon
from .engine.model import Config
from .hardware import MOCK_ACTIONS, Hardware, HardwareError, make_factory
from .store import Store, StoreError

log = logging.getLogger("pillbox")


def database_path(config: Config) -> str:
    return os.path.join(config.device.state_dir, "pillbox.db")


def start_web(config: Config, daemon: Daemon, port: int | None = None) -> Any:
    """The page and the API, served by waitress on its own threads inside this process."""
    from waitress import create_server

    from web import create_app

    app = create_app(config, daemon)
    try:
        server = create_server(
            app, host=config.web.host, port=config.web.port if port is None else port, threads=4, ident="Pillbox"
        )
    except OSError as exc:
        raise WebError(f"cannot serve the page on {config.web.host}:{config.web.port}: {exc.strerror or exc}") from exc
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    daemon.stop_hooks.insert(0, server.close)
    daemon.web_port = server.effective_port  # type: ignore[attr-defined]
    log.info("the page is on http://%s:%s/", config.web.host, server.effective_port)
    return server


class WebError(StoreError):
    """The web server cannot start (the port is taken, say)."""


def build(config: Config, *, mock: bool, web: bool = True, environ: Mapping[str, str] = os.environ) -> Daemon:
    """The daemon on the configured (or mock) pins; raises HardwareError or StoreError."""
    factory = make_factory("mock" if mock else config.hardware.pin_factory)
    try:
        store = Store(database_path(config), outbox=config.mqtt.enabled)
    except (OSError, Exception) as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"cannot open the database {database_path(config)}: {exc}") from exc
    try:
        hardware = Hardware(config.hardware, factory)
    except Exception:
        store.close()
        raise
    daemon = Daemon(config, store, hardware)
    mqtt_loop_alive: Callable[[], bool] | None = None
    if web:
        start_web(config, daemon)
    if config.mqtt.enabled:
        from .mqtt import MqttBridge

        bridge = MqttBridge(config, daemon)
        daemon.start_hooks.append(bridge.start)
        daemon.stop_hooks.append(bridge.stop)
        mqtt_loop_alive = bridge.loop_alive
    if environ.get("NOTIFY_SOCKET"):  # under systemd (Type=notify): READY=1, the watchdog, STOPPING=1
        from .sdnotify import watch

        watch(daemon, mqtt_loop_alive, environ)
    return daemon


def mock_console(daemon: Daemon, stream: TextIO) -> None:
    """On mock hardware, lines on standard input act on the virtual dispenser."""
    for line in stream:
        command = line.strip()
        if not command:
            continue
        try:
            daemon.hardware.mock(command)
        except ValueError as exc:
            log.warning("unknown mock command: %s", exc)
        except Exception:
            log.exception("mock command %r failed", command)


def serve(daemon: Daemon, after_start: Callable[[], None] = lambda: None) -> int:
    """Run until a signal or a fatal error; exit status 0 for a clean stop, 1 after an error."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        daemon.done.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    old_hook = threading.excepthook
    threading.excepthook = lambda args: daemon.fail(args.exc_value or RuntimeError("thread failed"))
    try:
        daemon.start()
        after_start()
        daemon.done.wait()
    except Exception as exc:
        daemon.fail(exc)
    finally:
        threading.excepthook = old_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            daemon.stop()
        except Exception:
            log.exception("error during shutdown")
    return 1 if daemon.failure is not None else 0


def run(config: Config, *, mock: bool) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        daemon = build(config, mock=mock)
    except (HardwareError, StoreError) as exc:
        print(f"pillbox: {exc}", file=sys.stderr)
        return 2

    def console() -> None:
        if daemon.hardware.is_mock:
            log.info("mock hardware: type %s on standard input to act on the dispenser", ", ".join(MOCK_ACTIONS))
            threading.Thread(target=mock_console, args=(daemon, sys.stdin), daemon=True, name="mock-console").start()

    return serve(daemon, console)

"""`pillbox user`, `pillbox token`, `pillbox report` and `pillbox demo`: commands around the daemon."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import io
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from .accounts import Accounts
from .engine.model import Config
from .errors import ActionError
from .formats import adherence
from .service import database_path
from .store import Store

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _store(config: Config) -> Store:
    return Store(database_path(config))


def read_password(stdin: TextIO, *, confirm: bool) -> str:
    """From a prompt on a terminal (asked twice for a new one), else the first line of standard input."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise ActionError("password: the two entries differ.")
        return first
    return stdin.readline().rstrip("\r\n")


def user_command(config: Config, action: str, name: str | None, stdin: TextIO = sys.stdin) -> int:
    store = _store(config)
    accounts = Accounts(store)
    try:
        if action == "list":
            for user in accounts.names():
                print(user)
            return EXIT_OK
        assert name is not None
        if action == "add":
            accounts.add(name, read_password(stdin, confirm=True))
            print(f"Caregiver {name} added.", file=sys.stderr)
        elif action == "passwd":
            accounts.set_password(name, read_password(stdin, confirm=True))
            print(f"Password of {name} changed.", file=sys.stderr)
        elif action == "remove":
            accounts.remove(name)
            print(f"Caregiver {name} removed.", file=sys.stderr)
        return EXIT_OK
    except ActionError as exc:
        print(f"pillbox user {action}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        store.close()


def token_command(config: Config, action: str, name: str | None) -> int:
    store = _store(config)
    accounts = Accounts(store)
    try:
        if action == "list":
            for token in accounts.token_names():
                print(f"{token['name']}\tcreated {token['created_at']}")
            return EXIT_OK
        assert name is not None
        if action == "create":
            print(accounts.create_token(name))
        elif action == "revoke":
            accounts.revoke_token(name)
            print(f"Token {name} revoked.", file=sys.stderr)
        return EXIT_OK
    except ActionError as exc:
        print(f"pillbox token {action}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        store.close()


REPORT_COLUMNS = ["date", "medication", "planned", "taken", "late", "missed", "skipped", "away", "adherence_percent"]


def report_rows(store: Store, first: dt.date, last: dt.date) -> list[dict[str, object]]:
    """Per medication and local day: doses planned (with a record) and what became of them."""
    rows, late_rows = store.report_counts(first.isoformat(), last.isoformat())
    table: dict[tuple[str, str], dict[str, int]] = {}
    for day, med, state, count in rows:
        table.setdefault((day, med), {})[state] = count
    late = {(day, med): count for day, med, count in late_rows}
    out: list[dict[str, object]] = []
    for (day, med), counts in sorted(table.items()):
        taken, missed = counts.get("taken", 0), counts.get("missed", 0)
        out.append(
            {
                "date": day,
                "medication": med,
                "planned": sum(counts.values()),
                "taken": taken,
                "late": late.get((day, med), 0),
                "missed": missed,
                "skipped": counts.get("skipped", 0),
                "away": counts.get("away", 0),
                "adherence_percent": "" if (share := adherence(taken, missed)) is None else share,
            }
        )
    return out


def report_command(config: Config, first: str, last: str, as_csv: bool) -> int:
    try:
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        print("pillbox report: --from and --to must be dates like 2026-11-26", file=sys.stderr)
        return EXIT_USAGE
    if end < start:
        print("pillbox report: --to must not be before --from", file=sys.stderr)
        return EXIT_USAGE
    store = _store(config)
    try:
        rows = report_rows(store, start, end)
    finally:
        store.close()
    if as_csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(out.getvalue())
        return EXIT_OK
    print(f"Adherence from {start} to {end} ({config.device.name})")
    print(f"{'date':<11}{'medication':<16}{'planned':>8}{'taken':>7}{'late':>6}{'missed':>8}{'skipped':>9}{'away':>6}"
          f"{'adherence':>11}")  # fmt: skip
    for r in rows:
        pct = f"{r['adherence_percent']}%" if r["adherence_percent"] != "" else "—"
        print(f"{r['date']!s:<11}{r['medication']!s:<16}{r['planned']:>8}{r['taken']:>7}{r['late']:>6}"
              f"{r['missed']:>8}{r['skipped']:>9}{r['away']:>6}{pct:>11}")  # fmt: skip
    if not rows:
        print("No doses recorded in that span.")
    return EXIT_OK


# --------------------------------------------------------------------------------------- demo

DEMO_CONFIG = """\
# The demo: baclofen titration starting now, on a virtual dispenser (mock pins).
[device]
name = "Pillbox demo"
timezone = "{timezone}"
state_dir = "{state}"
clock_sync_wait_minutes = 0

[hardware]
pin_factory = "mock"

[mqtt]
enabled = true
host = "localhost"
port = 1883

[web]
port = {port}

[[medication]]
name = "Baclofen"
strength_mg = 10
stock = 60
refill_warning_days = 7
with_food = true
max_daily_mg = 80
early_minutes = 30
late_after_minutes = 30
missed_after_minutes = 60
interactions = ["acetaminophen", "hydrocodone", "alcohol"]
notes = "Take with food. Do not drive until you know how it affects you."
storage = "Room temperature, away from light and moisture; not in the bathroom."
  [[medication.plan]]
  start = "{today}"
  times = {times}
  dose_mg = 5
  [[medication.plan]]
  start = "{step2}"
  dose_mg = 10
  [[medication.plan]]
  start = "{step3}"
  dose_mg = 15
"""


def demo_config_text(state: str, port: int, now: dt.datetime, zone: str) -> str:
    """A plan whose first dose comes due within two minutes of `now` (local time of `zone`)."""
    first = (now + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    times = sorted({(first + dt.timedelta(hours=h)).strftime("%H:%M") for h in (0, 6, 12)})
    today = first.date()
    return DEMO_CONFIG.format(
        timezone=zone,
        state=state,
        port=port,
        today=(today - dt.timedelta(days=1)).isoformat(),
        times="[" + ", ".join(f'"{t}"' for t in times) + "]",
        step2=(today + dt.timedelta(days=3)).isoformat(),
        step3=(today + dt.timedelta(days=6)).isoformat(),
    )


def broker_answers(host: str = "localhost", port: int = 1883) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def demo_command(port: int = 8080, config_path: str | None = None) -> int:
    from zoneinfo import ZoneInfo

    from .config import parse_config, system_timezone
    from .service import build, serve

    zone = ZoneInfo(system_timezone())
    state = tempfile.mkdtemp(prefix="pillbox-demo-")
    if config_path is None:
        text = demo_config_text(state, port, dt.datetime.now(zone), zone.key)
        path = Path(state) / "pillbox.toml"
        path.write_text(text)
        config = parse_config(text, str(path))
    else:
        # Your own plan, on the virtual dispenser, with a throw-away state directory.
        from dataclasses import replace

        from .config import load_config

        own = load_config(config_path)
        config = replace(
            own,
            device=replace(own.device, state_dir=state, clock_sync_wait_minutes=0),
            hardware=replace(own.hardware, pin_factory="mock"),
            web=replace(own.web, port=port),
        )
    store = Store(database_path(config))
    password = secrets.token_urlsafe(9)
    Accounts(store).add("demo", password)
    store.close()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        daemon = build(config, mock=True)
    except Exception as exc:
        print(f"pillbox demo: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    hub = (
        "MQTT: a broker answers on localhost:1883; events are published there."
        if broker_answers()
        else "MQTT: no broker answers on localhost:1883; events wait in the outbox until one does."
    )
    print(
        "\n".join(
            [
                "",
                "Pillbox demo — the whole daemon on a virtual dispenser.",
                f"  Page:      http://localhost:{port}/   (also on this machine's address)",
                f"  Log in:    demo / {password}",
                "  First dose comes due within two minutes; open the lid on the virtual dispenser to take it.",
                f"  {hub}",
                f"  State:     {state} (throw-away)",
                "  Stop with Ctrl+C.",
                "",
            ]
        ),
        flush=True,
    )
    try:
        return serve(daemon)
    finally:
        shutil.rmtree(state, ignore_errors=True)

"""How long `pillbox simulate` takes for a year of three medications at four slots a day.

Run: python bench/simulate_year.py   (prints seconds, events, and database bytes per simulated day)
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device.config import parse_config
from device.scenario import parse_scenario
from device.simulate import Simulation

MED = """
[[medication]]
name = "{name}"
strength_mg = 10
stock = 2000
taper_required = {taper}
early_minutes = 30
missed_after_minutes = 60
late_after_minutes = 30
  [[medication.plan]]
  start = "2026-01-01"
  times = ["07:00", "11:00", "15:00", "19:00"]
  dose_mg = 10
"""

CONFIG = '[device]\ntimezone = "Europe/London"\n' + "".join(
    MED.format(name=name, taper=taper)
    for name, taper in (("Baclofen", "true"), ("Gabapentin", "true"), ("Vitamin D", "false"))
)

SCENARIO = """
start = "2026-01-01T00:00"
end = "2027-01-01T00:00"
[patient]
takes = "all"
delay_minutes = 7
[[patient.period]]
from = "2026-03-01T00:00"
until = "2026-03-03T00:00"
takes = "none"
[[patient.period]]
from = "2026-06-01T00:00"
until = "2026-06-20T00:00"
takes = "slots"
slots = ["07:00", "19:00"]
[[action]]
at = "2026-09-01T12:00"
do = "power_off"
until = "2026-09-02T12:00"
"""


def floor_seconds(events: list[dict[str, object]]) -> float:
    """The least any simulation must do: each event encoded as JSON and committed, one commit a day."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, event_type TEXT, time TEXT, json TEXT)"
        )
        by_day: dict[str, list[dict[str, object]]] = {}
        for event in events:
            by_day.setdefault(str(event["time"])[:10], []).append(event)
        began = time.perf_counter()
        for day in by_day.values():
            db.execute("BEGIN")
            for event in day:
                db.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                    (event["seq"], event["id"], event["event_type"], event["time"], json.dumps(event)),
                )
            db.execute("COMMIT")
        seconds = time.perf_counter() - began
        db.close()
    return seconds


def main() -> None:
    config = parse_config(CONFIG, "bench.toml")
    scenario = parse_scenario(SCENARIO, "bench-scenario.toml", config.tz)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "sim.db")
        out = io.StringIO()
        began = time.perf_counter()
        summary = Simulation(config, scenario, out, db).run()
        seconds = time.perf_counter() - began
        size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    days = (scenario.end - scenario.start).days
    floor = floor_seconds([json.loads(line) for line in out.getvalue().splitlines()])
    print(f"simulate_year_seconds {seconds:.2f}")
    print(f"floor_seconds {floor:.2f}  (encoding the same events as JSON and committing them day by day)")
    print(f"times_the_floor {seconds / floor:.1f}")
    print(f"simulate_year_events {summary.events}")
    print(f"simulate_year_days {days}")
    print(f"database_bytes_per_simulated_day {size / days:.0f}")


if __name__ == "__main__":
    main()

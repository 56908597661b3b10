"""/api/v1/status and / latency (p50, p95) through waitress, with a year of history in the database
(goal: p95 under 50 ms here).

Run: python bench/web_latency.py [--count 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import io
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device.accounts import Accounts
from device.config import parse_config
from device.daemon import Daemon
from device.hardware import Hardware, make_factory
from device.scenario import parse_scenario
from device.service import start_web
from device.simulate import Simulation
from device.store import Store

CONFIG = """
[device]
timezone = "Europe/London"
state_dir = "{state}"
[web]
host = "127.0.0.1"
[mqtt]
enabled = false
[[medication]]
name = "Baclofen"
strength_mg = 10
stock = 5000
  [[medication.plan]]
  start = "{start}"
  times = ["08:00", "14:00", "20:00"]
  dose_mg = 10
[[medication]]
name = "Vitamin D"
strength_mg = 1
taper_required = false
  [[medication.plan]]
  start = "{start}"
  times = ["09:00"]
  dose_mg = 1
"""


def timed(opener: urllib.request.OpenerDirector, url: str, count: int, headers: dict[str, str]) -> list[float]:
    samples = []
    for _ in range(count):
        request = urllib.request.Request(url, headers=headers)
        began = time.perf_counter()
        with opener.open(request) as response:
            response.read()
        samples.append(time.perf_counter() - began)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    tz = ZoneInfo("Europe/London")
    now = dt.datetime.now(tz).replace(second=0, microsecond=0)
    start = now - dt.timedelta(days=365)
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config(CONFIG.format(state=tmp, start=start.date()), "bench.toml")
        db = os.path.join(tmp, "pillbox.db")
        scenario = parse_scenario(
            f'start = "{start:%Y-%m-%dT%H:%M}"\nend = "{now:%Y-%m-%dT%H:%M}"\n[patient]\ntakes = "all"\n'
            f'[[patient.period]]\nfrom = "{start + dt.timedelta(days=100):%Y-%m-%dT%H:%M}"\n'
            f'until = "{start + dt.timedelta(days=103):%Y-%m-%dT%H:%M}"\ntakes = "none"\n',
            "bench.toml",
            config.tz,
        )
        Simulation(config, scenario, io.StringIO(), db).run()
        store = Store(db)
        daemon = Daemon(config, store, Hardware(config.hardware, make_factory("mock")), synchronised=lambda: True)
        daemon.start()
        token = Accounts(store).create_token("bench")
        Accounts(store).add("bench", "bench password")
        server = start_web(config, daemon, port=0)
        base = f"http://127.0.0.1:{server.effective_port}"
        events = len(store.events(limit=1_000_000))
        api = timed(urllib.request.build_opener(), base + "/api/v1/status", args.count,
                    {"Authorization": f"Bearer {token}"})  # fmt: skip
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', opener.open(base + "/login").read().decode())
        assert csrf
        form = {"name": "bench", "password": "bench password", "csrf_token": csrf.group(1)}
        opener.open(base + "/login", data=urllib.parse.urlencode(form).encode())
        page = timed(opener, base + "/", args.count, {})
        daemon.stop()
    for name, samples in (("api_status", api), ("dashboard", page)):
        cuts = statistics.quantiles(samples, n=100)
        print(f"{name}_ms_p50 {statistics.median(samples) * 1000:.1f}")
        print(f"{name}_ms_p95 {cuts[94] * 1000:.1f}")
    print(f"history_events {events}")
    print(f"samples {args.count}")


if __name__ == "__main__":
    main()

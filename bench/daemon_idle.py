"""Memory and idle CPU of `pillbox run --mock-hardware` (goals: RSS under 60 MB, under 0.5 % of a core).

Run: python bench/daemon_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.mqtt.broker import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
[device]
timezone = "Europe/London"
state_dir = "{state}"
clock_sync_wait_minutes = 0
[mqtt]
enabled = false
[web]
host = "127.0.0.1"
port = {port}
[[medication]]
name = "Baclofen"
strength_mg = 10
stock = 90
  [[medication.plan]]
  start = "2026-01-01"
  times = {baclofen}
  dose_mg = 10
[[medication]]
name = "Vitamin D"
strength_mg = 1
taper_required = false
  [[medication.plan]]
  start = "2026-01-01"
  times = {vitamin}
  dose_mg = 1
"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def written_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (what wears an SD card)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "pillbox.toml"
        # Slots far from now, so that nothing is due while it idles (nothing pulses or sounds).
        now = dt.datetime.now(ZoneInfo("Europe/London"))
        slot = [(now + dt.timedelta(hours=h)).strftime("%H:%M") for h in (4, 10, 16, 20)]
        config.write_text(
            CONFIG.format(
                state=Path(tmp) / "state",
                port=free_port(),
                baclofen=json.dumps(sorted(slot[:3])),
                vitamin=json.dumps([slot[3]]),
            )
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "run", "--mock-hardware", "--config", str(config)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        db = Path(tmp) / "state" / "pillbox.db"
        began = time.monotonic()
        while time.monotonic() - began < 30:
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT 1 FROM events WHERE event_type='device_started'").fetchone():
                        break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.1)
        startup = time.monotonic() - began
        time.sleep(2)
        rss_start = rss_kb(proc.pid)
        cpu_before = cpu_seconds(proc.pid)
        written_before = written_bytes(proc.pid)
        time.sleep(args.seconds)
        cpu_used = cpu_seconds(proc.pid) - cpu_before
        written = written_bytes(proc.pid) - written_before
        rss_end = rss_kb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    print(f"daemon_start_seconds {startup:.2f}")
    print(f"daemon_rss_after_start_mb {rss_start / 1024:.1f}")
    print(f"daemon_rss_after_idle_mb {rss_end / 1024:.1f}")
    print(f"daemon_idle_cpu_percent_of_one_core {100 * cpu_used / args.seconds:.3f}")
    print(f"daemon_idle_bytes_written {written}")
    print(f"daemon_idle_seconds {args.seconds:.0f}")


if __name__ == "__main__":
    main()

"""Memory, idle CPU and bytes written of `pillbox run --mock-hardware` (goals: RSS under 60 MB,
under 0.5 % of a core, nothing written to storage while nothing happens).

Run: python bench/daemon_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mock_daemon import io_counters, start_daemon, stop_daemon


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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
        began = time.monotonic()
        proc, _ = start_daemon(Path(tmp))
        startup = time.monotonic() - began
        time.sleep(2)
        rss_start = rss_kb(proc.pid)
        cpu_before = cpu_seconds(proc.pid)
        written_before = io_counters(proc.pid)["write_bytes"]
        time.sleep(args.seconds)
        cpu_used = cpu_seconds(proc.pid) - cpu_before
        written = io_counters(proc.pid)["write_bytes"] - written_before
        rss_end = rss_kb(proc.pid)
        stop_daemon(proc)
    print(f"daemon_start_seconds {startup:.2f}")
    print(f"daemon_rss_after_start_mb {rss_start / 1024:.1f}")
    print(f"daemon_rss_after_idle_mb {rss_end / 1024:.1f}")
    print(f"daemon_idle_cpu_percent_of_one_core {100 * cpu_used / args.seconds:.3f}")
    print(f"daemon_idle_bytes_written {written}")
    print(f"daemon_idle_seconds {args.seconds:.0f}")


if __name__ == "__main__":
    main()

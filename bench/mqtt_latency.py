"""Lid opening to event at a subscriber, p50 and p99 over 200 openings, beside the same broker's raw
publish-to-receive time, measured in the same run (a local Mosquitto started for the purpose).

Run: python bench/mqtt_latency.py [--count 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from device.config import parse_config  # noqa: E402
from device.service import build  # noqa: E402
from tests.mqtt.broker import Broker  # noqa: E402

CONFIG = """
[device]
timezone = "UTC"
state_dir = "{state}"
clock_sync_wait_minutes = 0
[hardware]
debounce_ms = 0
[mqtt]
host = "127.0.0.1"
port = {port}
discovery_prefix = ""
[[medication]]
name = "Baclofen"
strength_mg = 10
  [[medication.plan]]
  start = "2026-01-01"
  times = []
  dose_mg = 0
"""


class Ears:
    def __init__(self, port: int, topic: str) -> None:
        self.arrived = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.arrived.set()
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        time.sleep(0.3)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return statistics.median(samples) * 1000, cuts[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp) / "broker").start()
        try:
            config = parse_config(CONFIG.format(state=Path(tmp) / "state", port=broker.port), "bench.toml")
            daemon = build(config, mock=True, web=False)
            daemon.synchronised = lambda: True
            daemon.start()
            while not daemon.mqtt_connected():
                time.sleep(0.05)
            ears = Ears(broker.port, "pillbox/pillbox/event")
            lid: list[float] = []
            for _ in range(args.count):
                ears.arrived.clear()
                began = time.perf_counter()
                daemon.hardware.mock_lid(True)  # extra access: an event every time
                ears.arrived.wait(10)
                lid.append(time.perf_counter() - began)
                daemon.hardware.mock_lid(False)
            daemon.stop()
            ears.close()

            raw_ears = Ears(broker.port, "bench/raw")
            sender = mqtt.Client(CallbackAPIVersion.VERSION2)
            sender.connect("127.0.0.1", broker.port)
            sender.loop_start()
            raw: list[float] = []
            for i in range(args.count):
                raw_ears.arrived.clear()
                began = time.perf_counter()
                sender.publish("bench/raw", f'{{"n": {i}}}', qos=1)
                raw_ears.arrived.wait(10)
                raw.append(time.perf_counter() - began)
            sender.disconnect()
            sender.loop_stop()
            raw_ears.close()
        finally:
            broker.stop()
    p50, p99 = percentiles(lid)
    r50, r99 = percentiles(raw)
    print(f"lid_to_event_ms_p50 {p50:.1f}")
    print(f"lid_to_event_ms_p99 {p99:.1f}")
    print(f"raw_publish_to_receive_ms_p50 {r50:.1f}")
    print(f"raw_publish_to_receive_ms_p99 {r99:.1f}")
    print(f"samples {args.count}")


if __name__ == "__main__":
    main()

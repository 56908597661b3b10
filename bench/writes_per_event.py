"""Bytes the live daemon writes to storage per event (goal: at most 16 KiB, with WAL and synchronous=FULL).

Starts `pillbox run --mock-hardware` on a temporary state directory, opens and closes the lid 30
times when no dose is due (each opening is an `extra_access` event and its alert, each closing a
change of the device state: two commits per event), and divides the daemon's `write_bytes` from
/proc/<pid>/io by the events committed, counted in the database at the end. The floor beside it is
the size of the events' JSON themselves. Each lid movement waits for the daemon's commit (seen
through PRAGMA data_version on a read-only connection), so nothing is batched.

By default the movements follow each other at once, as events do in a burst: the WAL is synced at
every commit, so each commit pays again for the pages it appends to, but the -shm index (mapped,
never synced) is counted once per page. `--sync` runs `sync` after every commit, as if the events
were minutes apart and the kernel had written everything back in between: every -shm page a
commit touches then counts again (on kernels whose page cache uses large folios, ext4 from 6.x,
each re-dirtied folio counts whole, so this mode reads high there).

Run: python bench/writes_per_event.py [--openings 30] [--sync] [--tree DIR] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mock_daemon import ROOT, io_counters, start_daemon, stop_daemon, wait_until

DEBOUNCE_SECONDS = 0.1  # longer than the lid's debounce lockout, so that each movement is an edge


class Watcher:
    """A read-only connection to the daemon's database that notices each commit."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        self.version = self._version()

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def committed(self) -> bool:
        version = self._version()
        changed, self.version = version != self.version, version
        return changed

    def last_seq(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def events_after(self, seq: int) -> tuple[int, int]:
        """How many events were committed after `seq`, and the bytes of their JSON."""
        row = self.conn.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(json)), 0) FROM events WHERE seq > ?", (seq,))
        count, size = row.fetchone()
        return int(count), int(size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--openings", type=int, default=30)
    parser.add_argument("--sync", action="store_true", help="run sync after every commit (events far apart)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the Pillbox source tree to run (default: this one)")
    parser.add_argument("--dir", type=Path, default=None, help="where the state directory goes (not on tmpfs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        proc, db = start_daemon(Path(tmp), args.tree, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            watcher = Watcher(db)
            first_seq = watcher.last_seq()
            commits = 0
            os.sync()
            time.sleep(DEBOUNCE_SECONDS)
            before = io_counters(proc.pid)
            for _ in range(args.openings):
                for command in ("lid_open", "lid_close"):
                    proc.stdin.write(f"{command}\n".encode())
                    proc.stdin.flush()
                    wait_until(watcher.committed, 10, f"the daemon's commit after {command}")
                    commits += 1
                    if args.sync:
                        os.sync()
                    time.sleep(DEBOUNCE_SECONDS)
            after = io_counters(proc.pid)
            events, floor = watcher.events_after(first_seq)
            page_size = watcher.conn.execute("PRAGMA page_size").fetchone()[0]
            watcher.conn.close()
        finally:
            stop_daemon(proc)
    written = after["write_bytes"] - before["write_bytes"]
    wchar = after["wchar"] - before["wchar"]
    per = max(events, 1)
    print(f"lid_openings {args.openings} ({'sync after every commit' if args.sync else 'back to back'})")
    print(f"commits {commits}")
    print(f"events_committed {events}")
    print(f"page_size {page_size}")
    print(f"write_bytes_total {written}")
    print(f"write_bytes_per_event {written / per:.0f}  ({written / per / 1024:.1f} KiB)")
    print(f"wchar_per_event {wchar / per:.0f}  (bytes handed to write(): the WAL; the -shm is mapped, not written)")
    print(f"floor_event_json_bytes_per_event {floor / per:.0f}")
    if written == 0:
        print("note: nothing reached storage; is the temporary directory on tmpfs? Pass --dir on a disk.")


if __name__ == "__main__":
    main()

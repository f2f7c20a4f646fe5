"""Outbox append+commit cost as the backlog grows, and a TinyDB queue for comparison.

Each point: the median and p99 of `Outbox.commit` (one durable SQLite commit,
synchronous=FULL) with 0, 10k, 100k and 1M unsent events already queued. The backlog
is pre-filled in one bulk transaction so the run stays short. Target (issue 2): flat
within 1.3x from empty to 1M.

TinyDB, for comparison, rewrites its whole JSON file on every insert.

    .venv/bin/python -m bench.outbox [--sizes 0,10000,100000,1000000] [--samples 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import machine, percentile
from hub.clock import SystemClock
from hub.event import Draft, Event
from hub.store.outbox import Outbox

CLOCK = SystemClock()


def prefill(box: Outbox, n: int) -> None:
    """n unsent telemetry events in one transaction (seq continues correctly)."""
    db = box._db
    db.execute("BEGIN")
    rows = []
    start = box.last_seq()
    for i in range(n):
        event = Event.from_draft(
            Draft.create("motion", CLOCK, data={"room": "厨房"}), "H1", start + i + 1
        )
        body = event.to_json()
        rows.append((event.seq, event.id, 2, event.kind, len(body), body))
        if len(rows) == 50_000:
            db.executemany(
                "INSERT INTO events (seq, id, priority, kind, size, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            rows.clear()
    db.executemany(
        "INSERT INTO events (seq, id, priority, kind, size, body) VALUES (?, ?, ?, ?, ?, ?)", rows
    )
    db.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (start + n,))
    db.execute("COMMIT")
    box.pending_bytes = int(
        db.execute("SELECT COALESCE(SUM(size), 0) FROM events WHERE sent_at IS NULL").fetchone()[0]
    )


def time_commits(box: Outbox, samples: int) -> list[float]:
    """Seconds per commit of a small SOS-sized event (after 20 warm-up commits)."""
    for _ in range(20):
        box.commit(Draft.create("door", CLOCK, data={"open": True}))
    out = []
    for _ in range(samples):
        draft = Draft.create("door", CLOCK, data={"open": True})
        t0 = time.perf_counter()
        box.commit(draft)
        out.append(time.perf_counter() - t0)
    return out


def tinydb_queue(workdir: Path, sizes: list[int], samples: int) -> list[tuple[int, float, float]]:
    """The same measurement on a TinyDB table (default JSON storage)."""
    from tinydb import TinyDB

    results = []
    for n in sizes:
        path = workdir / f"tiny-{n}.json"
        db = TinyDB(path)
        db.insert_multiple({"kind": "motion", "seq": i, "data": {"room": "厨房"}} for i in range(n))
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            db.insert({"kind": "door", "data": {"open": True}})
            times.append(time.perf_counter() - t0)
        results.append((n, percentile(times, 50), percentile(times, 99)))
        db.close()
    return results


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="0,10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {machine()}")
    base = None
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        work = Path(tmp)
        for n in sizes:
            box = Outbox(work / f"outbox-{n}.db", "H1", max_bytes=4 * 1024**3, log_keep=2000)
            prefill(box, n)
            times = time_commits(box, args.samples)
            p50, p99 = percentile(times, 50), percentile(times, 99)
            base = base or p50
            size_mb = (work / f"outbox-{n}.db").stat().st_size / 1e6
            print(
                f"sqlite outbox, {n:>9,} queued ({size_mb:7.1f} MB): commit p50 "
                f"{p50 * 1e3:6.3f} ms  p99 {p99 * 1e3:6.3f} ms  ({p50 / base:4.2f}x empty)"
            )
            box.close()
        for n, p50, p99 in tinydb_queue(work, [1000, 5000], min(args.samples, 100)):
            print(
                f"tinydb queue,  {n:>9,} queued: insert p50 {p50 * 1e3:7.3f} ms  "
                f"p99 {p99 * 1e3:7.3f} ms"
            )


if __name__ == "__main__":
    main()

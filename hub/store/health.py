"""The health archive: vital signs downsampled into buckets and kept for N days.

The service documents ask for a continuous health record. Raw readings (a strap may
notify every second) are folded in memory into fixed buckets per device and measure —
count, mean, min, max — and written once per bucket: a handful of SD-card writes an
hour, however chatty the wearable. `VitalBuckets` is pure; the table lives in the
outbox's SQLite file and is written on its database thread.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.reading import Reading

# Which reading kinds are vital signs, and their numeric measures worth keeping.
VITAL_MEASURES: dict[str, tuple[str, ...]] = {
    "heart_rate": ("bpm",),
    "spo2": ("spo2_pct", "pulse_bpm"),
    "blood_pressure": ("systolic_mmhg", "diastolic_mmhg", "map_mmhg", "pulse_bpm"),
    "temperature": ("temperature_c",),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS vitals (
    bucket  INTEGER NOT NULL,  -- start of the bucket, wall-clock epoch seconds
    device  TEXT NOT NULL,
    measure TEXT NOT NULL,
    n       INTEGER NOT NULL,
    mean    REAL NOT NULL,
    min     REAL NOT NULL,
    max     REAL NOT NULL,
    PRIMARY KEY (bucket, device, measure)
);
"""


@dataclass
class Bucket:
    """One device's measure over one bucket of time."""

    bucket: int
    device: str
    measure: str
    n: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, value: float) -> None:
        """Fold one value in."""
        self.n += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def row(self) -> tuple[int, str, str, int, float, float, float]:
        """The table row."""
        return (
            self.bucket,
            self.device,
            self.measure,
            self.n,
            round(self.total / self.n, 2),
            self.low,
            self.high,
        )

    def summary(self) -> dict[str, Any]:
        """The `vital` event's data."""
        b, device, measure, n, mean, low, high = self.row()
        return {
            "bucket": b,
            "device": device,
            "measure": measure,
            "n": n,
            "mean": mean,
            "min": low,
            "max": high,
        }


class VitalBuckets:
    """Folds vital readings into buckets; hands back the buckets that are complete."""

    def __init__(self, bucket_s: int) -> None:
        self.bucket_s = bucket_s
        self.open: dict[tuple[int, str, str], Bucket] = {}

    def add(self, reading: Reading, epoch_s: float) -> None:
        """Fold a reading in (non-vital kinds and non-numeric values are ignored)."""
        measures = VITAL_MEASURES.get(reading.kind, ())
        start = int(epoch_s // self.bucket_s * self.bucket_s)
        for measure in measures:
            value = reading.values.get(measure)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue  # NaN / infinities from a broken sensor do not enter the record
            key = (start, reading.device, measure)
            bucket = self.open.get(key)
            if bucket is None:
                bucket = self.open[key] = Bucket(start, reading.device, measure)
            bucket.add(float(value))

    def complete(self, epoch_s: float, *, everything: bool = False) -> list[Bucket]:
        """Remove and return buckets whose time is over (all of them when stopping)."""
        current = int(epoch_s // self.bucket_s * self.bucket_s)
        done = [k for k in self.open if everything or k[0] < current]
        return [self.open.pop(k) for k in sorted(done)]


def store_buckets(db: sqlite3.Connection, buckets: list[Bucket], keep_before: int) -> None:
    """Write buckets and forget those older than `keep_before` (one transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        write_buckets(db, buckets, keep_before)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def write_buckets(db: sqlite3.Connection, buckets: list[Bucket], keep_before: int) -> None:
    """Write buckets and forget those older than `keep_before`, in the caller's transaction
    (the outbox's telemetry group writes them with its events)."""
    db.executemany(
        "INSERT INTO vitals (bucket, device, measure, n, mean, min, max) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(bucket, device, measure) DO UPDATE SET "
        "mean = (mean * n + excluded.mean * excluded.n) / (n + excluded.n), "
        "n = n + excluded.n, min = MIN(min, excluded.min), max = MAX(max, excluded.max)",
        [b.row() for b in buckets],
    )
    db.execute("DELETE FROM vitals WHERE bucket < ?", (keep_before,))


def query(db: sqlite3.Connection, since: int) -> list[dict[str, Any]]:
    """Every stored bucket from `since` (epoch s), oldest first."""
    rows = db.execute(
        "SELECT bucket, device, measure, n, mean, min, max FROM vitals WHERE bucket >= ? "
        "ORDER BY bucket, device, measure",
        (since,),
    )
    keys = ("bucket", "device", "measure", "n", "mean", "min", "max")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def hourly(db: sqlite3.Connection, since: int) -> list[dict[str, Any]]:
    """The archive from `since` (epoch s) folded per hour and measure, all devices together,
    oldest first: what the family page's charts need, a few hundred rows a week instead of
    thousands of 5-minute buckets. One range scan of the primary key (bucket first); the
    hour (not the local day) is the unit so the caller can fold hours into local days
    whatever the timezone's offset. Rows as `query`'s, the device "*"."""
    rows = db.execute(
        "SELECT bucket / 3600 * 3600 AS hour, measure, SUM(n), SUM(mean * n) / SUM(n), "
        "MIN(min), MAX(max) FROM vitals WHERE bucket >= ? GROUP BY hour, measure "
        "ORDER BY hour, measure",
        (since,),
    )
    return [
        {
            "bucket": hour,
            "device": "*",
            "measure": measure,
            "n": n,
            "mean": mean,
            "min": low,
            "max": high,
        }
        for hour, measure, n, mean, low, high in rows
    ]

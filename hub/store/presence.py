"""The presence history: where the elder's wearable was heard, kept for a few days.

The service documents ask for a 7-day location record. Only transitions are stored
(near in a room / away), one row each: a few dozen rows a day, a handful of SD-card
writes. The table lives in the outbox's SQLite file and is written on its database
thread; it is shared with the centre only in an emergency or when the centre asks
(cmd/locate), never on a schedule.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS presence (
    ts      INTEGER NOT NULL,  -- wall-clock epoch seconds of the transition
    device  TEXT NOT NULL,
    present INTEGER NOT NULL,  -- 1 near, 0 away
    room    TEXT NOT NULL,
    rssi    INTEGER            -- smoothed dBm that decided it; NULL when not heard at all
);
CREATE INDEX IF NOT EXISTS presence_ts ON presence (ts);
"""


def record(
    db: sqlite3.Connection,
    rows: list[tuple[int, str, bool, str, int | None]],
    keep_after: int,
) -> None:
    """Store transitions (ts, device, present, room, rssi); forget rows before `keep_after`."""
    db.executescript(SCHEMA)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT INTO presence (ts, device, present, room, rssi) VALUES (?, ?, ?, ?, ?)",
            [(ts, device, int(present), room, rssi) for ts, device, present, room, rssi in rows],
        )
        db.execute("DELETE FROM presence WHERE ts < ?", (keep_after,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def query(db: sqlite3.Connection, since: int, limit: int) -> list[dict[str, Any]]:
    """Transitions from `since` (epoch s), oldest first, at most the newest `limit`."""
    db.executescript(SCHEMA)
    rows = db.execute(
        "SELECT ts, device, present, room, rssi FROM ("
        " SELECT rowid, * FROM presence WHERE ts >= ? ORDER BY ts DESC, rowid DESC LIMIT ?"
        ") ORDER BY ts, rowid",
        (since, limit),
    ).fetchall()
    return [
        {"ts": ts, "device": device, "present": bool(present), "room": room, "rssi": rssi}
        for ts, device, present, room, rssi in rows
    ]

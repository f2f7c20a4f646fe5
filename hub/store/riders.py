"""Small state that rides in the outbox's next transaction instead of a write of its own.

On an SD card a transaction costs about as much as the next whatever it holds (its WAL
frames, the file system's journal; bench/README.md, "SD card writes"), and an atomic
rewrite of a small file costs more. So three kinds of small, often-changing state are
kept here in memory and written inside the next transaction the hub makes anyway (a
telemetry group, a warning's or a check-in's commit, the alarm records; never an
alarm's own commit, which stays exactly as it was):

- PUBACK marks: events the broker has, not yet marked sent on disk. The outbox leaves
  them out of what it gives the uplink (however many there are), so nothing is
  published twice while the hub runs;
- named state documents (the care checks' state, `care`);
- device liveness: last seen, battery, the last on/off state and when.

What a power cut can take of them is what changed since the last transaction (one
telemetry group period at most while telemetry flows): marks mean those events are
sent once more after the restart (same id and seq; the centre de-duplicates), the state
and liveness are as they were at that transaction. A clean stop writes them all.

Thread-safe: the event loop adds, the outbox's database thread takes and writes.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

SCHEMA = """
CREATE TABLE IF NOT EXISTS hub_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS device_live (
    key         TEXT PRIMARY KEY,
    last_seen   TEXT,
    battery     INTEGER,
    battery_low INTEGER NOT NULL,
    state       TEXT,
    state_at    TEXT
);
"""


@dataclass(frozen=True)
class Liveness:
    """What a paired device last told: when, its battery, its last on/off state."""

    last_seen: str | None = None  # ISO 8601 wall time
    battery: int | None = None
    battery_low: bool = False
    state: str | None = None
    state_at: str | None = None


@dataclass
class Ride:
    """What one transaction takes along."""

    marks: dict[str, str] = field(default_factory=dict)  # event id -> PUBACK time (ISO)
    state: dict[str, str] = field(default_factory=dict)  # name -> JSON text
    live: dict[str, Liveness | None] = field(default_factory=dict)  # None: device removed

    def __bool__(self) -> bool:
        return bool(self.marks or self.state or self.live)


class Riders:
    """The pending marks, state and liveness; taken whole by the next transaction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = Ride()
        # Taken by a transaction not committed yet: still unmarked for the uplink.
        self._in_flight: dict[str, str] = {}
        self._sizes: dict[str, int] = {}  # event id -> its size, while unmarked on disk

    def published(self, events: dict[str, int], stamp: str) -> None:
        """The broker has these events (id -> size; PUBACK at `stamp`)."""
        with self._lock:
            for event_id, size in events.items():
                self._pending.marks.setdefault(event_id, stamp)
                self._sizes.setdefault(event_id, size)

    def published_bytes(self) -> int:
        """The size of the events published whose marks are not on disk yet."""
        with self._lock:
            return sum(self._sizes.values())

    def set_state(self, name: str, text: str) -> None:
        """The newest version of a state document."""
        with self._lock:
            self._pending.state[name] = text

    def set_live(self, key: str, live: Liveness | None) -> None:
        """A device's newest liveness (None: the device was removed, its row goes)."""
        with self._lock:
            self._pending.live[key] = live

    def waiting(self) -> bool:
        """Whether anything waits for a transaction."""
        with self._lock:
            return bool(self._pending)

    def unmarked(self) -> set[str]:
        """Ids of events published but not yet marked sent on disk."""
        with self._lock:
            return {*self._pending.marks, *self._in_flight}

    def published_at(self, event_id: str) -> str | None:
        """When the broker acknowledged an event whose mark is not on disk yet."""
        with self._lock:
            return self._pending.marks.get(event_id) or self._in_flight.get(event_id)

    def state(self, name: str) -> str | None:
        """A state document not written yet, if any."""
        with self._lock:
            return self._pending.state.get(name)

    def take(self) -> Ride:
        """Everything pending, for the transaction about to be made."""
        with self._lock:
            ride, self._pending = self._pending, Ride()
            self._in_flight = dict(ride.marks)
            return ride

    def landed(self) -> None:
        """The transaction that took the ride committed."""
        with self._lock:
            for event_id in self._in_flight:
                self._sizes.pop(event_id, None)
            self._in_flight = {}

    def put_back(self, ride: Ride) -> None:
        """The transaction failed: pending again, what changed since winning."""
        with self._lock:
            for event_id, stamp in ride.marks.items():
                self._pending.marks.setdefault(event_id, stamp)
            for name, text in ride.state.items():
                self._pending.state.setdefault(name, text)
            for key, live in ride.live.items():
                self._pending.live.setdefault(key, live)
            self._in_flight = {}


def write(db: sqlite3.Connection, ride: Ride) -> list[int]:
    """Write a ride inside the caller's transaction; returns the sizes of the events it
    marked sent (those not marked already, nor dropped meanwhile)."""
    sizes: list[int] = []
    for event_id, stamp in ride.marks.items():
        row = db.execute(
            "UPDATE events SET sent_at = ? WHERE id = ? AND sent_at IS NULL RETURNING size",
            (stamp, event_id),
        ).fetchone()
        if row is not None:
            sizes.append(int(row[0]))
    if ride.state:
        db.executemany(
            "INSERT INTO hub_state (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            list(ride.state.items()),
        )
    gone = [(key,) for key, live in ride.live.items() if live is None]
    if gone:
        db.executemany("DELETE FROM device_live WHERE key = ?", gone)
    rows = [
        (key, v.last_seen, v.battery, int(v.battery_low), v.state, v.state_at)
        for key, v in ride.live.items()
        if v is not None
    ]
    if rows:
        db.executemany(
            "INSERT INTO device_live (key, last_seen, battery, battery_low, state, state_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "last_seen = excluded.last_seen, battery = excluded.battery, "
            "battery_low = excluded.battery_low, state = excluded.state, "
            "state_at = excluded.state_at",
            rows,
        )
    return sizes


def load_state(db: sqlite3.Connection, name: str) -> str | None:
    """A state document as last written."""
    row = db.execute("SELECT value FROM hub_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def load_live(db: sqlite3.Connection) -> dict[str, Liveness]:
    """Every device's liveness as last written."""
    return {
        str(key): Liveness(last_seen, battery, bool(low), state, state_at)
        for key, last_seen, battery, low, state, state_at in db.execute(
            "SELECT key, last_seen, battery, battery_low, state, state_at FROM device_live"
        )
    }

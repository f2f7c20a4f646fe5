"""The outbox: every event is committed here before anything is sent or announced.

One SQLite file in WAL mode with `synchronous=FULL`: a commit returns only once the
WAL is on disk, so an event reported committed survives kill -9 and power loss.
`commit_group` stores many events in one such transaction: telemetry is grouped by the
committer (hub/services/committer.py) because on an SD card each transaction costs
about as much as the next whatever it holds (bench/README.md, "SD card writes").
Either way a seq is handed out only inside a forced transaction, and the uplink sends
only rows of this file, so a power cut can never take back a seq that left the hub:
telemetry waiting for its group has no seq yet.

One table holds both the outbox (rows not yet sent) and the event log (recent sent
rows kept for `pingan-hub events`); a partial index over unsent rows keeps "next to
send" and appends O(log n) however long the log. The per-hub `seq` lives in the same
database and is advanced in the same transaction as the insert, so a seq is never
reused, even after a crash.

PUBACK marks, the care checks' state and the devices' liveness are not written in
transactions of their own: they ride in the next one the hub makes anyway (a telemetry
group, a warning's commit, the alarm records; never an alarm's own commit), see
hub/store/riders.py. Rows the broker has whose marks are not on disk yet are left out of
`pending`, however many, so the uplink neither sends them twice nor stalls behind them.

Bounded by bytes: when the unsent rows exceed `max_bytes`, the oldest telemetry is
shed first, then the oldest warnings; alarms are never shed.

`Outbox` is synchronous and owned by one thread; `AsyncOutbox` runs it on a single
worker thread so the event loop never waits on the SD card.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from hub.errors import DecodeError, StoreError
from hub.event import Draft, Event, Priority
from hub.store import health, presence, riders
from hub.store.riders import Liveness, Ride, Riders
from hub.store.worker import PriorityWorker

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    priority INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    body     BLOB NOT NULL,
    sent_at  TEXT
);
CREATE INDEX IF NOT EXISTS pending ON events (priority, seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS sent ON events (seq) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS alarms (
    id      TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    record  TEXT NOT NULL
);
"""

# Trim the sent log every this many sends, not on every send: fewer SD-card writes.
_TRIM_EVERY = 100
# Just-committed events kept in memory for the uplink's fast path; beyond this the
# uplink reads from the database as usual.
_FRESH_KEEP = 256
# On a full disk, unsent events of the lowest priority present are dropped this many at
# a time (oldest first) until the new event fits.
_DISK_SHED_ROWS = 200


@dataclass(frozen=True)
class LoggedEvent:
    """An event from the log with its delivery state."""

    event: Event
    sent_at: str | None


@dataclass(frozen=True)
class CommitResult:
    """What a commit stored, and what it had to shed to stay within its bound."""

    event: Event
    shed: dict[int, int]  # priority -> how many unsent events were dropped
    disk_full: bool = False  # the disk filled up and space had to be freed


# Health-archive buckets to write, and the archive's horizon (epoch s): older ones go.
VitalsWrite = tuple[list[health.Bucket], int]


@dataclass(frozen=True)
class GroupResult:
    """What a group commit stored, and the drafts the bound refused (with why)."""

    stored: list[CommitResult]
    refused: list[tuple[Draft, StoreError]]


class Outbox:
    """Synchronous outbox over one SQLite connection; use from one thread only."""

    def __init__(
        self, path: Path, hub_id: str, max_bytes: int, log_keep: int, max_pages: int = 0
    ) -> None:
        self.path = path
        self.hub_id = hub_id
        self.max_bytes = max_bytes
        self.log_keep = log_keep
        self._sent_since_trim = 0
        self._group_bytes = 0  # bytes added by the group commit in progress, not yet counted
        # PUBACK marks, care state, device liveness: written with the next transaction.
        self.riders = Riders()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # The hub is the database's only user: with an exclusive lock SQLite keeps
            # the WAL index in its own memory instead of the mmap'd hub.db-shm in the data
            # directory, whose pages the kernel kept writing back to the SD card. (Another
            # process can open hub.db only once the hub has stopped.)
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            if max_pages:  # a size cap, used to prove behaviour on a full disk
                self._db.execute(f"PRAGMA max_page_count={int(max_pages)}")
            self._db.executescript(_SCHEMA + health.SCHEMA + riders.SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('seq', 0)")
            self._unsent_bytes = int(
                self._db.execute(
                    "SELECT COALESCE(SUM(size), 0) FROM events WHERE sent_at IS NULL"
                ).fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the outbox {path}: {exc}") from exc

    @property
    def pending_bytes(self) -> int:
        """Bytes of unsent events, those the broker has (marks not on disk yet) left out."""
        return max(0, self._unsent_bytes - self.riders.published_bytes())

    def close(self) -> None:
        """Close the database (a checkpoint happens on close)."""
        self._db.close()

    def commit(self, draft: Draft) -> CommitResult:
        """Store a draft durably with the next seq; returns the Event once it is on disk.

        When the disk (or the database's size cap) is full, sent history and then the
        oldest lower-priority events are deleted to make room, and the commit is tried
        once more: an alarm must be stored even on a full SD card.
        """
        try:
            return self._commit_once(draft)
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc).lower():
                raise StoreError(f"cannot commit {draft.kind} event: {exc}") from exc
            _LOGGER.error("disk full while committing %s: shedding to make room", draft.kind)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot commit {draft.kind} event: {exc}") from exc
        try:
            shed = self._shed_for_disk(draft.priority)
            result = self._commit_once(draft)
        except sqlite3.Error as exc:
            raise StoreError(f"disk full: cannot commit {draft.kind} event: {exc}") from exc
        for priority, n in result.shed.items():
            shed[priority] = shed.get(priority, 0) + n
        return CommitResult(result.event, shed, disk_full=True)

    def _commit_once(self, draft: Draft) -> CommitResult:
        ride, freed = Ride(), 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # An alarm's transaction stays as small as it was: nothing rides with it.
            if draft.priority is not Priority.ALARM:
                ride, freed = self._ride_along()
                self._group_bytes = -freed
            result, added = self._insert(draft)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite may already have rolled back (disk full)
                self._db.execute("ROLLBACK")
            self.riders.put_back(ride)
            raise
        finally:
            self._group_bytes = 0
        self.riders.landed()
        # Only after COMMIT: a rolled-back transaction must not skew the running total.
        self._unsent_bytes += added - freed
        return result

    def _ride_along(self) -> tuple[Ride, int]:
        """Inside a transaction: write what rides with it (hub/store/riders.py); returns
        the ride (put back if the transaction fails) and the unsent bytes it marked sent."""
        ride = self.riders.take()
        if not ride:
            return ride, 0
        sizes = riders.write(self._db, ride)
        self._sent_since_trim += len(sizes)
        if self._sent_since_trim >= _TRIM_EVERY:
            self.trim_log()  # in this transaction: no write of its own
        return ride, sum(sizes)

    def write_riders(self) -> None:
        """Write the pending marks, state and liveness now, in a transaction of their own
        (a clean stop; a care decision that commits no event)."""
        if not self.riders.waiting():
            return
        self._ride_transaction("write marks and state")

    def _ride_transaction(self, what: str, work: Callable[[], object] | None = None) -> None:
        """One transaction carrying what waits to ride (marks, state, liveness) and then
        `work`; on any failure the riders wait for the next transaction."""
        ride, freed = Ride(), 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ride, freed = self._ride_along()
                if work is not None:
                    work()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self.riders.put_back(ride)
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {exc}") from exc
        self.riders.landed()
        self._unsent_bytes -= freed

    def _insert(self, draft: Draft) -> tuple[CommitResult, int]:
        """Insert one draft with the next seq, inside the caller's transaction; returns
        what was stored and by how many bytes the unsent total grows."""
        seq = int(
            self._db.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value"
            ).fetchone()[0]
        )
        event = Event.from_draft(draft, self.hub_id, seq)
        body = event.to_json()
        shed, freed = self._make_room(len(body), event.priority)
        self._db.execute(
            "INSERT INTO events (seq, id, priority, kind, size, body) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, event.id, int(event.priority), event.kind, len(body), body),
        )
        return CommitResult(event, shed), len(body) - freed

    def commit_group(self, drafts: list[Draft], vitals: VitalsWrite | None = None) -> GroupResult:
        """Store many drafts in one forced transaction: one SD-card write for the group.

        Each draft gets the next seq in list order. A draft the bound refuses (the
        outbox full of alarms and warnings) is left out of the group and reported in
        `refused`; the others are stored. `vitals` (health-archive buckets and the
        archive's horizon) are written in the same transaction. On a full disk, space is
        freed as `commit` does and the group is tried once more.
        """
        try:
            return self._group_once(drafts, vitals)
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc).lower():
                raise StoreError(f"cannot commit {len(drafts)} events: {exc}") from exc
            _LOGGER.error("disk full while committing %d events: shedding", len(drafts))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot commit {len(drafts)} events: {exc}") from exc
        try:
            self._shed_for_disk(min((d.priority for d in drafts), default=Priority.TELEMETRY))
            result = self._group_once(drafts, vitals)
        except sqlite3.Error as exc:
            raise StoreError(f"disk full: cannot commit {len(drafts)} events: {exc}") from exc
        return GroupResult(
            [CommitResult(r.event, r.shed, disk_full=True) for r in result.stored], result.refused
        )

    def _group_once(self, drafts: list[Draft], vitals: VitalsWrite | None) -> GroupResult:
        stored: list[CommitResult] = []
        refused: list[tuple[Draft, StoreError]] = []
        added = 0
        ride, freed = Ride(), 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            ride, freed = self._ride_along()
            for draft in drafts:
                # A savepoint per draft: a refused one is undone alone (its seq too).
                self._db.execute("SAVEPOINT draft")
                self._group_bytes = added - freed
                try:
                    result, grew = self._insert(draft)
                except StoreError as exc:
                    self._db.execute("ROLLBACK TO draft")
                    refused.append((draft, exc))
                else:
                    stored.append(result)
                    added += grew
                self._db.execute("RELEASE draft")
            if vitals is not None:
                health.write_buckets(self._db, *vitals)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self.riders.put_back(ride)
            raise
        finally:
            self._group_bytes = 0
        self.riders.landed()
        self._unsent_bytes += added - freed
        return GroupResult(stored, refused)

    def _shed_for_disk(self, priority: Priority) -> dict[int, int]:
        """Free space on a full disk: sent history first, then the oldest telemetry, then
        (for an alarm) the oldest warnings. Never an alarm."""
        shed: dict[int, int] = {}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            gone = self._db.execute("DELETE FROM events WHERE sent_at IS NOT NULL").rowcount
            if gone <= 0:
                victims = [Priority.TELEMETRY] + ([Priority.WARNING] if priority == 0 else [])
                for victim in victims:
                    if priority >= victim:
                        break
                    rows = self._db.execute(
                        "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
                        "WHERE sent_at IS NULL AND priority = ? ORDER BY seq LIMIT ?) "
                        "RETURNING size",
                        (int(victim), _DISK_SHED_ROWS),
                    ).fetchall()
                    if rows:
                        shed[int(victim)] = len(rows)
                        self._unsent_bytes -= sum(int(r[0]) for r in rows)
                        break
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return shed

    def _make_room(self, size: int, priority: Priority) -> tuple[dict[int, int], int]:
        """Shed the oldest low-priority unsent events until `size` more bytes fit.

        Runs inside the commit's transaction. An alarm is always accepted; a lower
        priority event that cannot be fitted is refused with StoreError.
        Returns what was shed per priority and the bytes freed.
        """
        shed: dict[int, int] = {}
        need = self._unsent_bytes + self._group_bytes + size - self.max_bytes
        freed = 0
        for victim in (Priority.TELEMETRY, Priority.WARNING):
            if need <= 0 or victim < priority:
                break
            rows = self._db.execute(
                "SELECT seq, size FROM events WHERE sent_at IS NULL AND priority = ? ORDER BY seq",
                (int(victim),),
            )
            doomed: list[int] = []
            for seq, row_size in rows:
                if need <= 0:
                    break
                doomed.append(seq)
                need -= row_size
                freed += row_size
            if doomed:
                self._db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in doomed])
                shed[int(victim)] = len(doomed)
        if need > 0 and priority != Priority.ALARM:
            raise StoreError(
                f"outbox full ({self.max_bytes} bytes of unsent events); "
                f"priority {int(priority)} event refused"
            )
        return shed, freed

    def pending(self, limit: int = 100) -> list[Event]:
        """Unsent events, most urgent first, oldest first within a priority; those the
        broker already has (their marks not on disk yet) left out, however many."""
        rows = self._db.execute(
            "SELECT body FROM events WHERE sent_at IS NULL AND id NOT IN "
            "(SELECT value FROM json_each(?)) ORDER BY priority, seq LIMIT ?",
            (self._unmarked_json(), limit),
        ).fetchall()
        return [Event.from_json(body) for (body,) in rows]

    def _unmarked_json(self) -> str:
        return json.dumps(sorted(self.riders.unmarked()))

    def mark_sent(self, event_ids: list[str], when: datetime | None = None) -> int:
        """Record that the broker has these events (PUBACK): they leave the outbox.

        One transaction for many marks: fewer SD-card writes. A mark lost in a power
        cut only means the event is sent again (same id; the cloud de-duplicates).
        """
        stamp = (when or datetime.now(UTC)).isoformat()
        marked = 0
        try:
            # Not forced to the card: these pages reach it with the next event's commit
            # (FULL syncs the whole WAL, this transaction's frames too) or at a checkpoint.
            # Half the hub's fsyncs were these; what a power cut can take is a few marks,
            # i.e. events the centre gets twice (same id, de-duplicated), never an event.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for event_id in event_ids:
                    row = self._db.execute(
                        "UPDATE events SET sent_at = ? WHERE id = ? AND sent_at IS NULL "
                        "RETURNING size",
                        (stamp, event_id),
                    ).fetchone()
                    if row is not None:
                        self._unsent_bytes -= int(row[0])
                        marked += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot mark {len(event_ids)} events sent: {exc}") from exc
        finally:
            try:
                self._db.execute("PRAGMA synchronous=FULL")  # every event commit stays forced
            except sqlite3.Error as exc:
                raise StoreError(f"cannot make commits forced again: {exc}") from exc
        self._sent_since_trim += marked
        if self._sent_since_trim >= _TRIM_EVERY:
            self.trim_log()
        return marked

    def trim_log(self) -> None:
        """Forget sent events beyond the newest `log_keep`."""
        self._sent_since_trim = 0
        self._db.execute(
            "DELETE FROM events WHERE sent_at IS NOT NULL AND seq < ("
            " SELECT seq FROM events WHERE sent_at IS NOT NULL ORDER BY seq DESC "
            " LIMIT 1 OFFSET ?)",
            (self.log_keep - 1,),
        )

    def depth(self) -> dict[int, int]:
        """Unsent events per priority (0, 1, 2 always present)."""
        counts = dict.fromkeys((0, 1, 2), 0)
        for priority, n in self._db.execute(
            "SELECT priority, COUNT(*) FROM events WHERE sent_at IS NULL AND id NOT IN "
            "(SELECT value FROM json_each(?)) GROUP BY priority",
            (self._unmarked_json(),),
        ):
            counts[int(priority)] = int(n)
        return counts

    def last_seq(self) -> int:
        """The last seq handed out (0 before the first event)."""
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])

    def get(self, event_id: str) -> Event | None:
        """One event by id, if still stored."""
        row = self._db.execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        return Event.from_json(row[0]) if row else None

    def recent(self, n: int) -> list[LoggedEvent]:
        """The newest n events, newest first, sent or not."""
        rows = self._db.execute(
            "SELECT body, sent_at FROM events ORDER BY seq DESC LIMIT ?", (n,)
        ).fetchall()
        return [LoggedEvent(Event.from_json(body), sent_at) for body, sent_at in rows]

    def save_alarms(self, records: list[dict[str, Any]], drops: list[str]) -> None:
        """Persist open alarms' lifecycle records and forget closed ones, in one transaction.

        These records only speed up recovery (the alarm event itself was committed
        before anything else happened); losing the latest one to a power cut means an
        alarm is resent or re-announced, never lost.
        """

        def save() -> None:  # the alarm's own mark rides along
            self._db.executemany(
                "INSERT INTO alarms (id, state, record) VALUES (?, ?, ?) ON CONFLICT(id) "
                "DO UPDATE SET state = excluded.state, record = excluded.record",
                [(r["id"], r["state"], json.dumps(r)) for r in records],
            )
            self._db.executemany("DELETE FROM alarms WHERE id = ?", [(i,) for i in drops])

        self._ride_transaction("save alarm records", save)

    def load_state(self, name: str) -> str | None:
        """A state document (hub/store/riders.py): the pending one, or as last written."""
        return self.riders.state(name) or riders.load_state(self._db, name)

    def load_live(self) -> dict[str, Liveness]:
        """Every device's liveness as last written."""
        return riders.load_live(self._db)

    def load_alarms(self) -> list[dict[str, Any]]:
        """Every persisted alarm record."""
        out = []
        for (record,) in self._db.execute("SELECT record FROM alarms ORDER BY rowid"):
            try:
                out.append(json.loads(record))
            except ValueError:
                _LOGGER.error("unreadable alarm record skipped")
        return out


class AsyncOutbox:
    """The outbox for the event loop: every call runs on one dedicated worker thread."""

    def __init__(self, outbox: Outbox, worker: PriorityWorker | None = None) -> None:
        self.sync = outbox
        # Alarms' commits go before the marks, records, archive writes and page queries
        # still waiting (hub/store/worker.py): an SOS waits for one transaction at most.
        self._pool = worker or PriorityWorker("outbox")
        self.changed = asyncio.Event()  # set on every commit: wakes the uplink
        # Set when an alarm is committed: ends the uplink's pause before a reconnect.
        self.alarm_committed = asyncio.Event()
        self._fresh: deque[Event] = deque(maxlen=_FRESH_KEEP)
        self._fresh_overflowed = False

    @classmethod
    async def open(cls, path: Path, hub_id: str, max_bytes: int, log_keep: int) -> AsyncOutbox:
        """Open (or create) the outbox file without blocking the loop."""
        worker = PriorityWorker("outbox")  # the connection is made on the thread using it
        outbox = await asyncio.wrap_future(worker.submit(Outbox, path, hub_id, max_bytes, log_keep))
        return cls(outbox, worker)

    async def _run(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> T:
        return await asyncio.wrap_future(self._pool.submit(fn, *args, urgent=urgent))

    async def commit(self, draft: Draft) -> CommitResult:
        """Store durably; returns once on disk. An alarm goes before the work waiting."""
        result = await self._run(self.sync.commit, draft, urgent=draft.priority is Priority.ALARM)
        if len(self._fresh) == self._fresh.maxlen:
            self._fresh_overflowed = True
        self._fresh.append(result.event)
        self.changed.set()
        if draft.priority is Priority.ALARM:
            self.alarm_committed.set()
        return result

    async def commit_group(
        self, drafts: list[Draft], vitals: VitalsWrite | None = None
    ) -> GroupResult:
        """Store many drafts (and health-archive buckets) in one forced transaction;
        returns once on disk."""
        result = await self._run(self.sync.commit_group, drafts, vitals)
        for stored in result.stored:
            if len(self._fresh) == self._fresh.maxlen:
                self._fresh_overflowed = True
            self._fresh.append(stored.event)
        if result.stored:
            self.changed.set()
        return result

    def take_fresh(self) -> tuple[list[Event], bool]:
        """Events committed since the last call, and whether some were not kept (too many).

        Lets the uplink publish a just-committed alarm from memory instead of reading it
        back from the SD card; the database stays the truth for everything else.
        """
        events, overflowed = list(self._fresh), self._fresh_overflowed
        self._fresh.clear()
        self._fresh_overflowed = False
        return events, overflowed

    async def pending_upto(self, limit: int) -> tuple[list[Event], int]:
        """Unsent events in send order, and the last seq handed out when they were read."""
        return await self._run(lambda: (self.sync.pending(limit), self.sync.last_seq()))

    async def pending(self, limit: int = 100) -> list[Event]:
        """Unsent events in send order."""
        try:
            return await self._run(self.sync.pending, limit)
        except DecodeError as exc:  # a row we wrote ourselves cannot be read: say so loudly
            raise StoreError(f"outbox row unreadable: {exc}") from exc

    async def mark_sent(self, event_ids: list[str], when: datetime | None = None) -> int:
        """These events reached the broker: marked now, in a transaction of their own."""
        return await self._run(self.sync.mark_sent, event_ids, when)

    def published(self, events: list[Event], when: datetime) -> None:
        """These events reached the broker (PUBACK): left out of `pending` from now on,
        marked on disk with the next transaction (hub/store/riders.py)."""
        sizes = {event.id: len(event.to_json()) for event in events}  # as stored
        self.sync.riders.published(sizes, when.isoformat())

    def published_at(self, event_id: str) -> datetime | None:
        """When the broker acknowledged an event whose mark is not on disk yet."""
        stamp = self.sync.riders.published_at(event_id)
        return None if stamp is None else datetime.fromisoformat(stamp)

    async def write_riders(self) -> None:
        """Write the pending marks, state and liveness now (one forced transaction)."""
        await self._run(self.sync.write_riders)

    def ride_state(self, name: str, text: str) -> None:
        """Keep a state document; written with the next transaction."""
        self.sync.riders.set_state(name, text)

    async def load_state(self, name: str) -> str | None:
        """A state document as last kept."""
        return await self._run(self.sync.load_state, name)

    async def load_live(self) -> dict[str, Liveness]:
        """Every device's liveness as last written."""
        return await self._run(self.sync.load_live)

    async def last_seq(self) -> int:
        """The last seq handed out."""
        return await self._run(self.sync.last_seq)

    async def depth(self) -> dict[int, int]:
        """Unsent events per priority."""
        return await self._run(self.sync.depth)

    async def recent(self, n: int) -> list[LoggedEvent]:
        """The newest n events."""
        return await self._run(self.sync.recent, n)

    async def get(self, event_id: str) -> Event | None:
        """One event by id."""
        return await self._run(self.sync.get, event_id)

    async def save_alarms(self, records: list[dict[str, Any]], drops: list[str]) -> None:
        """Persist alarm records and forget closed ones (one transaction)."""
        await self._run(self.sync.save_alarms, records, drops)

    async def load_alarms(self) -> list[dict[str, Any]]:
        """Every persisted alarm record."""
        return await self._run(self.sync.load_alarms)

    async def store_vitals(self, buckets: list[health.Bucket], keep_before: int) -> None:
        """Write health-archive buckets and drop expired ones (one transaction)."""
        await self._run(health.store_buckets, self.sync._db, buckets, keep_before)

    async def vitals_since(self, since: int) -> list[dict[str, Any]]:
        """The health archive from `since` (epoch seconds)."""
        return await self._run(health.query, self.sync._db, since)

    async def vitals_hourly(self, since: int) -> list[dict[str, Any]]:
        """The health archive from `since` (epoch s) folded per hour and measure."""
        return await self._run(health.hourly, self.sync._db, since)

    async def store_presence(
        self, rows: list[tuple[int, str, bool, str, int | None]], keep_after: int
    ) -> None:
        """Record presence transitions (hub.store.presence), dropping those before keep_after."""
        await self._run(presence.record, self.sync._db, rows, keep_after)

    async def presence_since(self, since: int, limit: int = 500) -> list[dict[str, Any]]:
        """Presence transitions from `since` (epoch s), oldest first."""
        return await self._run(presence.query, self.sync._db, since, limit)

    async def close(self) -> None:
        """Close the database and the worker thread."""
        await self._run(self.sync.close)
        self._pool.shutdown(wait=True)

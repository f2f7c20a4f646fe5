"""The one door into the outbox: event drafts committed (or held while the disk
refuses them), and storage faults reported.

Every event is committed here before anything sends it or says it was sent (DESIGN.md).
What the outbox refuses (a failing SD card) is held in memory (hub/store/held.py) and
stored before the next event is; what the outbox sheds to keep room for alarms is said
in a `fault` event, at most every _FAULT_EVERY_S.

Telemetry nobody waits on (priority 2 through `commit_unless_full`: motion and door
reports, vital-sign summaries) is written in groups: queued in memory and stored in one
forced transaction `outbox.telemetry_group_s` after the first of the group (or once
_GROUP_LIMIT are queued), with the health-archive buckets finished meanwhile. On an SD
card a transaction costs about the same whatever it holds (its pages, the WAL frames,
the file system's journal), so one write per group instead of one per event is what
keeps the card's wear down (bench/README.md, "SD card writes"). Alarms, warnings (a
check-in among them) and anything a caller waits on are committed at once, each in its
own forced transaction, exactly as before; the group never delays them. What a power
cut, a crash or kill -9 can lose is what is queued, at most one group period of it; the
queued telemetry had no seq yet and had not left the hub (the uplink sends only what is
in the outbox), so nothing the centre saw is lost and no seq is given twice. A clean
stop writes the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hub.clock import Clock
from hub.errors import StoreError
from hub.event import Draft, Event, Priority
from hub.store.health import Bucket
from hub.store.held import HeldEvents, Landed
from hub.store.outbox import AsyncOutbox, CommitResult
from hub.tasks import Tasks
from hub.timeouts import wait_within

_LOGGER = logging.getLogger(__name__)

# A storage fault (events shed) is reported at most this often; counts accumulate between.
_FAULT_EVERY_S = 600.0
# Queued telemetry drafts that make the group be written at once, whatever its age: a
# bound on memory (a draft is a few hundred bytes) and on what a crash can lose.
_GROUP_LIMIT = 200
# How often the group writer looks whether the group is due (cheap: no I/O unless due).
_GROUP_CHECK_S = 1.0


class EventCommitter:
    """Commits drafts to the outbox; holds the refused ones; reports shed events."""

    def __init__(
        self, outbox: AsyncOutbox, clock: Clock, tasks: Tasks, group_s: float = 0.0
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.tasks = tasks
        # Telemetry is written in groups at most this often (0: each at once).
        self.group_s = group_s
        self._queued: list[Draft] = []
        self._vitals: list[Bucket] = []  # health-archive buckets, written with the group
        self._vitals_keep_before = 0
        self._queued_since: float | None = None  # monotonic: when the oldest was queued
        # Told when a group with health-archive buckets is on disk (the pages' cached view).
        self.vitals_written: list[Callable[[], None]] = []
        self._group_wanted = asyncio.Event()
        # What the outbox refused (a failing SD card), stored again before anything else.
        self.held = HeldEvents(self._store, monotonic=clock.monotonic)
        # Told of every event as soon as it is on disk (before the uplink can send it).
        self.when_committed: list[Callable[[Event], None]] = []
        self._last_storage_fault: float | None = None
        self._shed_since_fault: dict[int, int] = {}
        self._queued_storage_fault: str | None = None  # its id until the broker has it

    async def commit(self, draft: Draft) -> Event:
        """Commit a non-alarm event to the outbox (it is sent from there); StoreError when
        the outbox refuses it. Events refused earlier and held are stored first."""
        if self.held:
            await self.held.flush()
        return await self._store(draft)

    async def commit_or_hold(self, draft: Draft, then: Landed | None = None) -> Event | None:
        """Commit; a draft the outbox refuses is held and stored later (None now), and
        `then(event)` runs once it is stored, now or then."""
        try:
            event = await self.commit(draft)
        except StoreError as exc:
            self.held.hold(draft, exc, then)
            return None
        if then is not None:
            await then(event)
        return event

    async def commit_unless_full(self, draft: Draft) -> None:
        """Commit a report nobody waits on; an outbox full of alarms refusing it is logged,
        not raised: the reading behind it must still reach the care checks. Telemetry is
        queued for the next group write (see the module's docstring)."""
        if draft.priority is Priority.TELEMETRY and self.group_s > 0:
            self.queue(draft)
            return
        try:
            await self.commit(draft)
        except StoreError as exc:
            _LOGGER.warning("%s not stored: %s", draft.kind, exc)

    def queue(self, draft: Draft) -> None:
        """Queue a telemetry draft for the next group write."""
        if self._queued_since is None:
            self._queued_since = self.clock.monotonic()
        self._queued.append(draft)
        if len(self._queued) >= _GROUP_LIMIT:
            self._group_wanted.set()

    def queue_vitals(self, buckets: list[Bucket], keep_before: int) -> None:
        """Queue health-archive buckets for the next group write (the `vital` events made
        of them are queued as telemetry): one SD-card write for both."""
        if self._queued_since is None:
            self._queued_since = self.clock.monotonic()
        self._vitals.extend(buckets)
        self._vitals_keep_before = keep_before

    @property
    def queued(self) -> int:
        """Telemetry drafts waiting for the next group write."""
        return len(self._queued)

    def group_due(self, now: float) -> bool:
        """Whether the queued telemetry is to be written now (monotonic `now`)."""
        if self._queued_since is None:
            return False
        return len(self._queued) >= _GROUP_LIMIT or now - self._queued_since >= self.group_s

    async def write_groups_forever(self) -> None:
        """Write the queued telemetry whenever its group is due."""
        while True:
            check = min(_GROUP_CHECK_S, self.group_s) if self.group_s > 0 else _GROUP_CHECK_S
            with contextlib.suppress(TimeoutError):
                await wait_within(self._group_wanted.wait(), check)
            self._group_wanted.clear()
            if self.group_due(self.clock.monotonic()):
                await self.write_group()

    async def write_group(self) -> None:
        """Store the queued telemetry now, in one forced transaction.

        A draft the bound refuses is logged and dropped (as `commit_unless_full` always
        did); so is the whole group when the disk refuses it: telemetry is not held.
        """
        drafts, self._queued, self._queued_since = self._queued, [], None
        buckets, self._vitals = self._vitals, []
        if not drafts and not buckets:
            return
        if self.held:
            await self.held.flush()  # refused earlier: stored before what came after
        vitals = (buckets, self._vitals_keep_before) if buckets else None
        try:
            result = await self.outbox.commit_group(drafts, vitals)
        except StoreError as exc:
            _LOGGER.warning(
                "%d telemetry events and %d vital-sign buckets not stored: %s",
                len(drafts),
                len(buckets),
                exc,
            )
            return
        for draft, why in result.refused:
            _LOGGER.warning("%s not stored: %s", draft.kind, why)
        if buckets:
            for listener in self.vitals_written:
                listener()
        for stored in result.stored:
            self._committed(stored)

    async def _store(self, draft: Draft) -> Event:
        return self._committed(await self.outbox.commit(draft))

    def _committed(self, result: CommitResult) -> Event:
        if result.shed or result.disk_full:
            self._storage_fault(result.shed, result.disk_full)
        _LOGGER.info(
            "committed %s seq=%d id=%s", result.event.kind, result.event.seq, result.event.id
        )
        event = result.event
        for listener in self.when_committed:
            listener(event)
        return event

    def sent(self, event: Event) -> None:
        """The broker has `event` (PUBACK): a storage fault waiting for it is out."""
        if event.id == self._queued_storage_fault:
            self._queued_storage_fault = None
            if self._shed_since_fault:  # what was shed while it waited (rate limit kept)
                self._storage_fault({}, disk_full=False)

    async def close(self) -> None:
        """Write the queued telemetry; try the held drafts a last time (the disk may
        answer again); say what is lost."""
        await self.held.flush()
        await self.write_group()
        self.held.close()

    def _storage_fault(self, shed: dict[int, int], disk_full: bool) -> None:
        """Say (at most every _FAULT_EVERY_S) that events were shed to keep room for alarms."""
        why = "disk full" if disk_full else "outbox full"
        for priority, n in shed.items():
            self._shed_since_fault[priority] = self._shed_since_fault.get(priority, 0) + n
        if self._queued_storage_fault is not None and shed.get(int(Priority.WARNING)):
            # The queued fault is a warning too: it may have been shed, and never be sent.
            queued = self._queued_storage_fault
            self.tasks.spawn(self._requeue_shed_fault(queued, disk_full), "storage-fault")
        now = self.clock.monotonic()
        if self._last_storage_fault is not None and now - self._last_storage_fault < _FAULT_EVERY_S:
            return
        if self._queued_storage_fault is not None:
            # The last one is still waiting for the uplink: queuing one every 10 min of a
            # long outage would fill the outbox with faults. The counts keep adding up.
            return
        self._last_storage_fault = now
        _LOGGER.warning("%s: shed unsent events %s (priority: count)", why, self._shed_since_fault)
        data = {
            "component": "storage",
            "detail": f"{why}: older telemetry/warnings dropped so alarms keep their place",
            "shed": {str(p): n for p, n in self._shed_since_fault.items()},
            "disk_full": disk_full,
        }
        self._shed_since_fault = {}
        draft = Draft.create("fault", self.clock, data=data)
        self._queued_storage_fault = draft.id
        self.tasks.spawn(self.commit(draft), "storage-fault")

    async def _requeue_shed_fault(self, fault_id: str, disk_full: bool) -> None:
        """A queued storage fault that was itself shed: queue a new one (it was never sent,
        so the rate limit does not hold it back)."""
        if self._queued_storage_fault != fault_id or await self.outbox.get(fault_id) is not None:
            return
        if self._queued_storage_fault == fault_id:  # still, after the lookup
            _LOGGER.warning("the storage fault report was shed itself; queuing a new one")
            self._queued_storage_fault = None
            self._last_storage_fault = None
            self._storage_fault({}, disk_full)

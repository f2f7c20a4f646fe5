"""The health archive at work: finished vital-sign buckets (hub/store/health.py) written
to the archive and sent as `vital` telemetry, and the archive read back for `pingan-hub
health`. Kept `health.keep_days`; what the hub stops with is archived, not sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.clock import Clock
from hub.config import RunningConfig
from hub.errors import HubError
from hub.event import Draft, Source
from hub.services.committer import EventCommitter
from hub.store.health import VitalBuckets
from hub.store.outbox import AsyncOutbox

# Finished health-archive buckets are looked for this often.
_ARCHIVE_CHECK_S = 30.0


class HealthArchive:
    """Writes finished vital-sign buckets and answers what the archive holds."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        *,
        vitals: VitalBuckets,
        outbox: AsyncOutbox,
        events: EventCommitter,
    ) -> None:
        self.running = running
        self.clock = clock
        self.vitals = vitals
        self.outbox = outbox
        self.events = events
        # The pages' hourly view of the archive: (since, rows).
        self._hourly: tuple[int, list[dict[str, Any]]] | None = None
        events.vitals_written.append(self._archive_written)

    def _archive_written(self) -> None:
        """Buckets queued with the telemetry group are on disk: the pages' view is stale."""
        self._hourly = None

    async def run(self) -> None:
        """Write finished vital-sign buckets (and send each as `vital` telemetry)."""
        while True:
            await asyncio.sleep(_ARCHIVE_CHECK_S)
            await self.archive_now()

    async def archive_now(self, *, everything: bool = False) -> None:
        """Write the finished buckets now (`everything`: the unfinished too, unsent)."""
        now = self.clock.now().timestamp()
        buckets = self.vitals.complete(now, everything=everything)
        if not buckets:
            return
        keep_before = int(now - self.running.cfg.health.keep_days * 86400)
        if self.events.group_s > 0 and not everything:
            # Written with the telemetry group, with the `vital` events made of them: one
            # SD-card write for both (hub/services/committer.py); a crash before it loses
            # them as it loses the queued telemetry. The pages' view is dropped when the
            # group is written (_archive_written).
            self.events.queue_vitals(buckets, keep_before)
        else:
            await self.outbox.store_vitals(buckets, keep_before)
            self._hourly = None  # the pages' view is out of date
        if everything:
            return  # stopping: the archive has them; no telemetry from a dying hub
        for bucket in buckets:
            await self.events.commit_unless_full(
                Draft.create(
                    "vital", self.clock, data=bucket.summary(), source=Source(bucket.device)
                )
            )

    async def query(self, days: object = 1) -> dict[str, Any]:
        """The archived buckets of the last `days` days, as `pingan-hub health` shows them."""
        if not isinstance(days, (int, float)) or not 0 < days <= 3650:
            raise HubError("days must be a number from 0 to 3650")
        since = int(self.clock.now().timestamp() - days * 86400)
        return {"vitals": await self.outbox.vitals_since(since)}

    async def hourly(self, days: int) -> list[dict[str, Any]]:
        """The last `days` days of the archive folded per hour and measure, for the family
        page's charts: one range query on the outbox's database thread (never on the event
        loop), kept in memory until the next buckets are written, so family phones
        reloading the page cost no query between two writes (at most one per bucket_s)."""
        now = self.clock.now().timestamp()
        since = int(now // 3600 * 3600 - days * 86400)
        cached = self._hourly
        if cached is not None and cached[0] == since:
            return cached[1]
        if cached is not None and cached[0] < since:  # a longer view holds this one
            return [row for row in cached[1] if row["bucket"] >= since]
        rows = await self.outbox.vitals_hourly(since)
        self._hourly = (since, rows)
        return rows

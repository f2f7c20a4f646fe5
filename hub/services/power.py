"""The hub's own power ([power]): the UPS HAT watched, power_lost after the ride-through,
power_restored, battery_low for the hub's battery; each report remembered once stored,
so a restart in the middle of an outage does not repeat it."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from hub.clock import Clock
from hub.config import RunningConfig
from hub.event import Draft, Event, Source
from hub.sensors.supervision import Notice
from hub.services.committer import EventCommitter
from hub.tasks import Tasks

_LOGGER = logging.getLogger(__name__)


class PowerWatch:
    """Runs the UPS monitor and commits its notices; `ups` is None until started."""

    def __init__(
        self, running: RunningConfig, clock: Clock, tasks: Tasks, *, events: EventCommitter
    ) -> None:
        self.running = running
        self.clock = clock
        self.tasks = tasks
        self.events = events
        self.ups: Any = None  # hub.sensors.ups.UpsMonitor when [power] watches a UPS HAT

    def start(self, pin_factory: Any) -> None:
        """Start watching (hub.sensors.ups is imported only when [power] is set)."""
        from hub.sensors.ups import UpsMonitor

        cfg = self.running.cfg
        self.ups = UpsMonitor(
            cfg.power,
            pin_factory=pin_factory,
            monotonic=self.clock.monotonic,
            state_path=cfg.data_path / "power.json",
            wall=lambda: self.clock.now().timestamp(),
        )
        self.tasks.supervise("power", self._report)

    async def _report(self) -> None:
        source = Source("hub:power", name="主机电源", protocol=self.running.cfg.power.source)
        async for notice in self.ups.notices():
            _LOGGER.warning("hub power: %s %s", notice.kind, notice.data)
            src = replace(source, device=notice.device)

            async def remember(_event: Event, notice: Notice = notice) -> None:
                await self.ups.remember(notice)  # a restart mid-outage does not repeat it

            # A refused report is held and stored later (then remembered): the state
            # machine has already moved on, so it must not be lost here.
            await self.events.commit_or_hold(
                Draft.create(notice.kind, self.clock, data=notice.data, source=src),
                then=remember,
            )

    def status(self) -> dict[str, Any] | None:
        """What `pingan-hub status` shows of the hub's power (None: not watched)."""
        return self.ups.status() if self.ups is not None else None

    def close(self) -> None:
        """Release the UPS HAT's pins."""
        if self.ups is not None:
            self.ups.close()

"""The fleet-config applier: a signed push verified, applied to the running hub at once,
confirmed by the next broker connection or rolled back to the last good config when none
comes (hub/sync/config_push.py judges a push, hub/sync/ota.py keeps the trial's clock).

One push at a time, and never beside a confirm: both write the fleet store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from hub.clock import Clock
from hub.config import Config, RunningConfig
from hub.event import Draft
from hub.services.committer import EventCommitter
from hub.store.config_store import ConfigStore
from hub.sync.config_push import confirm_push, receive_push
from hub.sync.ota import ApplyGuard, ReportStatus, reported_payload, startup_config
from hub.sync.uplink import Uplink
from hub.tasks import Tasks

_LOGGER = logging.getLogger(__name__)

# Told the config before and after a push (or a rollback) replaced it in RunningConfig.
ConfigListener = Callable[[Config, Config], None]


class FleetConfigApplier:
    """Starts the hub on the fleet config in force; applies, confirms and rolls back."""

    def __init__(
        self, running: RunningConfig, clock: Clock, tasks: Tasks, local_raw: dict[str, Any]
    ) -> None:
        self.running = running
        self.clock = clock
        self.tasks = tasks
        # The installer's TOML document: fleet pushes are merged over it.
        self.local_raw = local_raw
        self.store = ConfigStore(running.cfg.data_path)
        self.guard = ApplyGuard(running.cfg.fleet.rollback_after_s)
        self._lock = asyncio.Lock()
        # The live parts that take a new config without a restart (set once they run).
        self.when_changed: list[ConfigListener] = []
        self.uplink: Uplink | None = None
        self.events: EventCommitter | None = None

    def connect(self, uplink: Uplink, events: EventCommitter) -> None:
        """The uplink reports the pushes' outcomes; the committer stores config_applied."""
        self.uplink = uplink
        self.events = events

    async def load(self) -> None:
        """Start on the last applied fleet config when it still validates (else the last
        good one, else the local file), and put an unconfirmed one back on trial."""
        if not self.local_raw:
            return
        state = await asyncio.to_thread(self.store.load)
        if not state.applied.version and not state.last_good.version:
            return
        version, cfg, skipped = startup_config(
            self.local_raw,
            [
                (state.applied.version, state.applied.overlay),
                (state.last_good.version, state.last_good.overlay),
            ],
        )
        for problem in skipped:
            _LOGGER.error("%s", problem)
        self._use(cfg, version)
        if version and not state.applied.confirmed:
            self.guard.on_applied(version, self.clock.monotonic())

    def _use(self, cfg: Config, version: int) -> None:
        """Make `cfg` the running config, without dropping or delaying anything in flight."""
        before = self.running.cfg
        self.running.cfg = cfg
        self.running.version = version
        self.guard.rollback_after_s = cfg.fleet.rollback_after_s
        for listener in self.when_changed:
            listener(before, cfg)

    def on_push(self, raw: bytes) -> None:
        """A config push arrived (the uplink's callback): judged and applied in the background."""
        self.tasks.spawn(self.apply(raw), "fleet-config")

    async def apply(self, raw: bytes) -> None:
        """Judge a signed push; apply it atomically and report, or report why not."""
        async with self._lock:  # one push at a time, and never beside a confirm
            await self._apply_locked(raw)

    async def _apply_locked(self, raw: bytes) -> None:
        assert self.uplink is not None and self.events is not None, "connect() first"
        cfg = self.running.cfg
        accepted, report = await receive_push(self.store, raw, cfg, self.local_raw, self.clock)
        if accepted is None:
            if report is not None:
                self.uplink.report(report)
            return
        same_broker = (
            accepted.config.mqtt == cfg.mqtt and accepted.config.topic_root == cfg.topic_root
        )
        self._use(accepted.config, accepted.version)
        _LOGGER.info("fleet config version %d applied", accepted.version)
        await self.events.commit(
            Draft.create("config_applied", self.clock, data={"version": accepted.version})
        )
        self.guard.on_applied(accepted.version, self.clock.monotonic())
        # Same broker: the trial passes at once. A new broker must prove itself by a new
        # connection; the old one may still look connected for a moment after the switch,
        # and taking that as proof would confirm a push to an unreachable broker.
        if same_broker and self.uplink.state.connected:
            self.on_connected()

    def on_connected(self) -> None:
        """A broker connection: a config on trial has passed."""
        version = self.guard.on_connected(self.clock.monotonic())
        if version is not None:
            self.tasks.spawn(self._confirm(version), "fleet-confirm")

    async def _confirm(self, version: int) -> None:
        assert self.uplink is not None
        async with self._lock:
            await confirm_push(self.store, version)
        self.uplink.report(reported_payload(version, ReportStatus.APPLIED, self.clock.now()))

    async def tick(self, now: float) -> None:
        """Roll back a config on trial that has had no broker connection in time."""
        rollback = self.guard.tick(now)
        if rollback is not None:
            await self._roll_back(rollback.version)

    async def _roll_back(self, version: int) -> None:
        """The pushed config left the hub without a broker: back to the last good one."""
        assert self.uplink is not None
        async with self._lock:
            state = await asyncio.to_thread(self.store.roll_back)
        _, cfg, _ = startup_config(
            self.local_raw, [(state.last_good.version, state.last_good.overlay)]
        )
        _LOGGER.error("fleet config version %d rolled back: no broker connection", version)
        self._use(cfg, state.last_good.version)
        self.uplink.report(
            reported_payload(
                version,
                ReportStatus.ROLLED_BACK,
                self.clock.now(),
                message=f"no broker connection within {self.guard.rollback_after_s:.0f} s",
            )
        )

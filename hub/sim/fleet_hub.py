"""A simulated hub for fleet runs: the hub's real uplink and config push path, nothing else.

Thousands of these run in one process (bench/fleet.py, tests/test_rabbitmq_cluster.py).
Each runs `hub.sync.uplink.Uplink` (aiomqtt on paho: persistent session, LWT, retained
heartbeat, subscriptions to ack, cmd/# and config/desired, broker rotation) and, on
`config/desired`, the hub's own push path (`hub.sync.config_push.receive_push`:
`verify_envelope` with its Ed25519 check and full config validation, `ConfigStore`
written atomically with fsync, then `confirm_push` and the `config/reported` payload).

What it does not have: GPIO, care checks, the registry, the alarm lifecycle. Most run
with an empty stand-in outbox (nothing is ever committed, the heartbeat says depth 0);
the alarm sample gets the real SQLite outbox (`with_outbox`), commits an SOS with
`raise_alarm()` and, like the lifecycle, publishes it again every `sos.resend_s` until
the centre's ack says `received`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, cast

from hub import __version__
from hub.clock import SystemClock
from hub.config import Config, parse_config
from hub.event import Draft, Event
from hub.store.config_store import ConfigStore
from hub.store.outbox import AsyncOutbox
from hub.sync.config_push import confirm_push, receive_push
from hub.sync.messages import Ack
from hub.sync.ota import ApplyGuard, ReportStatus, reported_payload
from hub.sync.uplink import Uplink


class EmptyOutbox:
    """What the uplink sees of an outbox nothing is committed to."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.alarm_committed = asyncio.Event()  # never set: nothing is committed here

    def take_fresh(self) -> tuple[list[Any], bool]:
        """Nothing fresh."""
        return [], False

    async def pending_upto(self, limit: int) -> tuple[list[Any], int]:
        """Nothing pending."""
        return [], 0

    async def mark_sent(self, event_ids: list[str], when: datetime | None = None) -> int:
        """Nothing to mark."""
        return 0


class FleetHub:
    """One simulated hub: the real Uplink and the real config push path."""

    def __init__(self, raw: dict[str, Any], outbox: AsyncOutbox | None = None) -> None:
        self.local_raw = raw
        self.cfg: Config = parse_config(raw)
        self.clock = SystemClock()
        self.store = ConfigStore(self.cfg.data_path)
        self.guard = ApplyGuard(self.cfg.fleet.rollback_after_s)
        self.lock = asyncio.Lock()
        self.outbox = outbox
        self.config_version = 0
        self.applied: dict[int, float] = {}  # version -> monotonic time reported applied
        self.rejected = 0
        self.alarms: dict[str, float] = {}  # alarm id -> monotonic time committed
        self.acked: dict[str, float] = {}  # alarm id -> monotonic time of `received`
        self.started_at = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.uplink = Uplink(
            self.cfg,
            outbox if outbox is not None else cast(AsyncOutbox, EmptyOutbox()),
            on_sent=self._on_sent,
            on_ack=self._on_ack,
            on_command=lambda _name, _args: None,
            status_payload=self.heartbeat,
            on_config=self._on_config,
            on_connected=self._on_connected,
        )
        self._sent: dict[str, Event] = {}

    @classmethod
    async def with_outbox(cls, raw: dict[str, Any]) -> FleetHub:
        """A hub with the real SQLite outbox in its data directory (for the alarm sample)."""
        cfg = parse_config(raw)
        outbox = await AsyncOutbox.open(
            cfg.data_path / "outbox.db", cfg.hub.id, cfg.outbox.max_bytes, cfg.outbox.log_keep
        )
        return cls(raw, outbox)

    async def heartbeat(self) -> dict[str, Any]:
        """The same fields as Hub.heartbeat (no paired devices)."""
        depth = {"0": 0, "1": 0, "2": 0}
        if self.outbox is not None:
            depth = {str(int(p)): n for p, n in (await self.outbox.depth()).items()}
        return {
            "ts": self.clock.now().isoformat().replace("+00:00", "Z"),
            "version": __version__,
            "config_version": self.config_version,
            "uptime_s": round(time.monotonic() - self.started_at),
            "outbox": depth,
            "open_alarms": len(self.alarms) - len(self.acked),
            "devices": {"online": 0, "offline": 0, "low_battery": 0},
        }

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def raise_alarm(self) -> str:
        """Commit an SOS (as the red button does); returns its id. Resent until acked."""
        assert self.outbox is not None, "an alarm needs the hub made with_outbox"
        result = await self.outbox.commit(Draft.create("sos", self.clock, data={"bench": True}))
        event = result.event
        self.alarms[event.id] = time.monotonic()
        self._spawn(self._resend_until_acked(event))
        return event.id

    def _on_sent(self, event: Event) -> None:
        self._sent[event.id] = event

    async def _resend_until_acked(self, event: Event) -> None:
        # As the lifecycle: the first publish is the outbox's; then every sos.resend_s.
        while event.id not in self.acked:
            await asyncio.sleep(self.cfg.sos.resend_s)
            if event.id not in self.acked and event.id in self._sent:
                await self.uplink.resend(event)

    def _on_ack(self, ack: Ack) -> None:
        if ack.id in self.alarms:
            self.acked.setdefault(ack.id, time.monotonic())

    def _on_config(self, raw: bytes) -> None:
        self._spawn(self._apply(raw))

    async def _apply(self, raw: bytes) -> None:
        async with self.lock:  # as Hub._apply_config
            accepted, report = await receive_push(
                self.store, raw, self.cfg, self.local_raw, self.clock
            )
            if accepted is None:
                if report is not None:
                    self.rejected += 1
                    self.uplink.report(report)
                return
            self.cfg = accepted.config  # as Hub._use_config, for the parts this hub has
            self.config_version = accepted.version
            self.uplink.reconfigure(accepted.config)
            self.guard.on_applied(accepted.version, self.clock.monotonic())
        if self.uplink.state.connected:
            self._on_connected()

    def _on_connected(self) -> None:
        version = self.guard.on_connected(self.clock.monotonic())
        if version is not None:
            self._spawn(self._confirm(version))

    async def _confirm(self, version: int) -> None:
        async with self.lock:
            await confirm_push(self.store, version)
        self.applied.setdefault(version, time.monotonic())
        self.uplink.report(reported_payload(version, ReportStatus.APPLIED, self.clock.now()))

    async def run(self) -> None:
        """The uplink until cancelled."""
        await self.uplink.run()

    async def stop(self) -> None:
        """Stop the uplink and close the outbox."""
        self.uplink.stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.outbox is not None:
            await self.uplink.flush_marks_now()
            await self.outbox.close()

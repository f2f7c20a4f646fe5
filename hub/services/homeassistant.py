"""Home Assistant discovery at work ([homeassistant] discovery): the hub's state document
(open alarms, last check-in, device health) kept up to date on the broker, published
only when it changes (hub/sync/homeassistant.py builds it)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from hub import __version__
from hub.config import RunningConfig
from hub.event import Event
from hub.services.alarms import AlarmService
from hub.services.devices import DeviceAdmin
from hub.store.outbox import AsyncOutbox
from hub.store.registry import Registry
from hub.sync.homeassistant import HaState, HomeAssistantBridge
from hub.sync.uplink import Uplink
from hub.tasks import Tasks

_LOGGER = logging.getLogger(__name__)

# The state document is re-evaluated this often (published only on change); the last
# check-in is looked for among this many recent events at start.
_HA_REFRESH_S = 5.0
_HA_CHECKIN_LOOKBACK = 500


def _iso(ts: datetime) -> str:
    """UTC ISO 8601 with a Z, as events carry it."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


class HomeAssistantLink:
    """Keeps Home Assistant's view of the hub current; `committed` follows check-ins."""

    def __init__(
        self,
        running: RunningConfig,
        tasks: Tasks,
        *,
        outbox: AsyncOutbox,
        uplink: Uplink,
        alarms: AlarmService,
        registry: Registry,
        devices: DeviceAdmin,
    ) -> None:
        cfg = running.cfg
        self.tasks = tasks
        self.outbox = outbox
        self.alarms = alarms
        self.registry = registry
        self.devices = devices
        self.last_checkin: str | None = None  # ts of the last check-in event
        self.bridge = HomeAssistantBridge(
            cfg.homeassistant.prefix,
            cfg.topic_root,
            cfg.hub.id,
            __version__,
            uplink.publish_retained,
        )

    async def start(self) -> None:
        """Find the last check-in, follow the alarms and refresh the state in time."""
        for row in await self.outbox.recent(_HA_CHECKIN_LOOKBACK):  # newest first
            if row.event.kind == "checkin":
                self.last_checkin = _iso(row.event.ts)
                break
        self.alarms.listeners.append(lambda _alarm: self.refresh())
        self.tasks.supervise("homeassistant", self._refresh_forever)

    def committed(self, event: Event) -> None:
        """An event stored (a when_committed listener): a check-in is shown at once."""
        if event.kind == "checkin":
            self.last_checkin = _iso(event.ts)
            self.refresh()

    def on_connected(self) -> None:
        """A broker connection: discovery and the state document again."""
        self.bridge.on_connected(self.state())

    def state(self) -> HaState:
        """The hub's state as Home Assistant shows it."""
        open_alarms = sorted(
            (a for a in self.alarms.book.alarms.values() if a.is_open), key=lambda a: a.raised_at
        )
        devices = self.registry.devices()
        levels = [d.battery for d in devices if d.battery is not None]
        health = self.devices.health()
        return HaState(
            open_alarms=len(open_alarms),
            alarm=open_alarms[-1].state.value if open_alarms else "none",
            last_checkin=self.last_checkin,
            devices_offline=health["offline"],
            devices_low_battery=health["low_battery"],
            battery_min=min(levels) if levels else None,
        )

    def refresh(self) -> None:
        """Publish the state document if it changed."""
        self.bridge.update(self.state())

    async def _refresh_forever(self) -> None:
        while True:  # check-ins and device health change without an alarm listener call
            await asyncio.sleep(_HA_REFRESH_S)
            self.refresh()

"""What the hub says about itself: the retained heartbeat the centre sees, `pingan-hub
status` for the installer, and the start-up line on file descriptors (README, "Resource
limits")."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub import __version__
from hub.clock import Clock
from hub.config import RunningConfig
from hub.control import MAX_CLIENTS as CONTROL_CLIENTS
from hub.sensors.signal import read_link
from hub.services.alarms import AlarmService
from hub.services.committer import EventCommitter
from hub.services.devices import DeviceAdmin
from hub.services.family import FamilyEscalation
from hub.store.outbox import AsyncOutbox
from hub.sync.uplink import Uplink
from hub.tasks import Tasks
from hub.web.limits import MAX_PER_ADDRESS, connection_cap, descriptor_limit

_LOGGER = logging.getLogger(__name__)

# Below this many descriptors left for the alarm path after the pages' and the control
# socket's share, the start-up line is a warning (a LimitNOFILE set too low).
_MIN_RESERVE_FDS = 256

# A part's own status block (power, BLE), or None when the part is off.
PartStatus = Callable[[], dict[str, Any] | None]


def open_descriptors() -> int:
    """File descriptors this process holds now (Linux /proc; 0 where there is none)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listing it
    except OSError:
        return 0


def log_descriptor_budget(web_enabled: bool) -> None:
    """Say how the process's file descriptors are shared (README, "Resource limits")."""
    nofile = descriptor_limit()
    pages = connection_cap(nofile) if web_enabled else 0
    reserve = nofile - pages - CONTROL_CLIENTS - 1 - open_descriptors()
    log = _LOGGER.info if reserve >= _MIN_RESERVE_FDS else _LOGGER.warning
    log(
        "file descriptors: %d; the pages may hold %d (%d per address), the control "
        "socket %d; %d left for the alarm path",
        nofile,
        pages,
        MAX_PER_ADDRESS,
        CONTROL_CLIENTS,
        reserve,
    )


class StatusReport:
    """The heartbeat's fields and `pingan-hub status`, read from the parts that own them."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        tasks: Tasks,
        *,
        outbox: AsyncOutbox,
        uplink: Uplink,
        events: EventCommitter,
        alarms: AlarmService,
        devices: DeviceAdmin,
        family: FamilyEscalation,
        power: PartStatus,
        ble: PartStatus,
    ) -> None:
        self.running = running
        self.clock = clock
        self.tasks = tasks
        self.outbox = outbox
        self.uplink = uplink
        self.events = events
        self.alarms = alarms
        self.devices = devices
        self.family = family
        self.power = power
        self.ble = ble
        self.started_at = time.monotonic()

    async def heartbeat(self) -> dict[str, Any]:
        """The retained status payload's fields."""
        depth = await self.outbox.depth()
        return {
            "ts": self.clock.now().isoformat().replace("+00:00", "Z"),
            "version": __version__,
            "config_version": self.running.version,
            "uptime_s": round(time.monotonic() - self.started_at),
            "outbox": {str(k): v for k, v in depth.items()},
            "open_alarms": sum(1 for a in self.alarms.book.alarms.values() if a.is_open),
            "devices": self.devices.health(),
            "signal": await self.link_signal(),
        }

    async def link_signal(self) -> dict[str, Any]:
        """Uplink kind, Wi-Fi and modem signal (the modem's last reading: never waits on it)."""
        # Two small procfs files, made by the kernel on read (no disk IO): read in place,
        # so the heartbeat adds no await point to the uplink's connect path.
        link = read_link(Path(self.running.cfg.web.wireless_path))
        modem = self.family.modem
        if modem is not None and modem.is_open:
            self.tasks.spawn(self.family.signal(), "modem-signal")  # fresh for the next heartbeat
        return {
            "uplink": link.uplink,
            "wifi_rssi_dbm": link.wifi.level_dbm if link.wifi else None,
            "modem_rssi_dbm": self.family.modem_rssi_dbm,
        }

    async def status(self) -> dict[str, Any]:
        """Everything `pingan-hub status` shows."""
        cfg = self.running.cfg
        up = self.uplink.state
        depth = await self.outbox.depth()
        now = self.clock.monotonic()
        ble = self.ble()
        return {
            "hub": cfg.hub.id,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_at),
            "clock_synced": self.clock.synced(),
            "fds": {"open": open_descriptors(), "limit": descriptor_limit()},
            "uplink": {
                "connected": up.connected,
                "protocol": up.protocol,
                "broker": f"{cfg.mqtt.host}:{cfg.mqtt.port}",
                "connected_since": up.connected_since,
                "last_heartbeat": up.last_heartbeat,
                "last_error": up.last_error,
                "published": up.published,
            },
            "devices": self.devices.health(),
            "power": self.power(),
            **({"ble": ble} if ble is not None else {}),
            "outbox": {
                "depth": {str(k): v for k, v in depth.items()},
                "pending_bytes": self.outbox.sync.pending_bytes,
                "last_seq": await self.outbox.last_seq(),
                "held": self.events.held.kinds(),  # refused by the disk, waiting in memory
                "queued_telemetry": self.events.queued,  # the next group write's
            },
            "alarms": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "state": a.state.value,
                    "seq": a.seq,
                    "test": a.test,
                    "escalated": a.escalated,
                    "operator": a.operator,
                    "note": a.note,
                    "age_s": round(now - a.raised_at),
                }
                for a in sorted(self.alarms.book.alarms.values(), key=lambda a: a.raised_at)
            ],
        }

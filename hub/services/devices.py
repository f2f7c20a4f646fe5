"""Device administration: pairing, renaming, removing and listing the sensors of a home.

One set of operations for the installer's two ways in, the CLI's control socket (`pingan-
hub devices ...`) and the pages: each checks what it is given (JSON values from the
socket, form fields from the pages) and says what is wrong in a HubError. A device
paired, removed or moved counts at once for supervision and the care checks.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from typing import Any

from hub.clock import Clock
from hub.config import RunningConfig
from hub.errors import HubError
from hub.sensors.keys import canonical_key, pairable
from hub.sensors.supervision import Health, Supervisor
from hub.services.care import CareService
from hub.store.registry import Device, Registry

# What a paired device can be.
DEVICE_KINDS = (
    "door",
    "motion",
    "smoke",
    "gas",
    "co",
    "water",
    "button",
    "wearable",
    "sensor",
    "radar",
)
_BLE_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def protocol_of(key: str) -> str:
    """The protocol of a device key never heard yet: a BLE address, or `protocol:...`."""
    return "bthome" if _BLE_ADDRESS.match(key) else key.split(":", 1)[0]


class DeviceAdmin:
    """The paired devices: pair, rename, remove, list, and how they are doing."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        *,
        registry: Registry,
        supervisor: Supervisor,
        care: CareService,
    ) -> None:
        self.running = running
        self.clock = clock
        self.registry = registry
        self.supervisor = supervisor
        self.care = care

    async def listing(self) -> dict[str, Any]:
        """Paired devices and the pairing inbox, as `devices list` shows them."""
        devices = await asyncio.to_thread(self.registry.devices)
        inbox = await asyncio.to_thread(self.registry.inbox)
        return {
            "devices": [asdict(d) for d in devices],
            "inbox": [asdict(h) for h in inbox],
        }

    async def pair(
        self,
        key: object,
        kind: object,
        name: object = "",
        room: object = "",
        *,
        body_worn: object = False,
    ) -> Device:
        """Pair a heard device (or a key given by hand) as `kind`; HubError says what is wrong."""
        if not all(isinstance(v, str) for v in (key, kind, name, room)) or not key or not kind:
            raise HubError("pair needs key and kind (text), and optionally name and room")
        if not isinstance(body_worn, bool):
            raise HubError("body_worn must be true or false")
        if kind not in DEVICE_KINDS:
            raise HubError(f"kind must be one of {', '.join(DEVICE_KINDS)}")
        cfg = self.running.cfg
        modbus = [det.key(cfg.modbus.port) for det in cfg.modbus.detectors]
        try:
            key = pairable(str(key), modbus, [d.key for d in cfg.radar.devices])
        except ValueError as exc:  # a key no reading will ever carry: say so now
            raise HubError(f"not paired: {exc}") from exc
        heard = {h.key: h for h in await asyncio.to_thread(self.registry.inbox)}.get(key)
        protocol = heard.protocol if heard else protocol_of(key)
        device = await asyncio.to_thread(
            lambda: self.registry.pair(
                key,
                protocol=protocol,
                address=key,
                kind=str(kind),
                name=str(name)[:40],
                room=str(room)[:40],
                body_worn=body_worn,
            )
        )
        # Paired again (perhaps as another kind): its next alarm is a new one.
        await self.care.forget_hazards(device.key)
        self.supervisor.expect(device.key, device.kind, self.clock.monotonic())
        self.care.devices_changed()  # a door paired now is watched tonight
        return device

    async def remove(self, key: object) -> str:
        """Unpair a device; returns its key. HubError when it is not paired."""
        if not isinstance(key, str) or not await asyncio.to_thread(self.registry.remove, key):
            raise HubError(f"no paired device {key!r}")
        key = canonical_key(key)
        self.supervisor.forget(key)
        await self.care.forget_hazards(key)
        self.care.devices_changed()
        return key

    async def rename(self, key: object, name: object = None, room: object = None) -> Device:
        """Rename or move a device (None keeps that field); HubError when it is not paired."""
        if not isinstance(key, str) or self.registry.get(key) is None:
            raise HubError(f"no paired device {key!r}")
        if not (name is None or isinstance(name, str)) or not (
            room is None or isinstance(room, str)
        ):
            raise HubError("name and room must be text")
        device = await asyncio.to_thread(lambda: self.registry.rename(key, name=name, room=room))
        self.care.devices_changed()  # a moved PIR counts for its new room
        return device

    def get(self, key: str) -> Device | None:
        """A paired device by key (any spelling of it), or None."""
        return self.registry.get(key)

    def paired(self) -> list[Device]:
        """The paired devices (from memory)."""
        return self.registry.devices()

    def health_of(self, key: str) -> Health | None:
        """Whether a paired device is heard as often as it should be (None: not yet known)."""
        return self.supervisor.health(key)

    def health(self) -> dict[str, int]:
        """Paired devices heard recently, gone silent, and with a low battery."""
        devices = self.registry.devices()
        offline = sum(1 for d in devices if self.supervisor.health(d.key) is Health.OFFLINE)
        return {
            "online": len(devices) - offline,
            "offline": offline,
            "low_battery": sum(1 for d in devices if d.battery_low),
        }

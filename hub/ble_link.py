"""The hub's BLE side: the shared scanner, GATT wearables, presence history, `locate`.

Wiring only (the logic is in hub.sensors.ble, .presence, .gatt_link and hub.store.presence):
  * BTHome readings go to the reading pipeline (hub/services/readings.py), exactly like
    RFLink's: registry
    attribution, supervision, care checks; a paired pendant's press raises SOS;
  * GATT readings of paired wearables (heart rate, SpO2, blood pressure, battery) too,
    so they reach the vital-sign checks and the health archive;
  * presence transitions go to the care checks (away mode) and the presence history;
    nothing about presence is sent to the centre unless it asks (cmd/locate) or an
    alarm is raised (the last known presence is attached to it);
  * scanner faults become `fault` events.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from hub.clock import Clock
from hub.config import Config
from hub.event import Draft, Priority, Source
from hub.reading import Reading
from hub.sensors.ble import PROTOCOL, BleSource, ScannerFactory
from hub.sensors.ble_options import parse_addresses, parse_bindkeys
from hub.sensors.presence import PresenceTracker
from hub.services.care import CareService
from hub.services.committer import EventCommitter
from hub.services.readings import ReadingPipeline
from hub.store.outbox import AsyncOutbox
from hub.tasks import Tasks

if TYPE_CHECKING:
    from hub.sensors.gatt_link import ClientClass, GattLink

_LOGGER = logging.getLogger(__name__)

# What `locate` sends at most: the newest transitions of the history (a few dozen a day).
LOCATE_MAX_TRANSITIONS = 200


class BleParts(Protocol):
    """What the BLE link uses of the running hub: the config in force, the task owner, the
    reading pipeline, the committer and the outbox (presence history), the care checks."""

    @property
    def cfg(self) -> Config: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def tasks(self) -> Tasks: ...
    @property
    def readings(self) -> ReadingPipeline: ...
    @property
    def events(self) -> EventCommitter: ...
    @property
    def outbox(self) -> AsyncOutbox: ...
    @property
    def care(self) -> CareService: ...


class BleLink:
    """Runs the BLE parts of one hub; see the module docstring."""

    def __init__(
        self,
        parts: BleParts,
        *,
        scanner_factory: ScannerFactory | None = None,
        client_class: ClientClass | None = None,
    ) -> None:
        self.parts = parts
        ble = parts.cfg.ble
        clock = parts.clock
        # The care checks know the wearable by the key the installer wrote in
        # care.wearable_devices; the radio reports addresses in upper case.
        self._care_key = {d.upper(): d for d in parts.cfg.care.wearable_devices}
        wearables = tuple(self._care_key)
        self.presence = PresenceTracker(
            wearables,
            near_dbm=ble.presence_near_dbm,
            away_dbm=ble.presence_away_dbm,
            away_after_s=ble.presence_away_s,
            now=clock.monotonic(),
        )
        self.gatt_devices = parse_addresses(ble.gatt_devices)
        self.source = BleSource(
            clock,
            adapter=ble.adapter,
            passive=ble.passive,
            stall_s=ble.stall_s,
            room=ble.room,
            presence=self.presence,
            bindkeys=parse_bindkeys(ble.bindkeys),
            connect_to=self.gatt_devices,
            scanner_factory=scanner_factory,
        )
        self._client_class = client_class
        self._links: dict[str, GattLink] = {}
        # The last transition of each wearable (what an alarm and `locate` report).
        self.last: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        """Start the scanner and a connection keeper per GATT wearable (supervised by the hub)."""
        self.parts.tasks.supervise("ble", self._scan_forever)
        for address in self.gatt_devices:
            self.parts.tasks.supervise(
                f"gatt-{address}", functools.partial(self._gatt_forever, address)
            )

    async def _scan_forever(self) -> None:
        async for reading in self.source.readings():
            try:
                await self.handle(reading)
            except Exception:  # one bad reading must not stop the scanner's consumer
                _LOGGER.exception("BLE reading from %s not handled", reading.device)

    async def _gatt_forever(self, address: str) -> None:
        from hub.sensors.gatt_link import GattLink

        link = self._links.get(address)
        if link is None:  # kept across restarts of this part: its backoff carries on
            link = GattLink(address, self.source.device, client_class=self._client_class)
            self._links[address] = link
        # One reading the hub fails on is logged and skipped, not a reconnect.
        await self.parts.readings.consume(link.readings())

    async def handle(self, reading: Reading) -> None:
        """One reading from the scanner: presence, scanner fault, or a device's reading."""
        if reading.protocol != PROTOCOL:
            await self.parts.readings.handle_reading(reading)
        elif reading.kind == "presence":
            await self._presence(reading)
        elif reading.kind == "fault":
            await self.parts.events.commit(
                Draft.create(
                    "fault",
                    self.parts.clock,
                    data=dict(reading.values),
                    source=Source(reading.device, protocol=PROTOCOL),
                )
            )

    async def _presence(self, reading: Reading) -> None:
        ts = reading.ts or self.parts.clock.now()
        present = bool(reading.values.get("present"))
        room = str(reading.values.get("room", ""))
        self.last[reading.device] = {
            "device": reading.device,
            "present": present,
            "room": room,
            "since": ts.isoformat().replace("+00:00", "Z"),
        }
        _LOGGER.info("wearable %s %s", reading.device, "near" if present else "away")
        epoch = int(ts.timestamp())
        keep_after = epoch - self.parts.cfg.ble.presence_keep_days * 86400
        await self.parts.outbox.store_presence(
            [(epoch, reading.device, present, room, reading.rssi)], keep_after
        )
        await self.parts.care.feed(
            replace(reading, device=self._care_key.get(reading.device, reading.device))
        )

    def status(self) -> dict[str, Any]:
        """What `pingan-hub status` shows of BLE."""
        source = self.source
        return {
            "scanning": source.scanning,
            "mode": "passive" if source.passive else "active",
            "adapter": source.adapter,
            "adverts": source.adverts,
            "bthome_readings": source.decoded,
            "fault": source.watchdog.fault_reported,
            "wearables_connected": sum(1 for link in self._links.values() if link.connected),
        }

    def last_presence(self) -> list[dict[str, Any]]:
        """The last known presence of each wearable (attached to alarms; in memory, cheap)."""
        return list(self.last.values())

    async def locate(self, args: dict[str, Any]) -> None:
        """cmd/locate: answer with a `presence` event (current state and the history asked)."""
        hours = args.get("hours", 24)
        valid = isinstance(hours, (int, float)) and not isinstance(hours, bool)
        if not valid or not math.isfinite(hours) or hours < 0:
            _LOGGER.warning("cmd/locate: hours must be a number >= 0; using 24")
            hours = 24
        keep_s = self.parts.cfg.ble.presence_keep_days * 86400
        since = int(self.parts.clock.now().timestamp() - min(float(hours) * 3600, keep_s))
        history = await self.parts.outbox.presence_since(since, LOCATE_MAX_TRANSITIONS)
        await self.parts.events.commit(
            Draft.create(
                "presence",
                self.parts.clock,
                data={"current": self.last_presence(), "history": history, "requested": True},
                # The centre asked, most likely in an emergency: not shed like telemetry.
                priority=Priority.WARNING,
            )
        )


def start_ble(hub: BleParts) -> BleLink | None:
    """Start BLE when [ble] enabled: bleak is imported only now, and only if installed."""
    try:
        import bleak  # noqa: F401  (the `ble` extra)
    except ImportError:
        detail = "ble.enabled is on but bleak is not installed: pip install 'pingan-hub[ble]'"
        _LOGGER.error("%s", detail)
        hub.tasks.spawn(
            hub.events.commit(
                Draft.create("fault", hub.clock, data={"component": "ble", "detail": detail})
            ),
            "ble-fault",
        )
        return None
    link = BleLink(hub)
    link.start()
    return link


async def locate_later(link: BleLink | None, args: dict[str, Any]) -> None:
    """cmd/locate on a hub that may have no BLE: answer, or log why not."""
    if link is None:
        _LOGGER.warning("cmd/locate: this hub has no BLE (ble.enabled = false); ignored")
        return
    await link.locate(args)

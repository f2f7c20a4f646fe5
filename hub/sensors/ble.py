"""The BLE source: one shared bleak scanner -> BTHome Readings, presence, stall watchdog.

Every advert the radio hears goes through `BleSource.on_advert` (the bench feeds adverts
there too, since no radio exists on a build machine):

  * any advert -> the stall watchdog hears it (hub.sensors.ble_watchdog);
  * an advert of a tracked wearable -> its RSSI feeds presence (hub.sensors.presence),
    and a change comes out as a Reading of kind "presence" (protocol "ble");
  * BTHome service data (UUID 0xFCD2) -> hub.sensors.bthome's decoder -> a Reading
    (repeats of the same advert dropped there), which the hub attributes like any
    radio reading: a paired pendant's press raises SOS.

Scanner trouble comes out as a Reading of kind "fault" (protocol "ble"): once when a
restart did not help or the scanner cannot start, and once more (`resolved`) when
adverts flow again.

bleak is imported only when a real scanner is made: a hub without BLE never loads it.
Passive scanning is asked for first (BlueZ's AdvertisementMonitor API: the radio only
listens, which saves the wearables' batteries no scan requests); BlueZ without
--experimental refuses it, and the source falls back to active scanning, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from hub.clock import Clock
from hub.errors import DecodeError
from hub.reading import Reading
from hub.sensors.ble_watchdog import ScanWatchdog, Verdict
from hub.sensors.bthome import BTHOME_UUID, AdvertError, BTHomeDecoder
from hub.sensors.presence import PresenceTracker, Transition
from hub.timeouts import wait_within

_LOGGER = logging.getLogger(__name__)

PROTOCOL = "ble"
# Watchdog and presence are evaluated this often (their windows are minutes).
CHECK_S = 5.0
# A scanner that failed to start is tried again after this, doubling up to stall_s.
START_RETRY_S = 5.0
# BlueZ answers StartDiscovery/RegisterMonitor in milliseconds; one that does not answer
# in this time is hung, and waiting for it would defeat the stall watchdog.
BLUEZ_CALL_TIMEOUT_S = 10.0
# Readings waiting for the hub. The hub takes each in milliseconds; a full queue means
# it is stuck, and the log says so rather than memory growing without bound.
QUEUE_MAX = 512
# BTHome service data is a few dozen octets (bthome.io/format); more is not BTHome.
MAX_SERVICE_DATA = 64
# A neighbour's encrypted or broken BTHome device fails on every advert (and bthome-ble
# complains about each): one line per device per hour says so, with how many more there
# were (the log lives on an SD card).
SKIP_LOG_EVERY_S = 3600.0
# Devices whose complaints are counted; adverts come from anyone in range: bounded.
SKIP_LOG_DEVICES = 256

# Passive scanning hears only adverts that match a pattern. These are Home Assistant's
# (habluetooth PASSIVE_SCANNER_ARGS): the flags values nearly every LE device sends,
# which lets all adverts through; plus BTHome's service data for devices without flags.
# (AD types: 0x01 flags, 0x16 service data with a 16-bit UUID, little-endian.)
_PASSIVE_PATTERNS = ((0x01, b"\x02"), (0x01, b"\x06"), (0x01, b"\x1a"), (0x16, b"\xd2\xfc"))


class Scanner(Protocol):
    """What the source needs of a scanner (bleak's BleakScanner has it)."""

    async def start(self) -> None:
        """Start scanning."""

    async def stop(self) -> None:
        """Stop scanning."""


DetectionCallback = Callable[[Any, Any], None]  # (bleak BLEDevice, AdvertisementData)
ScannerFactory = Callable[[DetectionCallback, bool], Scanner]  # (callback, passive)


def _with_library(what: str, said: list[str]) -> str:
    """`what`, with what bthome-ble said about the advert (first complaint, shortened)."""
    if not said:
        return what
    return f"{what} (bthome-ble: {said[0][:200]})"


def bleak_scanner(adapter: str) -> ScannerFactory:
    """A factory of real bleak scanners on `adapter` (bleak imported here, not before)."""

    def make(callback: DetectionCallback, passive: bool) -> Scanner:
        from bleak import BleakScanner
        from bleak.args.bluez import OrPattern
        from bleak.assigned_numbers import AdvertisementDataType

        if passive:
            patterns: list[OrPattern | tuple[int, AdvertisementDataType, bytes]] = [
                OrPattern(0, AdvertisementDataType(ad_type), content)
                for ad_type, content in _PASSIVE_PATTERNS
            ]
            return BleakScanner(
                callback,
                scanning_mode="passive",
                bluez={"adapter": adapter, "or_patterns": patterns},
            )
        return BleakScanner(callback, scanning_mode="active", bluez={"adapter": adapter})

    return make


class BleSource:
    """The shared scanner; `readings()` yields BTHome, presence and fault Readings forever."""

    def __init__(
        self,
        clock: Clock,
        *,
        adapter: str = "hci0",
        passive: bool = True,
        stall_s: float = 600.0,
        room: str = "",
        presence: PresenceTracker | None = None,
        bindkeys: Mapping[str, bytes] | None = None,
        connect_to: tuple[str, ...] = (),
        scanner_factory: ScannerFactory | None = None,
    ) -> None:
        self.clock = clock
        self.adapter = adapter
        self.room = room
        self.passive = passive
        self.presence = presence
        self.watchdog = ScanWatchdog(stall_s, clock.monotonic())
        self.decoder = BTHomeDecoder(bindkeys)
        self._connect_to = frozenset(a.upper() for a in connect_to)
        self._devices: dict[str, Any] = {}  # address -> last bleak BLEDevice (GATT wearables)
        self._factory = scanner_factory or bleak_scanner(adapter)
        self._scanner: Scanner | None = None
        self._queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize=QUEUE_MAX)
        self._dropped = 0
        self._complaints: dict[str, tuple[float, int]] = {}  # address -> (logged at, held)
        self.adverts = 0  # heard since start (status, bench)
        self.decoded = 0  # BTHome readings made from them

    # -- the decode path: every advert, cheap for the ones the hub does not care about --

    def on_advert(
        self,
        address: str,
        rssi: int | None,
        service_data: Mapping[str, bytes],
        *,
        room: str | None = None,
    ) -> None:
        """One advert heard: watchdog, presence, BTHome decoding (runs on the event loop)."""
        now = self.clock.monotonic()
        self.adverts += 1
        if self.watchdog.heard(now):
            _LOGGER.warning("BLE scanner hears adverts again")
            self._put(self._fault("BLE scanner hears adverts again", resolved=True))
        if self.presence is not None and self.presence.tracks(address):
            change = self.presence.observe(address, rssi, self.room if room is None else room, now)
            if change is not None:
                self._put(self._presence_reading(change))
        data = service_data.get(BTHOME_UUID)
        if data is None:
            return
        if len(data) > MAX_SERVICE_DATA:
            self._skipped(address, now, f"{len(data)} octets of BTHome data")
            return
        try:
            reading = self.decoder.decode(
                bytes(data), address=address, monotonic=now, rssi=rssi, ts=self.clock.now()
            )
        except DecodeError as exc:
            said = exc.library_log if isinstance(exc, AdvertError) else []
            self._skipped(address, now, "skipped: " + _with_library(str(exc), said))
            return
        if self.decoder.complaints:  # decoded, but the library objected to part of it
            self._skipped(address, now, _with_library("decoded", self.decoder.complaints))
        if reading is not None:
            self.decoded += 1
            self._put(reading)

    def _skipped(self, address: str, now: float, what: str) -> None:
        """Log a device's advert trouble at most once per SKIP_LOG_EVERY_S, saying how
        many more there were since the last line."""
        logged, held = self._complaints.get(address, (None, 0))
        if logged is not None and now - logged < SKIP_LOG_EVERY_S:
            self._complaints[address] = (logged, held + 1)
            return
        if address not in self._complaints and len(self._complaints) >= SKIP_LOG_DEVICES:
            self._complaints.clear()
        self._complaints[address] = (now, 0)
        more = f" ({held} more such adverts since the last report)" if held else ""
        _LOGGER.info("BLE advert from %s %s%s", address, what, more)

    def detected(self, device: Any, adv: Any) -> None:
        """bleak's detection callback: BLEDevice + AdvertisementData -> on_advert."""
        address = str(device.address).upper()
        if address in self._connect_to:
            self._devices[address] = device
        self.on_advert(address, adv.rssi, adv.service_data)

    @property
    def scanning(self) -> bool:
        """Whether a scanner is running now (status, tests)."""
        return self._scanner is not None

    def device(self, address: str) -> Any | None:
        """The last bleak BLEDevice heard for `address` (for GATT connections), or None."""
        return self._devices.get(address.upper())

    def _put(self, reading: Reading) -> None:
        try:
            self._queue.put_nowait(reading)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100 == 0:
                _LOGGER.error(
                    "BLE readings dropped (%d so far): the hub is not taking them", self._dropped
                )

    def _presence_reading(self, change: Transition) -> Reading:
        return Reading(
            device=change.device,
            protocol=PROTOCOL,
            kind="presence",
            values={"present": change.present, "room": change.room, "rssi": change.rssi},
            rssi=change.rssi,
            ts=self.clock.now(),
        )

    def _fault(self, detail: str, *, resolved: bool = False) -> Reading:
        values: dict[str, Any] = {"component": "ble_scanner", "detail": detail}
        if resolved:
            values["resolved"] = True
        return Reading(
            device=f"ble:{self.adapter}",
            protocol=PROTOCOL,
            kind="fault",
            values=values,
            ts=self.clock.now(),
        )

    # -- the scanner's life ---------------------------------------------------------------

    async def _start(self) -> None:
        if self.passive:
            scanner = self._factory(self.detected, True)
            try:
                await wait_within(scanner.start(), BLUEZ_CALL_TIMEOUT_S)
            except Exception as exc:  # bleak raises BleakError; dbus-fast its own errors
                refused = exc
            else:
                self._scanner = scanner
                _LOGGER.info("BLE scanner on %s started (passive)", self.adapter)
                return
            scanner = self._factory(self.detected, False)
            # Passive refused but active works: this BlueZ cannot scan passively, so stay
            # active. If active fails too, the adapter itself is the problem (not there
            # yet at boot, bluetoothd down): passive is tried again next time.
            await wait_within(scanner.start(), BLUEZ_CALL_TIMEOUT_S)
            self.passive = False
            _LOGGER.warning(
                "passive BLE scanning refused (%s); scanning actively from now on", refused
            )
        else:
            scanner = self._factory(self.detected, False)
            await wait_within(scanner.start(), BLUEZ_CALL_TIMEOUT_S)
        self._scanner = scanner
        _LOGGER.info("BLE scanner on %s started (active)", self.adapter)

    async def _stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is None:
            return
        try:
            await wait_within(scanner.stop(), BLUEZ_CALL_TIMEOUT_S)
        except TimeoutError:
            _LOGGER.warning(
                "BLE scanner on %s did not stop within %.0f s", self.adapter, BLUEZ_CALL_TIMEOUT_S
            )
        except Exception as exc:  # a scanner that died may not stop cleanly: it is gone anyway
            _LOGGER.info("BLE scanner stop: %s", exc)

    def _periodic(self, now: float) -> list[Reading]:
        out = []
        if self.presence is not None:
            out += [self._presence_reading(t) for t in self.presence.tick(now)]
        return out

    async def readings(self) -> AsyncIterator[Reading]:
        """BTHome, presence and fault Readings; the scanner is kept alive meanwhile."""
        retry = START_RETRY_S
        next_check = self.clock.monotonic() + CHECK_S
        try:
            while True:
                if self._scanner is None:
                    try:
                        await self._start()
                        retry = START_RETRY_S
                    except Exception as exc:  # no adapter, no bluetoothd, D-Bus down ...
                        _LOGGER.error("BLE scanner cannot start: %s; retry in %.0f s", exc, retry)
                        verdict = self.watchdog.start_failed(str(exc) or type(exc).__name__)
                        if verdict.fault:
                            yield self._fault(verdict.detail)
                        async for heard in self._queued_for(retry):
                            yield heard
                        retry = min(retry * 2, self.watchdog.stall_s)
                        continue
                timeout = max(0.0, next_check - self.clock.monotonic())
                reading: Reading | None = None
                with contextlib.suppress(TimeoutError):
                    reading = await wait_within(self._queue.get(), timeout)
                if reading is not None:
                    yield reading
                now = self.clock.monotonic()
                if now < next_check:
                    continue
                next_check = now + CHECK_S
                for reading in self._periodic(now):
                    yield reading
                verdict = self.watchdog.check(now)
                if verdict.restart:
                    async for reading in self._restart(verdict):
                        yield reading
        finally:
            await self._stop()

    async def _queued_for(self, seconds: float) -> AsyncIterator[Reading]:
        """Wait `seconds` before the next start attempt, handing on what is still heard
        meanwhile (a scan BlueZ did not stop may go on delivering: a press must not wait)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            item: Reading | None = None
            with contextlib.suppress(TimeoutError):
                item = await wait_within(self._queue.get(), left)
            if item is not None:
                yield item

    async def _restart(self, verdict: Verdict) -> AsyncIterator[Reading]:
        _LOGGER.warning("BLE scanner on %s: %s", self.adapter, verdict.detail)
        if verdict.fault:
            yield self._fault(verdict.detail)
        await self._stop()
        # The next turn of readings() starts it again (and reports if it cannot).

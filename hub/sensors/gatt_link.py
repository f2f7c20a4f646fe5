"""GATT health profiles over a connection: one wearable, kept connected, -> Readings.

For a paired wearable named in `ble.gatt_devices`: connect with bleak-retry-connector's
`establish_connection` (it retries BlueZ's transient errors the way Home Assistant
does), subscribe to whichever of Heart Rate Measurement 0x2A37, PLX Spot-check 0x2A5E,
PLX Continuous 0x2A5F and Blood Pressure Measurement 0x2A35 the device has, read
Battery Level 0x2A19 (and subscribe to it when it notifies), decode each notification
with the pure decoders of hub.sensors.gatt, and yield Readings until the link drops.
Then reconnect after a backoff (`Backoff`, pure).

The BLEDevice to connect to comes from the shared scanner (the last advert heard from
that address): BlueZ connects far more reliably to a device it has just seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from hub.errors import DecodeError
from hub.reading import Reading
from hub.sensors import gatt

_LOGGER = logging.getLogger(__name__)

# Characteristics subscribed to when the device has them (and can notify or indicate).
SUBSCRIBE = (
    gatt.HEART_RATE_MEASUREMENT,
    gatt.PLX_SPOT_CHECK_MEASUREMENT,
    gatt.PLX_CONTINUOUS_MEASUREMENT,
    gatt.BLOOD_PRESSURE_MEASUREMENT,
    gatt.BATTERY_LEVEL,
)
# Connection attempts per establish_connection call (its default is 4; BlueZ errors
# past 3 are rarely transient, and the backoff below takes over).
CONNECT_ATTEMPTS = 3
# Readings waiting for the hub; a strap notifies once a second.
QUEUE_MAX = 256

# Reconnect backoff: a wearable out of range (the elder went out) must not keep the
# radio busy, but one that only blinked should be back within seconds. 5 s doubling to
# 5 min; a link that stayed up STABLE_S resets it.
BACKOFF_MIN_S = 5.0
BACKOFF_MAX_S = 300.0
STABLE_S = 60.0

ClientClass = type  # a bleak BleakClient class (or one that mimics it exactly, in tests)


class Backoff:
    """Reconnect delays (pure): doubling from BACKOFF_MIN_S, reset by a stable link."""

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low = BACKOFF_MIN_S if low is None else low
        self.high = BACKOFF_MAX_S if high is None else high
        self.delay = self.low

    def next_delay(self, connected_for: float | None) -> float:
        """The wait before the next attempt; `connected_for` None when it never connected."""
        if connected_for is not None and connected_for >= STABLE_S:
            self.delay = self.low
        delay = self.delay
        self.delay = min(self.delay * 2, self.high)
        return delay


class GattLink:
    """Keeps one wearable connected and yields its health readings; see the module doc."""

    def __init__(
        self,
        address: str,
        find_device: Callable[[str], Any | None],
        *,
        client_class: ClientClass | None = None,
        monotonic: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.address = address.upper()
        self._find = find_device
        self._client_class = client_class
        self._monotonic = monotonic or asyncio.get_running_loop().time
        self._now = now or (lambda: datetime.now(UTC))
        self.backoff = backoff or Backoff()
        self._queue: asyncio.Queue[Reading | None] = asyncio.Queue(maxsize=QUEUE_MAX)
        self.connected = False

    async def readings(self) -> AsyncIterator[Reading]:
        """Health readings for as long as the hub runs; reconnects when the link drops."""
        while True:
            started: float | None = None
            client = None
            try:
                client = await self._connect()
                if client is not None:
                    started = self._monotonic()
                    await self._subscribe(client)
                    while True:
                        reading = await self._queue.get()
                        if reading is None:
                            break  # disconnected
                        yield reading
            except Exception as exc:  # bleak, BlueZ and D-Bus errors, translated here
                _LOGGER.warning("wearable %s: %s", self.address, exc or type(exc).__name__)
            finally:
                self.connected = False
                if client is not None:
                    await self._disconnect(client)
            connected_for = None if started is None else self._monotonic() - started
            delay = self.backoff.next_delay(connected_for)
            _LOGGER.info("wearable %s: reconnecting in %.1f s", self.address, delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> Any | None:
        device = self._find(self.address)
        if device is None:
            _LOGGER.info("wearable %s not heard yet; not connecting", self.address)
            return None
        from bleak_retry_connector import establish_connection

        client_class = self._client_class
        if client_class is None:
            from bleak_retry_connector import BleakClientWithServiceCache

            client_class = BleakClientWithServiceCache
        while not self._queue.empty():  # a disconnect marker left from the last link
            self._queue.get_nowait()
        client = await establish_connection(
            client_class,
            device,
            self.address,
            disconnected_callback=self._disconnected,
            max_attempts=CONNECT_ATTEMPTS,
        )
        self.connected = True
        _LOGGER.info("wearable %s connected", self.address)
        return client

    def _disconnected(self, _client: Any) -> None:
        _LOGGER.info("wearable %s disconnected", self.address)
        try:
            self._queue.put_nowait(None)  # wakes readings(): the link is gone
        except asyncio.QueueFull:  # readings() is far behind; it sees the marker later
            asyncio.get_running_loop().call_later(1.0, self._disconnected, _client)

    async def _subscribe(self, client: Any) -> None:
        found = 0
        for char in client.services.characteristics.values():
            try:
                uuid16 = gatt.characteristic_uuid16(char.uuid)
            except DecodeError:
                continue  # a vendor characteristic: not ours
            if uuid16 not in SUBSCRIBE:
                continue
            found += 1
            if uuid16 == gatt.BATTERY_LEVEL and "read" in char.properties:
                self._take(char.uuid, bytes(await client.read_gatt_char(char)))
            if "notify" in char.properties or "indicate" in char.properties:
                await client.start_notify(char, self._notified)
        if not found:
            _LOGGER.warning("wearable %s has none of the health characteristics", self.address)

    def _notified(self, char: Any, data: bytearray) -> None:
        self._take(char.uuid, bytes(data))

    def _take(self, uuid: str, data: bytes) -> None:
        try:
            reading = gatt.decode_characteristic(uuid, data, self.address, self._now())
        except DecodeError as exc:
            _LOGGER.info("wearable %s: %s", self.address, exc)
            return
        try:
            self._queue.put_nowait(reading)
        except asyncio.QueueFull:
            _LOGGER.error("wearable %s: reading dropped, the hub is not taking them", self.address)

    async def _disconnect(self, client: Any) -> None:
        try:
            await client.disconnect()
        except Exception as exc:  # already gone
            _LOGGER.debug("wearable %s disconnect: %s", self.address, exc)

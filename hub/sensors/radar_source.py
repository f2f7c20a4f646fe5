"""A radar on a serial port (pyserial-asyncio-fast) -> Readings, as RFLink's source does.

The port is opened with backoff (1 s doubling to 60 s) and reopened when it goes; the
module's start commands are written on each open (an LD2410 forgets engineering mode
when it restarts, so they are written again when basic reports come back); frames are
cut by the model's framer, bad ones are counted (`RadarTracker.live.bad_frames`, and the
framer's dropped bytes) and skipped. A module that sends no valid frame for `silent_s`
(5 s by default) is reported through `on_silent` at once, once per outage, whether the
port is open and quiet, open and full of garbage (a wrong baud rate), or gone; its next
frame restores it. A quiet module is also asked each second (the MR60FDA1's heartbeat
query), so a live one answers even when nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from hub.errors import DecodeError
from hub.reading import Reading
from hub.sensors import ld2410
from hub.sensors.frames import Framer
from hub.sensors.radar import SILENT_S, Model, RadarTracker, decode_frame, radar_key
from hub.sensors.serial_source import RECONNECT_DELAY, RECONNECT_DELAY_MAX, Opener
from hub.timeouts import wait_within

_LOGGER = logging.getLogger(__name__)

READ_CHUNK = 512
# A read that returns nothing for this long: the line is quiet (a module sends a frame
# without gaps, so a partial frame this old is garbage), the module is asked again.
IDLE_S = 0.5
# A quiet module is polled at most this often.
POLL_EVERY_S = 1.0
# An LD2410 that restarted sends basic reports again; engineering mode is asked for again
# at most this often (a module that refuses it still gives presence from basic reports).
ENGINEERING_RETRY_S = 60.0

# (device key, why it is silent)
SilentHook = Callable[[str, str], Awaitable[None]]


class RadarSource:
    """One radar module on one serial port; `readings()` yields what the hub acts on."""

    def __init__(
        self,
        port: str,
        model: Model,
        *,
        baudrate: int | None = None,
        silent_s: float = SILENT_S,
        on_silent: SilentHook | None = None,
        opener: Opener | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        reconnect_delay: float = RECONNECT_DELAY,
    ) -> None:
        self.port = port
        self.model = model
        self.key = radar_key(port)
        self.tracker = RadarTracker(self.key, model.name, silent_s)
        self._baudrate = baudrate or model.baudrate
        self._on_silent = on_silent
        self._opener = opener or self._open_serial
        self._monotonic = monotonic
        self._delay = reconnect_delay
        self._writer: asyncio.StreamWriter | None = None
        self._polled = float("-inf")
        self._engineering_asked = float("-inf")
        self.framer_dropped = 0

    async def _open_serial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        import serial_asyncio_fast  # the IO library stays out of importers that only decode

        return await serial_asyncio_fast.open_serial_connection(
            url=self.port, baudrate=self._baudrate
        )

    @property
    def is_open(self) -> bool:
        """Whether the port is open now."""
        return self._writer is not None

    def send(self, frames: list[bytes]) -> bool:
        """Write command frames to the module (the pages' settings); False when the port
        is not open. The module's answers arrive as frames like any other."""
        writer = self._writer
        if writer is None:
            return False
        for frame in frames:
            writer.write(frame)
        return True

    async def _silence(self) -> None:
        reason_quiet = self.tracker.silence(self._monotonic())
        if reason_quiet is None:
            return
        live = self.tracker.live
        if not self.is_open:
            why = f"port {self.port} not open"
        elif live.bad_frames or self.framer_dropped:
            why = f"no valid frame for {reason_quiet:.0f} s ({live.bad_frames} bad frames)"
        else:
            why = f"no frame for {reason_quiet:.0f} s"
        _LOGGER.error("radar %s silent: %s", self.key, why)
        if self._on_silent is not None:
            await self._on_silent(self.key, why)

    async def _wait_closed(self, seconds: float) -> None:
        """Sleep before reopening, still reporting silence on time."""
        end = self._monotonic() + seconds
        while (left := end - self._monotonic()) > 0:
            await asyncio.sleep(min(left, IDLE_S))
            await self._silence()

    async def readings(self) -> AsyncIterator[Reading]:
        """Readings forever; bad frames counted and skipped; the port reopened if lost."""
        delay = self._delay
        self.tracker.start(self._monotonic())
        while True:
            try:
                reader, writer = await self._opener()
            except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
                _LOGGER.warning(
                    "radar port %s not opened (%s); retry in %.0f s", self.port, exc, delay
                )
                await self._wait_closed(delay)
                delay = min(delay * 2, RECONNECT_DELAY_MAX)
                continue
            _LOGGER.info("radar port %s open (%s)", self.port, self.model.name)
            delay = self._delay
            self._writer = writer
            self.send(self.model.start())
            self._engineering_asked = self._monotonic()
            framer = self.model.framer()
            try:
                async for reading in self._read(reader, framer):
                    yield reading
            except OSError as exc:
                _LOGGER.warning("radar port %s lost (%s)", self.port, exc)
            finally:
                self.framer_dropped += framer.dropped
                self._writer = None
                writer.close()
            _LOGGER.warning("radar port %s closed; reopening in %.0f s", self.port, delay)
            await self._wait_closed(delay)

    async def _read(self, reader: asyncio.StreamReader, framer: Framer) -> AsyncIterator[Reading]:
        feed, stale = framer.feed, framer.stale
        while True:
            try:
                chunk: bytes | None = await wait_within(reader.read(READ_CHUNK), IDLE_S)
            except TimeoutError:
                chunk = None
            if chunk == b"":
                return  # EOF: the adapter went away
            for raw in feed(chunk) if chunk else stale():
                now = self._monotonic()
                try:
                    obs = decode_frame(self.model, raw)
                except DecodeError as exc:
                    self.tracker.bad_frame()
                    _LOGGER.debug("radar %s frame skipped: %s", self.key, exc)
                    continue
                if obs is None:
                    continue
                self._engineering(obs.presence is not None and not obs.moving_gates, now)
                for reading in self.tracker.observe(obs, now):
                    yield reading
            now = self._monotonic()
            if self.tracker.quiet_for(now) >= POLL_EVERY_S and now - self._polled >= POLL_EVERY_S:
                self._polled = now
                self.send(self.model.poll())
            await self._silence()

    def _engineering(self, basic: bool, now: float) -> None:
        """An LD2410 sending basic reports has forgotten engineering mode (it restarted)."""
        if not basic or self.model.name != ld2410.MODEL:
            return
        if now - self._engineering_asked >= ENGINEERING_RETRY_S:
            self._engineering_asked = now
            self.send(ld2410.engineering_on())

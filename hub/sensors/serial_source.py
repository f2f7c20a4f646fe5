"""Serial RF gateway source: RFLink lines over pyserial-asyncio-fast -> Readings.

Framing is done here rather than with StreamReader.readline(): the gateway's line endings
vary (CRLF, bare LF, bare CR after a reset) and a noisy line can run on without a
terminator, which readline() would either buffer without bound or raise on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from hub.errors import DecodeError
from hub.reading import Reading
from hub.sensors import rflink

_LOGGER = logging.getLogger(__name__)

# RFLink gateways talk at 57600 baud, 8N1 (RFLink firmware documentation).
RFLINK_BAUDRATE = 57600
# Bytes read per call: a few lines; small enough to keep latency low at 57600 baud.
READ_CHUNK = 256
# Wait before reopening a port that vanished (USB gateway replugged, or re-enumerating after a
# brown-out); doubled per failure up to the cap so a dead port costs one attempt a minute.
RECONNECT_DELAY = 1.0
RECONNECT_DELAY_MAX = 60.0

# Returns the pair from open_serial_connection; the writer must be kept referenced, since
# Python 3.11's StreamWriter.__del__ closes the transport (the port would read EOF at once).
Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class LineFramer:
    """Bytes in, complete lines out: CR, LF or CRLF ends a line; over-long lines are dropped."""

    def __init__(self, max_line: int = rflink.MAX_LINE) -> None:
        self._max = max_line
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete, non-empty lines they finish (no terminator)."""
        lines: list[bytes] = []
        start = 0
        for i, byte in enumerate(data):
            if byte in (0x0A, 0x0D):
                self._take(data[start:i], lines, end=True)
                start = i + 1
        self._take(data[start:], lines, end=False)
        return lines

    def _take(self, chunk: bytes, lines: list[bytes], *, end: bool) -> None:
        if not self._overflow:
            self._buf += chunk
            if len(self._buf) > self._max:
                _LOGGER.warning("serial line longer than %d bytes dropped", self._max)
                self._overflow = True
                self._buf.clear()
        if end:
            if self._buf and not self._overflow:
                lines.append(bytes(self._buf))
            self._buf.clear()
            self._overflow = False


class SerialSource:
    """An RFLink gateway on a serial port; `readings()` yields decoded Readings forever."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = RFLINK_BAUDRATE,
        opener: Opener | None = None,
        reconnect_delay: float = RECONNECT_DELAY,
    ) -> None:
        self._port = port
        self._baudrate = baudrate
        self._opener = opener or self._open_serial
        self._delay = reconnect_delay

    async def _open_serial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        import serial_asyncio_fast  # the IO library stays out of importers that only decode

        return await serial_asyncio_fast.open_serial_connection(
            url=self._port, baudrate=self._baudrate
        )

    async def readings(self) -> AsyncIterator[Reading]:
        """Decoded readings; bad lines are logged and skipped; the port is reopened if lost."""
        delay = self._delay
        while True:
            try:
                reader, writer = await self._opener()
            except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
                _LOGGER.warning(
                    "serial port %s not opened (%s); retry in %.0f s", self._port, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_DELAY_MAX)
                continue
            _LOGGER.info("serial port %s open", self._port)
            delay = self._delay
            framer = LineFramer()
            try:
                while True:
                    chunk = await reader.read(READ_CHUNK)
                    if not chunk:
                        break
                    for line in framer.feed(chunk):
                        try:
                            yield rflink.decode(line)
                        except DecodeError as exc:
                            _LOGGER.info("serial line skipped: %s", exc)
            except OSError as exc:
                _LOGGER.warning("serial port %s lost (%s)", self._port, exc)
            finally:
                writer.close()
            _LOGGER.warning("serial port %s closed; reopening in %.0f s", self._port, delay)
            await asyncio.sleep(delay)

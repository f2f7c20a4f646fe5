"""A TCP proxy on loopback that cuts, stalls and slows a connection (network-fault tests)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

_SUBSCRIBE: Final = 8  # MQTT control packet type (3.1.1 section 2.2.1)


class FaultyProxy:
    """Forwards 127.0.0.1:`port` to a target; faults are switched on and off at run time.

    - `cut()`: close every open connection now (a router reboot);
    - `refuse = True`: new connections are closed at once (the line is down);
    - `stall = True`: bytes are held, connections stay open (a black hole);
    - `delay_s`: every chunk waits this long (a slow cellular link);
    - `mqtt311_only = True`: MQTT 5 CONNECTs are refused as an MQTT 3.1.1 broker would;
    - `close_mqtt5 = True`: MQTT 5 CONNECTs get no CONNACK, the connection is closed (what
      RabbitMQ 3.10 does, measured: FIN within a millisecond, not a byte sent);
    - `drop_subscribe = True`: the client's SUBSCRIBE packets never reach the broker, so
      no SUBACK comes (what a RabbitMQ 3.10 node does when the session's classic queue
      lived on a node that is gone: measured, the SUBSCRIBE is never answered).
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.refuse = False
        self.stall = False
        self.delay_s = 0.0
        self.mqtt311_only = False
        self.close_mqtt5 = False
        self.drop_subscribe = False
        self.refused_mqtt5 = 0
        self.dropped_subscribes = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server:
            self._server.close()
        self.cut()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    @property
    def open_connections(self) -> int:
        """Client connections the proxy still relays (each holds one to the target too)."""
        return len(self._writers) // 2

    def cut(self) -> None:
        """Close every open connection."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def set_stall(self, stalled: bool) -> None:
        """Hold (True) or release (False) all traffic."""
        self.stall = stalled
        if stalled:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            return
        first = b""
        if self.mqtt311_only or self.close_mqtt5:
            # Play a broker that predates MQTT 5: a CONNECT with protocol level 5 gets
            # CONNACK "unacceptable protocol version" (MQTT 3.1.1 section 3.2.2.3), as
            # such brokers answer, or (close_mqtt5) just a closed connection.
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                first = await reader.read(65536)
            if _connect_level(first) == 5:
                self.refused_mqtt5 += 1
                if self.mqtt311_only:
                    writer.write(b"\x20\x02\x00\x01")
                    with contextlib.suppress(OSError):
                        await writer.drain()
                writer.close()
                return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        if first:
            up_writer.write(first)
        self.connections += 1
        self._writers |= {writer, up_writer}
        upstream = self._pipe_packets if self.drop_subscribe else self._pipe
        await asyncio.gather(
            upstream(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe_packets(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Client to broker packet by packet, leaving out SUBSCRIBEs."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                packet = await _read_packet(reader)
                if packet[0] >> 4 == _SUBSCRIBE:
                    self.dropped_subscribes += 1
                    continue
                await self._flowing.wait()
                if writer.is_closing():
                    break
                writer.write(packet)
                await writer.drain()
        writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                await self._flowing.wait()
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if writer.is_closing():
                    break
                writer.write(chunk)
                await writer.drain()
        writer.close()


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    """One whole MQTT packet: fixed header, remaining length, body."""
    packet = await reader.readexactly(1)
    length = 0
    for shift in range(0, 28, 7):  # remaining length: at most four bytes
        byte = await reader.readexactly(1)
        packet += byte
        length |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            break
    return packet + await reader.readexactly(length)


def _connect_level(data: bytes) -> int | None:
    """The protocol level of an MQTT CONNECT packet at the start of `data`, if it is one."""
    if not data or data[0] != 0x10:
        return None
    pos = 1
    while pos < len(data) and data[pos] & 0x80:  # remaining length: variable-length integer
        pos += 1
    pos += 1
    if len(data) < pos + 7 or data[pos : pos + 6] != b"\x00\x04MQTT":
        return None
    return data[pos + 6]

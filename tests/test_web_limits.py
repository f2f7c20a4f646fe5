"""The pages hold few connections, briefly: slow or silent clients are dropped, a flood
waits in the kernel's queue, and running out of descriptors is one log line, not one per
attempt."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from hub.sim.broker import Mosquitto, free_port
from hub.web import limits as limits_module
from hub.web import server as server_module
from hub.web.limits import ConnectionLimits, GuardedListener, connection_cap
from tests.conftest import HubFactory
from tests.helpers import eventually


def test_the_pages_take_at_most_an_eighth_of_the_descriptors_and_64() -> None:
    assert connection_cap(1024) == 64
    assert connection_cap(256) == 32
    assert connection_cap(65536) == 64
    assert connection_cap(4) == 1


def test_connections_are_counted_in_all_and_per_address() -> None:
    book = ConnectionLimits(max_total=3, max_per_address=2)
    assert book.admit("10.0.0.5") and book.admit("10.0.0.5")
    assert not book.admit("10.0.0.5")  # that address has its two
    assert book.admit("10.0.0.9") and book.full
    assert not book.admit("10.0.0.7")  # full in all
    book.release("10.0.0.5")
    assert book.admit("10.0.0.7") and book.by_address == {
        "10.0.0.5": 1,
        "10.0.0.9": 1,
        "10.0.0.7": 1,
    }


class Echo(asyncio.Protocol):
    """A stand-in for aiohttp's protocol: answers a whole head with one line."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer and self.transport is not None:
            self.transport.write(b"HTTP/1.1 200 OK\r\n\r\n")


def listening() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 10) is not None
    except ConnectionResetError:
        return True


async def test_a_head_that_trickles_in_is_dropped_and_a_prompt_one_is_served() -> None:
    sock, port = listening()
    listener = GuardedListener(sock, Echo, head_timeout_s=0.3, request_timeout_s=60)
    listener.start()
    try:
        slow_r, slow_w = await asyncio.open_connection("127.0.0.1", port)
        for part in (b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n"):  # never ends
            slow_w.write(part)
            await asyncio.sleep(0.05)
        fast_r, fast_w = await asyncio.open_connection("127.0.0.1", port)
        fast_w.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await fast_r.readline() == b"HTTP/1.1 200 OK\r\n"
        assert await closed_by_peer(slow_r)
        assert listener.timed_out["head"] == 1
        await asyncio.sleep(0.5)
        assert not fast_w.is_closing() and listener.open_connections == 1  # a head in time
        fast_w.close()
        slow_w.close()
    finally:
        await listener.stop()


async def test_a_request_that_never_finishes_is_dropped_unless_it_is_a_live_page() -> None:
    sock, port = listening()
    listener = GuardedListener(sock, Echo, head_timeout_s=5, request_timeout_s=0.3)
    listener.start()
    try:
        stuck_r, stuck_w = await asyncio.open_connection("127.0.0.1", port)
        stuck_w.write(b"POST / HTTP/1.1\r\nContent-Length: 99\r\n\r\n")
        live_r, live_w = await asyncio.open_connection("127.0.0.1", port)
        live_w.write(b"GET /live/family HTTP/1.1\r\n\r\n")
        assert await live_r.readline() == b"HTTP/1.1 200 OK\r\n"
        for guarded in list(listener._open.values()):
            if b"/live/" in guarded.inner.buffer:
                listener.long_lived(guarded.transport)
        assert await closed_by_peer(stuck_r)
        await asyncio.sleep(0.5)
        assert not live_w.is_closing() and listener.open_connections == 1
        live_w.close()
        stuck_w.close()
    finally:
        await listener.stop()


async def test_at_the_limit_new_connections_wait_in_the_queue_until_one_closes() -> None:
    sock, port = listening()
    book = ConnectionLimits(max_total=2, max_per_address=2)
    listener = GuardedListener(sock, Echo, limits=book, head_timeout_s=60)
    listener.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await eventually(lambda: listener.open_connections == 2)
        waiting_r, waiting_w = await asyncio.open_connection("127.0.0.1", port)  # queued
        waiting_w.write(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.3)
        assert listener.open_connections == 2 and not listener._reading
        held[0][1].close()
        assert await asyncio.wait_for(waiting_r.readline(), 10) == b"HTTP/1.1 200 OK\r\n"
        for _, w in [held[1], (waiting_r, waiting_w)]:
            w.close()
    finally:
        await listener.stop()


async def test_one_address_cannot_take_every_slot(caplog: pytest.LogCaptureFixture) -> None:
    sock, port = listening()
    book = ConnectionLimits(max_total=8, max_per_address=2)
    listener = GuardedListener(sock, Echo, limits=book, head_timeout_s=60)
    listener.start()
    try:
        mine = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        try:  # accepted and reset at once: the reset may come before the connect returns
            refused_r, _ = await asyncio.open_connection("127.0.0.1", port)
            assert await closed_by_peer(refused_r)
        except ConnectionResetError:
            pass
        other = socket.socket()
        other.bind(("127.0.0.2", 0))
        other.setblocking(False)
        await asyncio.get_running_loop().sock_connect(other, ("127.0.0.1", port))
        await eventually(lambda: listener.open_connections == 3)
        assert listener.refused["per_address"] == 1
        assert caplog.text.count("the most one address may have") == 1
        other.close()
        for _, w in mine:
            w.close()
    finally:
        await listener.stop()


class Starving:
    """A listening socket whose accept() finds no descriptor until told otherwise."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.starved = True
        self.attempts = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> tuple[socket.socket, Any]:
        self.attempts += 1
        if self.starved:
            raise OSError(errno.EMFILE, "Too many open files")
        return self.real.accept()

    def close(self) -> None:
        self.real.close()


async def test_running_out_of_descriptors_is_one_line_and_a_pause_not_a_flood(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits_module, "ACCEPT_RETRY_S", 0.05)
    caplog.set_level(logging.INFO)
    real, port = listening()
    starving = Starving(real)
    listener = GuardedListener(starving, Echo)  # type: ignore[arg-type]
    listener.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await eventually(lambda: starving.attempts >= 10)  # retried, slowly
        assert caplog.text.count("cannot accept a connection (Too many open files)") == 1
        starving.starved = False
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.readline(), 10) == b"HTTP/1.1 200 OK\r\n"
        assert "accepting connections again" in caplog.text
        writer.close()
    finally:
        await listener.stop()


async def test_a_form_whose_body_never_arrives_gets_a_408_from_the_real_pages(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(server_module, "BODY_TIMEOUT_S", 0.3)
    port = free_port()
    hub = await make_hub(broker.port, web={"enabled": True, "listen": "127.0.0.1", "port": port})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        b"application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ncsrf=abc"
    )
    head = await asyncio.wait_for(reader.readline(), 30)  # aiohttp loads on this visit
    assert head.startswith(b"HTTP/1.1 408")
    rest = await asyncio.wait_for(reader.read(), 10)
    assert b"Connection: close" in rest and "没有及时收到".encode() in rest
    writer.close()
    assert hub.web is not None and hub.web.listener is not None
    await eventually(lambda: hub.web.listener.open_connections == 0)  # type: ignore[union-attr]

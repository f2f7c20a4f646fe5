"""The uplink's client cleans up after a connection: it never registers a socket number it
no longer owns with the loop, and leaves no unread error behind.

paho asks aiomqtt to watch its socket (on_socket_open, on_socket_register_write); aiomqtt
schedules the registration for the next loop turn with the number read now. When the
connection ends in between, the number can belong to another socket by then, and the
loop would watch that socket for the dead client (seen when a broker node was killed:
"add_writer(152) Bad file descriptor", and EPERM on a SQLite journal that got a number).
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket

import aiomqtt

from hub.sim.broker import Mosquitto
from hub.sim.proxy import FaultyProxy
from hub.sync.mqtt_client import UplinkClient
from tests.helpers import eventually


def connect(port: int) -> UplinkClient:
    return UplinkClient(
        "127.0.0.1",
        port,
        identifier="pingan-sockets",
        protocol=aiomqtt.ProtocolVersion.V311,
        connect_timeout=10,
    )


async def test_a_write_asked_for_by_a_connection_closed_in_the_same_turn_is_not_registered(
    broker: Mosquitto,
) -> None:
    loop = asyncio.get_running_loop()
    async with connect(broker.port) as client:
        paho = client._client
        sock = paho.socket()
        assert isinstance(sock, socket.socket)
        fd = sock.fileno()
        loop.remove_writer(fd)  # nothing pending to write now
        other, peer = socket.socketpair()
        try:
            # In one loop turn: paho has a packet to write and asks for the socket to be
            # watched; the read then finds the connection reset and paho closes it; the
            # OS gives its number to the next socket opened (another session, D-Bus).
            client._on_socket_register_write(paho, None, sock)
            paho._sock_close()
            os.dup2(other.fileno(), fd)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert not loop.remove_writer(fd), "the dead client now watches another socket"
            assert not loop.remove_reader(fd)
        finally:
            os.close(fd)
            other.close()
            peer.close()


async def test_a_socket_opened_and_closed_before_the_loop_runs_is_not_registered(
    broker: Mosquitto,
) -> None:
    """paho's connect thread opens the socket; the attempt is given up before the loop
    turn that registers it (a cancelled connect)."""
    loop = asyncio.get_running_loop()
    client = connect(broker.port)
    other, peer = socket.socketpair()
    stale, stale_peer = socket.socketpair()
    fd = stale.fileno()
    try:
        client._on_socket_open(client._client, None, stale)
        client._on_socket_register_write(client._client, None, stale)
        stale.close()
        os.dup2(other.fileno(), fd)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not loop.remove_reader(fd)
        assert not loop.remove_writer(fd)
    finally:
        os.close(fd)
        for s in (other, peer, stale_peer):
            s.close()


async def test_the_live_connection_is_still_watched(broker: Mosquitto) -> None:
    """The guard lets the current socket through: a session publishes and receives."""
    async with connect(broker.port) as client:
        await client.subscribe("pingan/test/echo", qos=1)
        await client.publish("pingan/test/echo", b"hello", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert message.payload == b"hello"
                break


async def test_a_lost_connection_leaves_no_unread_error_behind(proxy: FaultyProxy) -> None:
    """A publishing tool (`fleet push`) whose connection drops learns it from its own
    timeout; the client must not also print "Future exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    try:
        client = connect(proxy.port)
        async with client:
            await client.publish("pingan/test/one", b"1", qos=1)
            proxy.cut()
            await eventually(client._disconnected.done)
        del client
        gc.collect()
        await asyncio.sleep(0)
        assert reported == []
    finally:
        loop.set_exception_handler(None)

"""Radars on real pseudo-terminals through the real hub: the module's side of the pty is
the test, speaking the frames of each module's protocol document byte for byte.

An LD2410 in the bathroom: the hub turns engineering mode on when the port opens; its
reports (through garbage and a corrupted frame, counted) reach the care checks as her
movement; when it stops sending it is sensor_offline within seconds, and restored by its
next report. An MR60FDA1: the hub asks for its states when the port opens and for a
heartbeat when it is quiet; a fall it reports reaches the centre as a `fall` alarm with
the room.
"""

from __future__ import annotations

import asyncio
import os
import select
import time
from collections.abc import Iterator

import pytest

from hub.control import call
from hub.sensors import ld2410, mr60fda1, radar_source
from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually
from tests.test_radar_decoders import (
    LD2410_BASIC_EMPTY,
    LD2410_ENGINEERING_STILL,
    MR60_ACTIVE,
    MR60_FALL,
    MR60_HEARTBEAT,
    MR60_SOMEONE,
)

# An engineering report of someone moving at 120 cm (gate 1), LD2410B.
LD2410_ENGINEERING_MOVING = bytes.fromhex(
    (
        "F4F3F2F1 2300 01 AA 01 7800 50 0000 00 7800 08 08"
        " 14 50 0A 05 02 01 00 00 00 05 03 02 01 01 00 00 00 00 60 01 55 00 F8F7F6F5"
    ).replace(" ", "")
)


@pytest.fixture
def module() -> Iterator[tuple[int, str]]:
    """The module's side of a pty pair, and the port name the hub opens."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def read_from_hub(master: int, want: bytes, timeout: float = 10.0) -> bytes:
    """What the hub wrote to the module, until `want` is in it (or the time is up)."""
    got = b""
    end = time.monotonic() + timeout
    while want not in got and time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            got += os.read(master, 4096)
    return got


async def pair(sock: object, key: str, room: str, name: str) -> None:
    await asyncio.to_thread(call, sock, "pair", key=key, kind="radar", name=name, room=room)


async def test_an_ld2410_in_the_bathroom_is_read_through_garbage_and_reported_when_silent(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    module: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(radar_source, "ENGINEERING_RETRY_S", 0.5)
    master, port = module
    key = f"radar:{port}"
    hub = await make_hub(
        broker.port, radar={"devices": [{"port": port, "model": "ld2410", "silent_s": 3.0}]}
    )
    await pair(hub.cfg.control_socket, key, "卫生间", "浴室雷达")
    # The hub asks for engineering reports as soon as it opens the port.
    on = b"".join(ld2410.engineering_on())
    assert on in await asyncio.to_thread(read_from_hub, master, on)
    stream = (
        b"\x00\xf4\xf3garbage"
        + LD2410_ENGINEERING_MOVING[:20]  # cut by a reset
        + LD2410_ENGINEERING_MOVING.replace(b"\x55\x00\xf8", b"\x55\x07\xf8")  # corrupted
        + LD2410_ENGINEERING_MOVING
        + LD2410_ENGINEERING_MOVING
    )
    for i in range(0, len(stream), 5):  # in ragged pieces, as a UART delivers them
        os.write(master, stream[i : i + 5])
        await asyncio.sleep(0.001)
    await eventually(lambda: hub.care.engine.last_action is not None, timeout=10)
    assert hub.care.engine.last_action is not None
    assert (hub.care.engine.last_action.what, hub.care.engine.last_action.device) == ("motion", key)
    assert hub.care.engine.last_action.room == "卫生间"
    source = hub.radars[key]
    assert source.tracker.live.bad_frames == 1
    assert source.tracker.live.moving_gates == (20, 80, 10, 5, 2, 1, 0, 0, 0)
    # The module goes quiet (unplugged power, a crash): offline within seconds.
    # (Under load the hub may already have called it silent once before the first report.)
    before = len(collector.events("sensor_offline"))
    offline = (await collector.wait_event("sensor_offline", count=before + 1, timeout=20))[-1]
    assert offline["source"]["device"] == key and offline["source"]["room"] == "卫生间"
    assert "no valid frame" in offline["data"]["reason"]
    os.write(master, LD2410_ENGINEERING_STILL + LD2410_BASIC_EMPTY)
    await collector.wait_event("sensor_restored", count=before + 1, timeout=10)
    # Basic reports: the module restarted and forgot engineering mode; asked again.
    assert on in await asyncio.to_thread(read_from_hub, master, on)
    assert collector.events("radar") == [] and collector.events("motion") == []


async def test_an_mr60fda1_fall_reaches_the_centre_at_once_with_its_room(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory, module: tuple[int, str]
) -> None:
    master, port = module
    key = f"radar:{port}"
    hub = await make_hub(broker.port, radar={"devices": [{"port": port, "model": "mr60fda1"}]})
    await pair(hub.cfg.control_socket, key, "卫生间", "跌倒雷达")
    queries = b"".join(mr60fda1.start_queries())
    assert queries in await asyncio.to_thread(read_from_hub, master, queries)
    # Quiet: the hub asks for a heartbeat each second; the module answers.
    asked = await asyncio.to_thread(read_from_hub, master, mr60fda1.heartbeat_query())
    assert mr60fda1.heartbeat_query() in asked
    stream = (
        b"\x53\x00noise" + MR60_HEARTBEAT + MR60_SOMEONE + MR60_ACTIVE + b"\x54\x43" + MR60_FALL
    )
    for byte in stream:  # one byte at a time
        os.write(master, bytes((byte,)))
        await asyncio.sleep(0)
    [fall] = await collector.wait_event("fall", timeout=10)
    assert fall["priority"] == 0
    assert fall["source"]["device"] == key
    assert (fall["source"]["room"], fall["source"]["name"]) == ("卫生间", "跌倒雷达")
    assert fall["data"]["rule"] == "radar_fall" and fall["data"]["incident"] == fall["id"]
    os.write(master, MR60_FALL)  # the module repeats its state: the same fall
    await asyncio.sleep(0.5)
    assert len(collector.events("fall")) == 1
    assert hub.radars[key].tracker.live.fall is True

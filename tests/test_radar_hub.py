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
from tests.test_web_api import client_for, installer

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


def parameters_reply(max_gate: int, moving: int, still: int, no_one_s: int) -> bytes:
    """The LD2410's answer to "read parameters" (protocol V1.02, 2.2.8), every gate alike."""
    body = bytes([0xAA, 8, max_gate, max_gate]) + bytes([moving] * 9) + bytes([still] * 9)
    payload = b"\x61\x01\x00\x00" + body + no_one_s.to_bytes(2, "little")
    return b"\xfd\xfc\xfb\xfa" + len(payload).to_bytes(2, "little") + payload + b"\x04\x03\x02\x01"


async def test_the_installer_sets_an_ld2410s_distance_and_thresholds_from_the_devices_page(
    broker: Mosquitto,
    make_hub: HubFactory,
    module: tuple[int, str],
) -> None:
    master, port = module
    key = f"radar:{port}"
    hub = await make_hub(broker.port, radar={"devices": [{"port": port, "model": "ld2410"}]})
    await pair(hub.cfg.control_socket, key, "卫生间", "浴室雷达")
    on = b"".join(ld2410.engineering_on())
    assert on in await asyncio.to_thread(read_from_hub, master, on)
    os.write(master, parameters_reply(8, 50, 40, 5))  # what it was set to at the factory
    await eventually(lambda: hub.radars[key].tracker.live.settings is not None, timeout=10)
    async for server, client in client_for(hub):
        csrf = await installer(server, client)
        page = await (await client.get("/installer/devices")).text()
        assert 'action="/installer/radar"' in page and "6 m · 50 % / 40 %" in page
        # A distance the module cannot watch: refused with the reason, nothing sent.
        bad = {"csrf": csrf, "key": key, "max_m": "9", "moving": "30", "still": "35"}
        resp = await client.post("/installer/radar", data=bad)
        assert resp.status == 400 and "1.5 到 6 米" in await resp.text()
        # The bathroom is 3 m deep: watch 3 m, a little more sensitive.
        good = {**bad, "max_m": "3"}
        resp = await client.post("/installer/radar", data=good)
        assert resp.status == 200 and "已发给雷达" in await resp.text()
        want = b"".join(ld2410.set_range(4, 4, 5) + ld2410.set_gate(0xFFFF, 30, 35))
        written = await asyncio.to_thread(read_from_hub, master, want)
        assert want in written
        set_max_gates = ld2410.set_range(4, 4, 5)[1][:8]  # header, length, command word
        assert written.count(set_max_gates) == 1  # the refused form sent nothing
        os.write(master, parameters_reply(4, 30, 35, 5))  # the module reads them back
        await eventually(
            lambda: hub.radars[key].tracker.live.settings.max_moving_gate == 4,  # type: ignore[union-attr]
            timeout=10,
        )
        page = await (await client.get("/installer/devices")).text()
        assert "3 m · 30 % / 35 %" in page

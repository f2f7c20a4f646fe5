"""A 433 MHz RFLink gateway on a real pseudo-terminal: paired door, smoke, gas and pendant
lines arrive at the alarm centre as the right events; garbage does not break anything;
unpaired devices wait in the pairing inbox and never raise alarms."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hub.control import call
from hub.reading import Reading
from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually

DOOR = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
SMOKE = b"20;2E;Alecto V4;ID=0003;SMOKEALERT=ON;\r\n"
GAS = b"20;3E;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;\r\n"
PENDANT = b"20;3F;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=OK;\r\n"
STRANGER = b"20;40;Kaku;ID=00beef;SWITCH=1;CMD=ON;\r\n"
GARBAGE = [b"\x00\xff\xfe", b"20;99;", b"nonsense without end", b"\r\n", b"20;;;;\r\n"]


@pytest.fixture
def gateway() -> Iterator[tuple[int, str]]:
    """The gateway's side of a pty pair and the port name the hub opens."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


async def test_paired_rf_sensors_reach_the_centre_as_events_and_alarms(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    gateway: tuple[int, str],
) -> None:
    master, port = gateway
    hub = await make_hub(broker.port, rflink={"port": port})
    sock = hub.cfg.control_socket
    for key, kind, name in (  # typed as the gateway prints them: any case pairs
        ("rflink:Eurodomest:123456:01", "door", "大门"),
        ("rflink:Alecto V4:0003", "smoke", "厨房烟感"),
        ("rflink:Chuango:0B2C3D:03", "gas", "燃气"),
        ("rflink:chuango:0a1b2c:02", "button", "胸牌"),
    ):
        await asyncio.to_thread(call, sock, "pair", key=key, kind=kind, name=name, room="家")
    await asyncio.sleep(0.5)  # the serial port is open (pyserial flushes input on open)
    stream = (
        GARBAGE[0]
        + b"\r\n"  # a burst of noise, then the line ends: the next line must survive
        + DOOR
        + GARBAGE[1]
        + GARBAGE[2]
        + b"\n"
        + SMOKE
        + GARBAGE[3]
        + GAS
        + GARBAGE[4]
        + STRANGER
        + PENDANT
    )
    for i in range(0, len(stream), 7):  # in ragged pieces, as a UART delivers them
        os.write(master, stream[i : i + 7])
        await asyncio.sleep(0.001)

    [door] = await collector.wait_event("door")
    [smoke] = await collector.wait_event("smoke")
    [gas] = await collector.wait_event("gas")
    [sos] = await collector.wait_event("sos")
    assert door["priority"] == 2 and door["source"]["name"] == "大门"
    assert smoke["priority"] == 0 and smoke["source"]["device"] == "rflink:alecto v4:0003"
    assert gas["priority"] == 0
    assert sos["priority"] == 0 and sos["source"]["name"] == "胸牌"
    listing = await asyncio.to_thread(call, sock, "devices")
    assert [h["key"] for h in listing["inbox"]] == ["rflink:kaku:00beef:1"]
    assert all("kaku" not in str(e["source"]).lower() for e in collector.events())


def test_devices_command_lists_pairs_and_removes(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "devices", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "pair" in proc.stdout and "remove" in proc.stdout and "rename" in proc.stdout


async def test_a_silent_sensor_is_reported_offline_once(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    gateway: tuple[int, str],
) -> None:
    master, port = gateway
    hub = await make_hub(broker.port, rflink={"port": port})
    key = "rflink:eurodomest:123456:01"
    await asyncio.to_thread(call, hub.cfg.control_socket, "pair", key=key, kind="door")
    hub.supervisor.set_interval(key, 1.0)
    await asyncio.sleep(0.5)
    os.write(master, DOOR)
    await collector.wait_event("door")
    [offline] = await collector.wait_event("sensor_offline", timeout=20)
    assert offline["source"]["device"] == key
    os.write(master, DOOR)
    await collector.wait_event("sensor_restored", timeout=10)
    await eventually(lambda: len(collector.events("sensor_offline")) == 1)


async def test_a_smoke_detector_silent_in_the_middle_of_its_alarm_is_reported_so(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    gateway: tuple[int, str],
) -> None:
    master, port = gateway
    hub = await make_hub(broker.port, rflink={"port": port})
    key = "rflink:alecto v4:0003"
    await asyncio.to_thread(call, hub.cfg.control_socket, "pair", key=key, kind="smoke")
    hub.supervisor.set_interval(key, 1.0)
    await asyncio.sleep(0.5)
    os.write(master, SMOKE)
    [smoke] = await collector.wait_event("smoke")
    # It burns, or its battery goes: nothing more is heard. The centre learns it went
    # quiet while still in alarm (the episode is open), not just "offline".
    [offline] = await collector.wait_event("sensor_offline", timeout=20)
    assert offline["source"]["device"] == key and offline["data"]["in_alarm"] is True
    assert len(collector.events("smoke")) == 1 and smoke["priority"] == 0


async def test_a_chattering_doors_last_summary_is_stored_when_the_hub_stops_cleanly(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    gateway: tuple[int, str],
) -> None:
    master, port = gateway
    hub = await make_hub(broker.port, rflink={"port": port})
    key = "rflink:eurodomest:123456:01"
    await asyncio.to_thread(call, hub.cfg.control_socket, "pair", key=key, kind="door")
    handled: list[Reading] = []
    original = hub.readings.handle_reading

    async def counted(reading: Reading) -> None:
        await original(reading)
        handled.append(reading)

    hub.readings.handle_reading = counted  # type: ignore[method-assign]
    await asyncio.sleep(0.5)
    closed = DOOR.replace(b"CMD=ON", b"CMD=OFF")
    os.write(master, DOOR + closed + DOOR + closed)  # open, shut, open, shut within a second
    await eventually(lambda: len(handled) == 4)
    [first] = await collector.wait_event("door")
    # The other three wait in the 10 s coalescing window when the hub is stopped (an
    # update, a restart by the installer): they are stored, not lost.
    await hub.stop()

    again = await make_hub(broker.port, rflink={"port": port})
    [_, summary] = await collector.wait_event("door", count=2)
    assert first["data"] == {"values": {"command": "on", "open": True}, "count": 1}
    assert summary["data"] == {"values": {"command": "off", "open": False}, "count": 3}
    door = again.registry.get(key)
    assert door is not None and door.state == "clear"  # it was left shut


async def test_the_installer_pairs_by_the_gateways_spelling_and_sees_the_door_state(
    broker: Mosquitto,
    make_hub: HubFactory,
    gateway: tuple[int, str],
) -> None:
    master, port = gateway
    hub = await make_hub(broker.port, rflink={"port": port})
    sock = str(hub.cfg.control_socket)

    async def cli(*words: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "hub", "devices", "--socket", sock, *words]
        return await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, check=False, timeout=60
        )

    paired = await cli("pair", "rflink:Eurodomest:123456:01", "--kind", "door", "--name", "大门")
    assert paired.returncode == 0 and "paired rflink:eurodomest:123456:01 as door" in paired.stdout
    refused = await cli("pair", "rflink:Eurodomest", "--kind", "door")
    assert refused.returncode != 0 and "not an RFLink key" in refused.stderr
    await asyncio.sleep(0.5)
    os.write(master, DOOR)
    await eventually(lambda: (d := hub.registry.get("rflink:eurodomest:123456:01")) and d.state)
    listing = await cli("list")
    assert "rflink:eurodomest:123456:01  door  大门" in listing.stdout
    assert "  open since " in listing.stdout

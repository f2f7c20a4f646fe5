"""RFLink gateway lines decoded into Readings: recorded vectors compared whole."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from typing import cast

import pytest
import serial_asyncio_fast
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.reading import Reading, State
from hub.sensors.rflink import decode
from hub.sensors.serial_source import LineFramer, SerialSource
from tests.fuzzing import examples

RFLINK_DOOR_OPEN = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
RFLINK_DOOR_CLOSED = b"20;2E;Eurodomest;ID=123456;SWITCH=01;CMD=OFF;\r\n"
RFLINK_PIR = b"20;31;Eurodomest;ID=000111;PIR=ON;\r\n"
RFLINK_SMOKE = b"20;0C;Alecto V4;ID=0003;SMOKEALERT=ON;\r\n"
RFLINK_GAS = b"20;40;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;\r\n"
RFLINK_PANIC_PENDANT = b"20;3A;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=OK;\r\n"
RFLINK_BATTERY_LOW = b"20;3B;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=LOW;\r\n"
RFLINK_BANNER = b"20;00;Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R46;\r\n"
CORRUPT_FRAME = b"20;2D;Euro\xffdomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
TRUNCATED_FRAME = b"20;2D;Eurodo"
LEFTOVER_FRAME = b"20;00;N20;00;Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R45"


def test_door_contact_opening_is_heard_as_a_switch_until_the_registry_says_door() -> None:
    assert decode(RFLINK_DOOR_OPEN) == Reading(
        device="rflink:eurodomest:123456:01",
        protocol="rflink",
        kind="switch",
        values={"command": "on"},
        state=State.ALARM,
    )


def test_door_contact_closing_keeps_the_same_device_key() -> None:
    assert decode(RFLINK_DOOR_CLOSED) == Reading(
        device="rflink:eurodomest:123456:01",
        protocol="rflink",
        kind="switch",
        values={"command": "off"},
        state=State.CLEAR,
    )


def test_pir_line_is_a_motion_reading() -> None:
    assert decode(RFLINK_PIR) == Reading(
        device="rflink:eurodomest:000111",
        protocol="rflink",
        kind="motion",
        values={"pir": "on"},
        state=State.ALARM,
    )


def test_smoke_alert_line_is_a_smoke_reading() -> None:
    assert decode(RFLINK_SMOKE) == Reading(
        device="rflink:alecto v4:0003",
        protocol="rflink",
        kind="smoke",
        values={"smokealert": "on"},
        state=State.ALARM,
    )


def test_gas_detector_line_keeps_its_raw_command_for_the_registry_to_attribute() -> None:
    assert decode(RFLINK_GAS) == Reading(
        device="rflink:chuango:0b2c3d:03",
        protocol="rflink",
        kind="switch",
        values={"command": "on"},
        state=State.ALARM,
    )


def test_panic_pendant_press_reports_its_battery_is_fine() -> None:
    assert decode(RFLINK_PANIC_PENDANT) == Reading(
        device="rflink:chuango:0a1b2c:02",
        protocol="rflink",
        kind="switch",
        values={"command": "allon", "battery_low": False},
        state=State.ALARM,
    )


def test_pendant_with_a_flat_battery_says_so() -> None:
    assert decode(RFLINK_BATTERY_LOW) == Reading(
        device="rflink:chuango:0a1b2c:02",
        protocol="rflink",
        kind="switch",
        values={"command": "allon", "battery_low": True},
        state=State.ALARM,
    )


def test_an_all_clear_or_a_closed_contact_says_clear_and_a_thermometer_says_nothing() -> None:
    assert decode(RFLINK_SMOKE.replace(b"=ON", b"=OFF")).state is State.CLEAR
    assert decode(RFLINK_PIR.replace(b"=ON", b"=OFF")).state is State.CLEAR
    assert decode(RFLINK_PANIC_PENDANT.replace(b"ALLON", b"ALLOFF")).state is State.CLEAR
    assert decode(b"20;41;Alecto V1;ID=0334;TEMP=00d1;HUM=52;BAT=LOW;").state is None
    assert decode(b"20;42;RTS;ID=1a602a;SWITCH=01;CMD=UP;").state is None  # a blind, not on/off


def test_the_key_is_the_same_whatever_case_the_gateway_prints_the_protocol_in() -> None:
    assert decode(RFLINK_DOOR_OPEN).device == decode(RFLINK_DOOR_OPEN.upper()).device


def test_text_lines_without_line_ending_decode_the_same() -> None:
    assert decode(RFLINK_DOOR_OPEN.decode().strip()) == decode(RFLINK_DOOR_OPEN)


@pytest.mark.parametrize(
    "line",
    [CORRUPT_FRAME, TRUNCATED_FRAME, LEFTOVER_FRAME, RFLINK_BANNER, b"", b"\r\n", b"garbage"],
    ids=["corrupt", "truncated", "leftover", "banner", "empty", "crlf", "garbage"],
)
def test_lines_that_are_not_a_device_report_are_refused_cleanly(line: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(line)


@settings(max_examples=examples(2000), deadline=None)
@given(st.one_of(st.binary(max_size=300), st.binary(max_size=120).map(lambda b: b"20;" + b)))
def test_any_bytes_give_a_reading_or_a_clean_decode_error(line: bytes) -> None:
    try:
        result = decode(line)
    except DecodeError:
        return
    assert isinstance(result, Reading)
    assert result.device.startswith("rflink:")


# --- the gateway on a real pseudo-terminal -------------------------------------------------

DOOR = decode(RFLINK_DOOR_OPEN)
SMOKE = decode(RFLINK_SMOKE)
GAS = decode(RFLINK_GAS)
PENDANT = decode(RFLINK_PANIC_PENDANT)
NOISY_STREAM = (
    b"\x00\xff\xfegarbage\r\n"
    + RFLINK_DOOR_OPEN
    + b"20;2D;Euro"  # a partial line cut by a gateway reset ...
    + b"\r"  # ... ended by a bare CR
    + RFLINK_SMOKE.replace(b"\r\n", b"\n")  # bare LF
    + b"X" * 1000  # over-long run-on noise, then a terminator
    + b"\r\n"
    + RFLINK_BANNER
    + RFLINK_GAS
    + CORRUPT_FRAME
    + RFLINK_PANIC_PENDANT.replace(b"\r\n", b"\r")  # bare CR
    + b"\n"
)


def test_framer_finds_the_same_lines_whether_bytes_come_in_one_chunk_or_one_at_a_time() -> None:
    whole = LineFramer().feed(NOISY_STREAM)
    framer = LineFramer()
    trickled = [
        line for i in range(len(NOISY_STREAM)) for line in framer.feed(NOISY_STREAM[i : i + 1])
    ]
    assert trickled == whole
    assert [line for line in whole if b"X" in line] == []


async def collect(source: SerialSource, want: int, timeout: float = 10.0) -> list[Reading]:
    """Readings from the source until `want` have arrived (fails after `timeout`)."""
    got: list[Reading] = []

    async def run() -> None:
        async for reading in source.readings():
            got.append(reading)
            if len(got) == want:
                return

    await asyncio.wait_for(run(), timeout)
    return got


def open_pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def watched_source(port: str) -> tuple[SerialSource, asyncio.Event]:
    """A source on `port` and an event set once it has opened the port.

    pyserial flushes the input buffer on open, so the test gateway must not talk before that.
    """
    opened = asyncio.Event()

    async def opener() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        pair = await serial_asyncio_fast.open_serial_connection(url=port, baudrate=57600)
        opened.set()
        return pair

    return SerialSource(port, opener=opener), opened


async def test_gateway_on_a_pty_delivers_door_smoke_gas_and_pendant_through_garbage() -> None:
    master, slave, port = open_pty()
    try:
        source, opened = watched_source(port)
        task = asyncio.ensure_future(collect(source, 4))
        await asyncio.wait_for(opened.wait(), 5)
        os.write(master, NOISY_STREAM)
        assert await task == [DOOR, SMOKE, GAS, PENDANT]
    finally:
        os.close(master)
        os.close(slave)


async def test_gateway_sending_one_byte_at_a_time_still_delivers_every_reading() -> None:
    master, slave, port = open_pty()
    try:
        source, opened = watched_source(port)
        task = asyncio.ensure_future(collect(source, 4))
        await asyncio.wait_for(opened.wait(), 5)
        for i in range(len(NOISY_STREAM)):
            os.write(master, NOISY_STREAM[i : i + 1])
            await asyncio.sleep(0)
        assert await task == [DOOR, SMOKE, GAS, PENDANT]
    finally:
        os.close(master)
        os.close(slave)


async def test_a_gateway_that_disappears_is_reopened_and_heard_again() -> None:
    first_master, first_slave, first_port = open_pty()
    second_master, second_slave, second_port = open_pty()
    ports = [first_port, second_port]
    opened = asyncio.Event()

    async def opener() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        pair = await serial_asyncio_fast.open_serial_connection(url=ports.pop(0), baudrate=57600)
        opened.set()
        return pair

    source = SerialSource("usb-gateway", opener=opener, reconnect_delay=0.01)
    readings = cast(AsyncGenerator[Reading, None], source.readings())  # to aclose() it
    try:
        heard = asyncio.ensure_future(anext(readings))
        await asyncio.wait_for(opened.wait(), 5)
        opened.clear()
        os.write(first_master, RFLINK_DOOR_OPEN)
        assert await asyncio.wait_for(heard, 5) == DOOR
        heard = asyncio.ensure_future(anext(readings))
        os.close(first_slave)
        os.close(first_master)  # the gateway is unplugged: reads fail with EIO
        await asyncio.wait_for(opened.wait(), 5)
        os.write(second_master, RFLINK_SMOKE)
        assert await asyncio.wait_for(heard, 5) == SMOKE
    finally:
        await readings.aclose()
        os.close(second_master)
        os.close(second_slave)

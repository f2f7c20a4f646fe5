"""One RFLink reading the hub fails to handle is logged and skipped: the gateway's port stays
open and the alarm line after it still reaches the centre. An alarm the outbox refuses is
not swallowed by that guard: it stays open and escalates locally."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Iterator

import pytest

from hub.control import call
from hub.reading import Reading
from hub.sim.broker import Mosquitto
from hub.sos.lifecycle import AlarmState
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually

DOOR = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
SMOKE = b"20;2E;Alecto V4;ID=0003;SMOKEALERT=ON;\r\n"
GAS = b"20;3E;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;\r\n"
# Device keys as the decoder prints them (hub.sensors.keys).
DOOR_KEY = "rflink:eurodomest:123456:01"
SMOKE_KEY = "rflink:alecto v4:0003"
GAS_KEY = "rflink:chuango:0b2c3d:03"


@pytest.fixture
def gateway() -> Iterator[tuple[int, str]]:
    """The gateway's side of a pty pair and the port name the hub opens."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


async def _pair(sock: str, *devices: tuple[str, str]) -> None:
    for key, kind in devices:
        await asyncio.to_thread(call, sock, "pair", key=key, kind=kind, name=kind, room="家")


async def test_a_reading_the_hub_fails_on_is_logged_and_the_smoke_line_after_it_still_alarms(
    collector: Collector,
    make_hub: HubFactory,
    gateway: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    master, port = gateway
    hub = await make_hub(collector.port, rflink={"port": port})
    await _pair(hub.cfg.control_socket, (DOOR_KEY, "door"), (SMOKE_KEY, "smoke"))
    await asyncio.sleep(0.5)  # the serial port is open (pyserial flushes input on open)
    seen = hub.registry.seen
    failed: list[str] = []

    def sd_card_fails_once(reading: Reading) -> object:
        if not failed:  # the SD card fails one registry write (the door's reading)
            failed.append(reading.device)
            raise OSError(errno.EIO, "Input/output error")
        return seen(reading)

    monkeypatch.setattr(hub.registry, "seen", sd_card_fails_once)
    os.write(master, DOOR + SMOKE)  # both lines in one chunk: already read when the first fails

    [smoke] = await collector.wait_event("smoke")
    assert smoke["priority"] == 0 and smoke["source"]["device"] == SMOKE_KEY
    assert failed == [DOOR_KEY]
    [line] = [r for r in caplog.records if "not handled" in r.getMessage()]
    assert DOOR_KEY in line.getMessage() and line.levelno == logging.ERROR
    assert line.exc_info is not None and "Input/output error" in str(line.exc_info[1])
    assert not any(
        "rflink" in r.getMessage() and "restart" in r.getMessage() for r in caplog.records
    )


async def test_a_smoke_alarm_the_outbox_refuses_stays_open_and_escalates_while_lines_go_on(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    gateway: tuple[int, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    master, port = gateway
    hub = await make_hub(
        broker.port, rflink={"port": port}, sos={"ack_timeout_s": 2.0, "resend_s": 1.0}
    )
    await _pair(hub.cfg.control_socket, (SMOKE_KEY, "smoke"), (GAS_KEY, "gas"))
    await asyncio.sleep(0.5)
    db = hub.outbox.sync._db
    await asyncio.to_thread(db.execute, "PRAGMA query_only=ON")  # SQLite refuses every write
    os.write(master, SMOKE)

    [alarm] = await eventually(
        lambda: [a for a in hub.alarms.book.alarms.values() if a.kind == "smoke"]
    )
    assert alarm.state is AlarmState.RAISED and alarm.is_open  # not stored, not dropped
    assert any(
        r.levelno == logging.CRITICAL and "could not be stored" in r.getMessage()
        for r in caplog.records
    )
    await asyncio.to_thread(db.execute, "PRAGMA query_only=OFF")  # the disk answers again
    os.write(master, GAS)

    [gas] = await collector.wait_event("gas")
    assert gas["source"]["device"] == GAS_KEY
    # The smoke alarm the disk refused was held and is stored before the gas line's alarm
    # (tests/test_refused_storage.py); unanswered, it escalates locally as any alarm does.
    [smoke] = await collector.wait_event("smoke")
    assert smoke["id"] == alarm.id and smoke["seq"] < gas["seq"]
    [escalated] = await eventually(
        lambda: [e for e in collector.events("escalate") if e["data"]["alarm_id"] == alarm.id]
    )
    assert escalated["data"]["alarm_kind"] == "smoke"
    assert escalated["data"]["reason"] in ("no_ack", "not_delivered")  # stored by then or not
    assert not any("not handled" in r.getMessage() for r in caplog.records)

"""The BLE source's decode path and scanner life, on a fake clock and a scripted scanner
(the radio cannot exist here; the real-bleak path is in test_ble_scanner.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hub.clock import FakeClock
from hub.reading import Reading
from hub.sensors import ble as ble_module
from hub.sensors.ble import BleSource, DetectionCallback
from hub.sensors.bthome import BTHOME_UUID
from hub.sensors.presence import PresenceTracker
from tests.test_bthome import (
    BAD_TEXT_ADV,
    CORRUPT_ADV,
    ENCRYPTED_PENDANT,
    ENCRYPTED_PENDANT_KEY,
    ENCRYPTED_PENDANT_PRESS_ADV,
    OUT_OF_ORDER_ADV,
    PENDANT,
    PENDANT_BUTTON_PRESS_ADV,
)


class ScriptedScanner:
    """Starts or refuses to, as the test says; counts starts and stops."""

    def __init__(self, log: list[str], fail: list[str]) -> None:
        self.log, self.fail = log, fail

    async def start(self) -> None:
        if self.fail:
            raise OSError(self.fail.pop(0))
        self.log.append("start")

    async def stop(self) -> None:
        self.log.append("stop")


def queued(source: BleSource) -> list[Reading]:
    out = []
    while not source._queue.empty():
        out.append(source._queue.get_nowait())
    return out


def test_a_pendant_repeating_its_press_gives_one_reading_and_garbage_gives_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    source = BleSource(clock)
    first_heard = clock.now()
    for _ in range(3):  # a Shelly button sends each press several times
        source.on_advert(PENDANT, -60, {BTHOME_UUID: PENDANT_BUTTON_PRESS_ADV})
        clock.advance(0.3)
    with caplog.at_level(logging.INFO, logger="hub.sensors.ble"):
        for _ in range(50):
            source.on_advert(PENDANT, -60, {BTHOME_UUID: CORRUPT_ADV + bytes([_ % 7])})
            source.on_advert(PENDANT, -60, {BTHOME_UUID: bytes(100)})
            source.on_advert(PENDANT, -60, {"0000feaa-0000-1000-8000-00805f9b34fb": b"x"})
    [press] = queued(source)
    assert press.kind == "button" and press.values["button"] == "press"
    assert press.ts == first_heard  # stamped by the hub's clock when first heard
    assert source.adverts == 153 and source.decoded == 1
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 1  # not 100


def test_a_neighbours_broken_gadget_costs_one_log_line_an_hour_not_one_per_advert(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    source = BleSource(clock)
    neighbour = "C0:FF:EE:00:00:02"
    with caplog.at_level(logging.DEBUG):
        for _ in range(3600 // 4 + 1):  # a new advert every 4 s for an hour
            source.on_advert(neighbour, -80, {BTHOME_UUID: BAD_TEXT_ADV})
            source.on_advert(PENDANT, -60, {BTHOME_UUID: OUT_OF_ORDER_ADV})
            queued(source)  # the hub takes each reading
            clock.advance(4.0)
    assert [r for r in caplog.records if r.name.startswith("bthome_ble")] == []
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.sensors.ble"]
    mine = [line for line in lines if neighbour in line]
    assert len(mine) == 2 and len(lines) == 4  # at first, then the hour's summary
    assert "skipped" in mine[0] and "can't be decoded to a string" in mine[0]
    assert "899 more such adverts since the last report" in mine[1]
    assert "encrypted" not in " ".join(lines)
    # The pendant's adverts decoded (bthome-ble only objected to their order).
    assert source.decoded == 901


def test_an_encrypted_pendant_is_decoded_with_its_bindkey_only() -> None:
    keyed = BleSource(FakeClock(), bindkeys={ENCRYPTED_PENDANT: ENCRYPTED_PENDANT_KEY})
    keyless = BleSource(FakeClock())
    for source in (keyed, keyless):
        source.on_advert(ENCRYPTED_PENDANT, -60, {BTHOME_UUID: ENCRYPTED_PENDANT_PRESS_ADV})
    [press] = queued(keyed)
    assert press.values["button"] == "press"
    assert queued(keyless) == []


def test_presence_changes_come_out_as_presence_readings() -> None:
    clock = FakeClock()
    tracker = PresenceTracker(
        (PENDANT,), near_dbm=-75, away_dbm=-85, away_after_s=180, now=clock.monotonic()
    )
    source = BleSource(clock, room="客厅", presence=tracker)
    source.on_advert(PENDANT.lower(), -60, {})
    [near] = queued(source)
    assert near == Reading(
        device=PENDANT,
        protocol="ble",
        kind="presence",
        values={"present": True, "room": "客厅", "rssi": -60},
        rssi=-60,
        ts=clock.now(),
    )
    clock.advance(181)
    [away] = source._periodic(clock.monotonic())
    assert away.values == {"present": False, "room": "客厅", "rssi": None}


async def test_a_scanner_that_cannot_start_is_reported_once_and_retried_until_it_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ble_module, "START_RETRY_S", 0.01)
    clock = FakeClock()
    log: list[str] = []
    fail = ["No such adapter hci0", "No such adapter hci0", "No such adapter hci0"]

    def factory(_callback: DetectionCallback, passive: bool) -> ScriptedScanner:
        log.append("passive" if passive else "active")
        return ScriptedScanner(log, fail)

    source = BleSource(clock, passive=False, scanner_factory=factory)
    readings = source.readings()
    fault = await asyncio.wait_for(anext(readings), 5)
    assert fault.kind == "fault"
    assert fault.values == {
        "component": "ble_scanner",
        "detail": "BLE scanner cannot start: No such adapter hci0",
    }
    nxt = asyncio.ensure_future(anext(readings))
    await asyncio.sleep(0.2)  # retried (three failures, one fault), then it starts
    assert log[-1] == "start" and log.count("active") == 4
    source.on_advert(PENDANT, -60, {})  # heard: the outage is over
    resolved = await asyncio.wait_for(nxt, 5)
    assert resolved.values["resolved"] is True
    await readings.aclose()
    assert log[-1] == "stop"


async def test_passive_scanning_refused_falls_back_to_active_once() -> None:
    log: list[str] = []

    def factory(_callback: DetectionCallback, passive: bool) -> ScriptedScanner:
        log.append("passive" if passive else "active")
        return ScriptedScanner(log, ["passive scanning requires BlueZ >= 5.56"] if passive else [])

    source = BleSource(FakeClock(), passive=True, scanner_factory=factory)
    readings = source.readings()
    task = asyncio.ensure_future(anext(readings))
    await asyncio.sleep(0.05)
    assert log == ["passive", "active", "start"] and not source.passive
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await readings.aclose()


async def test_an_adapter_missing_at_boot_does_not_give_up_passive_scanning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ble_module, "START_RETRY_S", 0.01)
    log: list[str] = []
    fail = ["No such adapter hci0", "No such adapter hci0"]  # passive, then active, refused

    def factory(_callback: DetectionCallback, passive: bool) -> ScriptedScanner:
        log.append("passive" if passive else "active")
        return ScriptedScanner(log, fail)

    source = BleSource(FakeClock(), passive=True, scanner_factory=factory)
    readings = source.readings()
    fault = await asyncio.wait_for(anext(readings), 5)
    assert fault.kind == "fault"
    task = asyncio.ensure_future(anext(readings))
    await asyncio.sleep(0.1)
    assert log == ["passive", "active", "passive", "start"] and source.passive
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await readings.aclose()


async def test_a_pendant_press_heard_while_the_scanner_cannot_restart_is_not_held_back() -> None:
    # BlueZ did not confirm the old scan stopped (or a timed-out start went through after
    # all): adverts still arrive while every new start is refused. The press must reach the
    # hub now, not after the next start attempt (seconds to minutes away) succeeds.
    log: list[str] = []

    def factory(_callback: DetectionCallback, _passive: bool) -> ScriptedScanner:
        return ScriptedScanner(log, ["org.bluez.Error.InProgress"])

    source = BleSource(FakeClock(), passive=False, scanner_factory=factory)
    readings = source.readings()
    fault = await asyncio.wait_for(anext(readings), 5)
    assert fault.kind == "fault"
    source.on_advert(PENDANT, -60, {BTHOME_UUID: PENDANT_BUTTON_PRESS_ADV})
    heard = await asyncio.wait_for(anext(readings), 2)  # adverts arrive: not silent now
    assert heard.kind == "fault" and heard.values["resolved"] is True
    press = await asyncio.wait_for(anext(readings), 2)  # the retry waits 5 s
    assert press.kind == "button" and press.values["button"] == "press"
    await readings.aclose()

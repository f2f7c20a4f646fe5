"""The BLE scanner path with real bleak against BlueZ mocked on a private D-Bus system bus:
a paired BTHome pendant's press reaches the alarm centre as the same SOS as the red
button; strangers wait in the pairing inbox; the scanner falls back to active scanning
on an old BlueZ and is restarted when it stops hearing anything."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from hub.ble_link import BleLink
from hub.clock import SystemClock
from hub.control import call
from hub.errors import ControlError
from hub.reading import Reading
from hub.sensors import ble as ble_module
from hub.sensors.ble import BleSource
from hub.sim.broker import Mosquitto
from tests.bluez_mock import MockBlueZ, bluez_fixture, old_bluez_fixture  # noqa: F401
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually
from tests.test_bthome import (
    CORRUPT_ADV,
    PENDANT,
    PENDANT_BUTTON_PRESS_ADV,
    PENDANT_IDLE_ADV,
    TRUNCATED_ADV,
)

STRANGER = "C0:FF:EE:00:00:01"  # a neighbour's BTHome button, never paired
# Fixture order matters: `bluez` is requested before `make_hub` so the hub stops (and its
# scanner unregisters) before the mocked BlueZ and its bus go away.
# The pendant's next press (packet id 0x22 instead of 0x21): a new advert, not a repeat.
PENDANT_SECOND_PRESS_ADV = b"\x44\x00\x22\x01\x5e\x3a\x01"


async def test_a_paired_ble_pendant_press_raises_the_same_sos_as_the_red_button(
    bluez: MockBlueZ, broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, ble={"enabled": True})
    sock = hub.cfg.control_socket
    assert hub.ble is not None
    await eventually(lambda: hub.ble.source.scanning)  # adverts before this are not heard
    await asyncio.to_thread(bluez.add_device, PENDANT, "SBBT-002C")
    await asyncio.to_thread(bluez.add_device, STRANGER, "SBBT-002C")
    # The installer wakes the pendant; it shows up in the pairing inbox and is paired.
    await bluez.advertise_async(PENDANT, PENDANT_IDLE_ADV, rssi=-58)

    await eventually(lambda: any(h.key == PENDANT for h in hub.registry.inbox()))
    await asyncio.to_thread(
        call, sock, "pair", key=PENDANT, kind="button", name="胸牌", room="卧室"
    )

    # Garbage and a stranger's press first: neither may raise anything nor stop the scanner.
    await bluez.advertise_async(PENDANT, CORRUPT_ADV)
    await bluez.advertise_async(PENDANT, TRUNCATED_ADV)
    await bluez.advertise_async(STRANGER, PENDANT_BUTTON_PRESS_ADV)
    await bluez.advertise_async(PENDANT, PENDANT_BUTTON_PRESS_ADV, rssi=-52)

    [sos] = await collector.wait_event("sos")
    assert sos["priority"] == 0
    assert sos["source"] == {
        "device": PENDANT,
        "name": "胸牌",
        "room": "卧室",
        "protocol": "bthome",
    }
    # The same lifecycle as the red button: one open SOS, a second press raises nothing new.
    await bluez.advertise_async(PENDANT, PENDANT_SECOND_PRESS_ADV)
    await asyncio.sleep(0.5)
    assert len(collector.events("sos")) == 1
    status = await asyncio.to_thread(call, sock, "status")
    assert [a["kind"] for a in status["alarms"]] == ["sos"]
    assert status["ble"]["scanning"] and status["ble"]["mode"] == "passive"
    assert status["ble"]["bthome_readings"] >= 3  # idle, stranger's press, pendant's presses
    listing = await asyncio.to_thread(call, sock, "devices")
    assert [h["key"] for h in listing["inbox"]] == [STRANGER]
    [pendant] = listing["devices"]
    assert pendant["battery"] == 94  # from the pendant's advert
    assert hub.ble is not None and hub.ble.source.passive  # BlueZ >= 5.56: passive scan
    assert "RegisterMonitor" in bluez.calls()


async def test_a_pendant_paired_by_the_lower_case_address_on_its_label_raises_the_sos(
    bluez: MockBlueZ, broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    # The box says "a4:c1:38:8d:18:b2"; BlueZ reports A4:C1:38:8D:18:B2. Before keys were
    # canonical the pairing was accepted and every press went to the inbox, silently.
    hub = await make_hub(broker.port, ble={"enabled": True})
    sock = hub.cfg.control_socket
    assert hub.ble is not None
    await eventually(lambda: hub.ble.source.scanning)
    await asyncio.to_thread(bluez.add_device, PENDANT, "SBBT-002C")
    paired = await asyncio.to_thread(
        call, sock, "pair", key=PENDANT.lower(), kind="button", name="胸牌", room="卧室"
    )
    assert paired["device"]["key"] == PENDANT
    await bluez.advertise_async(PENDANT, PENDANT_BUTTON_PRESS_ADV, rssi=-52)

    [sos] = await collector.wait_event("sos")
    assert sos["source"]["device"] == PENDANT and sos["source"]["name"] == "胸牌"
    listing = await asyncio.to_thread(call, sock, "devices")
    assert listing["inbox"] == []
    # A key that no source can ever report is refused, saying what a key looks like.
    with pytest.raises(ControlError, match=r"not a key any source reports.*BLE address"):
        await asyncio.to_thread(call, sock, "pair", key="a4:c1:38:8d:18", kind="button")


async def test_on_a_bluez_without_passive_scanning_the_hub_scans_actively(
    old_bluez: MockBlueZ,
) -> None:
    source = BleSource(SystemClock(), adapter="hci0", passive=True, stall_s=60)
    await asyncio.to_thread(old_bluez.add_device, PENDANT, "SBBT-002C")
    readings = source.readings()
    first = asyncio.ensure_future(anext(readings))

    await eventually(lambda: "StartDiscovery" in old_bluez.calls())
    await old_bluez.advertise_async(PENDANT, PENDANT_BUTTON_PRESS_ADV, rssi=-61)
    reading = await asyncio.wait_for(first, 10)
    await readings.aclose()
    assert not source.passive
    assert reading.device == PENDANT and reading.kind == "button" and reading.rssi == -61
    assert reading.values["button"] == "press"


async def test_a_scanner_that_goes_deaf_is_restarted_and_a_fault_is_sent_once(
    bluez: MockBlueZ,
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ble_module, "CHECK_S", 0.1)
    hub = await make_hub(broker.port)
    # stall_s is at least 30 s in a config file; a test cannot wait that long.
    hub.running.cfg = replace(hub.cfg, ble=replace(hub.cfg.ble, enabled=True, stall_s=0.6))
    hub.ble = BleLink(hub)
    hub.ble.start()
    await eventually(lambda: hub.ble.source.scanning)
    await asyncio.to_thread(bluez.add_device, PENDANT, "SBBT-002C")

    # Silence: restarted once (a second RegisterMonitor), then again with a fault.
    [fault] = await collector.wait_event("fault")
    assert fault["data"]["component"] == "ble_scanner"
    assert "restarting it did not help" in fault["data"]["detail"]
    assert bluez.calls().count("RegisterMonitor") >= 3
    await asyncio.sleep(1.5)  # more restarts, backing off: no second fault for this outage
    assert len(collector.events("fault")) == 1

    await bluez.advertise_async(PENDANT, PENDANT_IDLE_ADV)  # something is heard again
    [_, resolved] = await collector.wait_event("fault", count=2)
    assert resolved["data"]["resolved"] is True


async def test_a_broken_reading_handler_does_not_stop_the_scanner(
    bluez: MockBlueZ, broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, ble={"enabled": True})
    assert hub.ble is not None
    await eventually(lambda: hub.ble.source.scanning)
    seen: list[Reading] = []
    original = hub.readings.handle_reading

    async def flaky(reading: Reading) -> None:
        seen.append(reading)
        if len(seen) == 1:
            raise RuntimeError("database hiccup")
        await original(reading)

    hub.readings.handle_reading = flaky  # type: ignore[method-assign]
    await asyncio.to_thread(bluez.add_device, PENDANT, "SBBT-002C")
    await bluez.advertise_async(PENDANT, PENDANT_IDLE_ADV)
    await bluez.advertise_async(PENDANT, PENDANT_BUTTON_PRESS_ADV)

    await eventually(lambda: len(seen) == 2)

"""GATT wearables: bleak-retry-connector's real establish_connection (BlueZ mocked on
D-Bus for its device look-ups) with a client that mimics BleakClient exactly (dbusmock's
bluez5 template has no GATT objects). Heart rate, SpO2, blood pressure and battery reach
the hub as readings of the paired wearable; a dropped link is reconnected."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from hub.ble_link import BleLink
from hub.reading import Reading
from hub.sensors import gatt_link
from hub.sensors.gatt_link import Backoff
from hub.sim.broker import Mosquitto
from tests.bluez_mock import MockBlueZ, bluez_fixture  # noqa: F401
from tests.conftest import HubFactory
from tests.fake_bleak_client import FakeBleakClient
from tests.helpers import eventually
from tests.test_gatt import BP_CUFF_128_84, HR_STRAP_72BPM, HR_TRUNCATED_RR, SPO2_CONT_96

WEARABLE = "D4:36:39:AA:01:02"


@pytest.fixture(autouse=True)
def fresh_fake() -> None:
    FakeBleakClient.instances.clear()
    FakeBleakClient.refuse_connects = 0


async def test_a_paired_wearables_vital_signs_reach_the_hub_and_a_dropped_link_comes_back(
    bluez: MockBlueZ, broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gatt_link, "BACKOFF_MIN_S", 0.2)  # seconds, not minutes, in a test
    hub = await make_hub(broker.port)
    await asyncio.to_thread(
        lambda: hub.registry.pair(
            WEARABLE, protocol="ble_gatt", address=WEARABLE, kind="wearable", name="手环", room=""
        )
    )
    hub.running.cfg = replace(
        hub.cfg, ble=replace(hub.cfg.ble, enabled=True, gatt_devices=WEARABLE)
    )
    hub.ble = BleLink(hub, client_class=FakeBleakClient)
    hub.ble.start()
    await eventually(lambda: hub.ble.source.scanning)
    await asyncio.to_thread(bluez.add_device, WEARABLE, "Band")
    await bluez.advertise_async(WEARABLE, rssi=-60)  # the scanner hears it: now connectable

    await eventually(
        lambda: FakeBleakClient.instances and FakeBleakClient.instances[-1].notify_callbacks
    )
    client = FakeBleakClient.instances[-1]
    # Subscribed to exactly the health characteristics, not the vendor one.
    assert sorted(int(u[4:8], 16) for u in client.notify_callbacks) == [
        0x2A19,
        0x2A35,
        0x2A37,
        0x2A5E,
        0x2A5F,
    ]
    await eventually(lambda: hub.registry.get(WEARABLE).battery == 87)  # read at connect

    client.notify(0x2A37, HR_STRAP_72BPM)
    client.notify(0x2A37, HR_TRUNCATED_RR)  # corrupt: logged and skipped
    client.notify(0x2A5F, SPO2_CONT_96)
    client.notify(0x2A35, BP_CUFF_128_84)
    measures = lambda: {(d, m) for (_, d, m) in hub.vitals.open}  # noqa: E731
    await eventually(
        lambda: (
            {
                (WEARABLE, "bpm"),
                (WEARABLE, "spo2_pct"),
                (WEARABLE, "systolic_mmhg"),
                (WEARABLE, "diastolic_mmhg"),
            }
            <= measures()
        )
    )
    [bpm] = [b for (_, d, m), b in hub.vitals.open.items() if d == WEARABLE and m == "bpm"]
    assert (bpm.n, bpm.low) == (1, 72.0)

    client.drop()  # out of range for a moment
    await eventually(
        lambda: (
            len(FakeBleakClient.instances) == 2 and FakeBleakClient.instances[-1].notify_callbacks
        )
    )
    again = FakeBleakClient.instances[-1]
    again.notify(0x2A37, bytes.fromhex("00 50"))  # 80 bpm after the reconnect
    await eventually(lambda: bpm.n == 2 and bpm.high == 80.0)


async def test_a_wearable_that_refuses_connections_is_retried_with_backoff(
    bluez: MockBlueZ, broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gatt_link, "BACKOFF_MIN_S", 0.1)
    monkeypatch.setattr(gatt_link, "CONNECT_ATTEMPTS", 1)
    FakeBleakClient.refuse_connects = 2
    hub = await make_hub(broker.port)
    hub.running.cfg = replace(
        hub.cfg, ble=replace(hub.cfg.ble, enabled=True, gatt_devices=WEARABLE)
    )
    hub.ble = BleLink(hub, client_class=FakeBleakClient)
    hub.ble.start()
    await eventually(lambda: hub.ble.source.scanning)
    await asyncio.to_thread(bluez.add_device, WEARABLE, "Band")
    await bluez.advertise_async(WEARABLE, rssi=-60)
    await eventually(lambda: any(c.is_connected for c in FakeBleakClient.instances), timeout=20)
    assert sum(c.connects for c in FakeBleakClient.instances) == 3


def test_reconnect_backoff_doubles_to_its_cap_and_a_stable_link_resets_it() -> None:
    backoff = Backoff(5.0, 300.0)
    assert [backoff.next_delay(None) for _ in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert backoff.next_delay(10.0) == 300  # a link of 10 s was not stable
    assert backoff.next_delay(120.0) == 5


async def test_a_wearable_reading_the_hub_fails_on_is_skipped_without_dropping_the_link(
    bluez: MockBlueZ, broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    monkeypatch.setattr(gatt_link, "BACKOFF_MIN_S", 0.2)
    hub = await make_hub(broker.port)
    await asyncio.to_thread(
        lambda: hub.registry.pair(
            WEARABLE, protocol="ble_gatt", address=WEARABLE, kind="wearable", name="手环", room=""
        )
    )
    hub.running.cfg = replace(
        hub.cfg, ble=replace(hub.cfg.ble, enabled=True, gatt_devices=WEARABLE)
    )
    hub.ble = BleLink(hub, client_class=FakeBleakClient)
    hub.ble.start()
    await eventually(lambda: hub.ble.source.scanning)
    await asyncio.to_thread(bluez.add_device, WEARABLE, "Band")
    await bluez.advertise_async(WEARABLE, rssi=-60)
    await eventually(
        lambda: FakeBleakClient.instances and FakeBleakClient.instances[-1].notify_callbacks
    )
    await eventually(lambda: hub.registry.get(WEARABLE).battery == 87)  # read at connect
    seen = hub.registry.seen
    failed: list[str] = []

    def sd_card_fails_once(reading: Reading) -> object:
        if not failed:  # the SD card fails one registry write (the heart rate's)
            failed.append("hr")
            raise OSError(errno.EIO, "Input/output error")
        return seen(reading)

    monkeypatch.setattr(hub.registry, "seen", sd_card_fails_once)
    client = FakeBleakClient.instances[-1]
    client.notify(0x2A37, HR_STRAP_72BPM)
    client.notify(0x2A5F, SPO2_CONT_96)
    await eventually(lambda: any(m == "spo2_pct" for (_, _, m) in hub.vitals.open))
    assert failed == ["hr"] and len(FakeBleakClient.instances) == 1  # no reconnect

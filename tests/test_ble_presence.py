"""The elder's wearable heard by the hub's radio (real bleak, BlueZ mocked on D-Bus): near
and away reach the care checks and a local 7-day history, which the centre sees only
when it asks (cmd/locate) or with an alarm."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from hub.control import call
from hub.sim.broker import Mosquitto
from tests.bluez_mock import MockBlueZ, bluez_fixture  # noqa: F401
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually

WEARABLE = "D4:36:39:AA:01:02"  # the elder's wrist band: plain adverts, no BTHome


async def test_the_wearables_comings_and_goings_stay_home_until_the_centre_asks(
    bluez: MockBlueZ, broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(
        broker.port,
        ble={"enabled": True, "room": "客厅"},
        care={"wearable_devices": [WEARABLE.lower()]},  # as an installer may type it
    )
    assert hub.ble is not None
    await eventually(lambda: hub.ble.source.scanning)
    await asyncio.to_thread(bluez.add_device, WEARABLE, "Band")

    for rssi in (-55, -57, -54):  # on her wrist, next to the hub
        await bluez.advertise_async(WEARABLE, rssi=rssi)
    await eventually(lambda: hub.ble.last.get(WEARABLE, {}).get("present") is True)
    assert hub.care.engine.wearable_gone is False

    for _ in range(8):  # she walks out: the band fades
        await bluez.advertise_async(WEARABLE, rssi=-97)
    await eventually(lambda: hub.ble.last[WEARABLE]["present"] is False)
    await eventually(
        lambda: hub.care.engine.wearable_gone
    )  # the care checks know: away mode can start

    history = await hub.outbox.presence_since(0)
    assert [(h["device"], h["present"], h["room"]) for h in history] == [
        (WEARABLE, True, "客厅"),
        (WEARABLE, False, "客厅"),
    ]
    await asyncio.sleep(0.3)
    assert collector.events("presence") == []  # nothing shared on its own

    await collector.publish(f"pingan/v1/{HUB_ID}/cmd/locate", json.dumps({"hours": 24}))
    [located] = await collector.wait_event("presence")
    assert located["data"]["requested"] is True
    assert located["priority"] == 1  # an answer to the centre is not shed like telemetry
    [current] = located["data"]["current"]
    assert (current["device"], current["present"], current["room"]) == (WEARABLE, False, "客厅")
    assert [h["present"] for h in located["data"]["history"]] == [True, False]

    # An emergency carries where the wearable was last heard.
    await asyncio.to_thread(call, hub.cfg.control_socket, "test-alarm")
    [sos] = await collector.wait_event("sos")
    assert sos["data"]["presence"] == [
        {
            "device": WEARABLE,
            "present": False,
            "room": "客厅",
            "since": current["since"],
        }
    ]


async def test_locate_on_a_hub_without_ble_is_logged_and_nothing_breaks(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await collector.publish(f"pingan/v1/{HUB_ID}/cmd/locate", "{}")
    await asyncio.to_thread(call, hub.cfg.control_socket, "test-alarm")
    [sos] = await collector.wait_event("sos")
    assert "presence" not in sos["data"]
    assert collector.events("presence") == []


async def test_ble_switched_on_without_the_ble_extra_is_a_fault_not_a_crash(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "bleak", None)  # as if pip install without [ble]
    hub = await make_hub(broker.port, ble={"enabled": True})
    [fault] = await collector.wait_event("fault")
    assert fault["data"]["component"] == "ble"
    assert "pingan-hub[ble]" in fault["data"]["detail"]
    assert hub.ble is None
    await asyncio.to_thread(call, hub.cfg.control_socket, "test-alarm")  # the rest works
    await collector.wait_event("sos")

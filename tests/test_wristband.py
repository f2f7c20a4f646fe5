"""A wristband (a wearable with an SOS key) paired as the elder's wearable: its key raises
the same SOS as the red button, and its pulse reaches the centre as 5-minute health
records, not as one event per reading."""

from __future__ import annotations

import asyncio

from hub.control import call
from hub.event import Draft
from hub.reading import Reading
from hub.sensors.bthome import decode_advert
from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import Collector
from tests.test_bthome import PENDANT, PENDANT_BUTTON_PRESS_ADV, PENDANT_IDLE_ADV


async def test_the_sos_key_of_a_wristband_paired_as_a_wearable_raises_the_sos(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await asyncio.to_thread(
        call, hub.cfg.control_socket, "pair", key=PENDANT, kind="wearable", name="手环"
    )
    await hub.readings.handle_reading(decode_advert(PENDANT_IDLE_ADV, address=PENDANT))
    assert hub.alarms.book.open_sos() is None  # being worn is not a call for help
    await hub.readings.handle_reading(decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT))
    [sos] = await collector.wait_event("sos")
    assert sos["source"]["device"] == PENDANT
    assert sos["source"]["name"] == "手环"


async def test_a_wristbands_pulse_is_archived_not_sent_reading_by_reading(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await asyncio.to_thread(call, hub.cfg.control_socket, "pair", key=PENDANT, kind="wearable")
    for bpm in (70, 72, 75, 71):
        await hub.readings.handle_reading(
            Reading(device=PENDANT, protocol="ble_gatt", kind="heart_rate", values={"bpm": bpm})
        )
    # The readings are folded into the health archive's 5-minute bucket ...
    counts = {(b.device, b.measure): b.n for b in hub.vitals.open.values()}
    assert counts == {(PENDANT, "bpm"): 4}
    # ... and only there: the centre is sent no event per pulse reading. A later telemetry
    # event is the marker: telemetry leaves oldest first, so anything before it has arrived.
    await hub.events.commit(Draft.create("motion", hub.clock, data={"marker": True}))
    await collector.wait_event("motion")
    assert collector.events("wearable") == []
    assert collector.events("heart_rate") == []

"""A full outbox or a full disk: alarms are still accepted, telemetry goes first, and a
`fault` event tells the centre what was dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.clock import FakeClock
from hub.errors import StoreError
from hub.event import Draft, Priority
from hub.sim.broker import Mosquitto
from hub.store.outbox import Outbox
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually

CLOCK = FakeClock()
PAD = "x" * 300


def fill_with_telemetry(box: Outbox) -> int:
    """Commit motion events until the capped database refuses one; returns how many fit."""
    n = 0
    with pytest.raises(StoreError, match="full"):
        while True:
            box.commit(Draft.create("motion", CLOCK, data={"pad": PAD, "n": n}))
            n += 1
    return n


def test_on_a_full_disk_an_alarm_still_fits_by_dropping_the_oldest_telemetry(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "hub.db", "H1", max_bytes=10**9, log_keep=100, max_pages=80)
    stored = fill_with_telemetry(box)
    assert stored > 100
    result = box.commit(Draft.create("sos", CLOCK, data={"pad": PAD}))
    assert result.disk_full
    assert result.shed[Priority.TELEMETRY] > 0
    assert [e.kind for e in box.pending(1)] == ["sos"]
    oldest_left = min(e.data["n"] for e in box.pending(10_000) if e.kind == "motion")
    assert oldest_left == result.shed[Priority.TELEMETRY]  # the oldest went first


def test_on_a_full_disk_a_warning_may_push_out_telemetry_but_never_an_alarm(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "hub.db", "H1", max_bytes=10**9, log_keep=100, max_pages=80)
    fill_with_telemetry(box)
    box.commit(Draft.create("sos", CLOCK, data={"pad": PAD}))
    warnings_pushed_telemetry = False
    with pytest.raises(StoreError, match="full"):
        while True:  # warnings push out telemetry until none is left, then are refused
            result = box.commit(Draft.create("battery_low", CLOCK, data={"pad": PAD}))
            warnings_pushed_telemetry |= result.shed.get(Priority.TELEMETRY, 0) > 0
    assert warnings_pushed_telemetry
    assert box.depth()[Priority.TELEMETRY] == 0
    alarms = 1
    with pytest.raises(StoreError, match="full"):
        while True:  # alarms push out warnings; when only alarms are left, none is dropped
            box.commit(Draft.create("smoke", CLOCK, data={"pad": PAD}))
            alarms += 1
    assert alarms > 1
    assert box.depth()[Priority.ALARM] == alarms
    assert box.depth()[Priority.WARNING] == 0


async def test_outage_overflowing_the_outbox_sheds_telemetry_and_reports_a_fault(
    stopped_broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(stopped_broker.port, outbox={"max_bytes": 64 * 1024})
    for n in range(300):  # about 150 KB of motion while the broker is unreachable
        await hub.events.commit(Draft.create("motion", hub.clock, data={"pad": PAD, "n": n}))
    alarm = await hub.alarms.raise_alarm("sos")
    assert alarm is not None
    stopped_broker.start()
    collector = Collector(stopped_broker.port)
    await collector.start()
    try:
        [sos] = await collector.wait_event("sos", timeout=15)
        [fault] = await collector.wait_event("fault", timeout=15)
        assert sos["id"] == alarm.id
        assert fault["data"]["component"] == "storage"
        assert int(fault["data"]["shed"]["2"]) > 0
        # The newest telemetry survived; the oldest was what went.
        await eventually(lambda: any(e["data"]["n"] == 299 for e in collector.events("motion")))
        assert all(e["data"]["n"] != 0 for e in collector.events("motion"))
    finally:
        await collector.stop()


async def test_a_motion_reading_still_counts_as_a_sign_of_life_when_only_alarms_fit(
    stopped_broker: Mosquitto, make_hub: HubFactory
) -> None:
    # The outbox refuses the motion report (only alarms are left in it); the reading must
    # still reach the care checks, and the RF source must not crash and restart.
    from hub.reading import Reading, State

    hub = await make_hub(stopped_broker.port, outbox={"max_bytes": 64 * 1024})
    await asyncio.to_thread(
        hub.registry.pair, "rflink:pir:1", protocol="rflink", address="rflink:pir:1", kind="motion"
    )
    while hub.outbox.sync.pending_bytes < 64 * 1024:
        await hub.alarms.raise_alarm("smoke", data={"pad": PAD})
    before = hub.care.engine.to_dict()["last_sign"]
    await hub.readings.handle_reading(
        Reading("rflink:pir:1", "rflink", "switch", {"command": "on"}, state=State.ALARM)
    )
    assert hub.care.engine.to_dict()["last_sign"] != before


async def test_a_long_outage_still_tells_the_centre_what_was_dropped_when_its_first_report_was(
    stopped_broker: Mosquitto, make_hub: HubFactory
) -> None:
    # The storage fault is a warning: hours of check-ins and offline sensors later, the
    # outbox sheds its oldest warnings, the fault among them. The centre must still hear
    # that events were dropped once the broker is back.
    hub = await make_hub(stopped_broker.port, outbox={"max_bytes": 64 * 1024})
    for n in range(300):  # motion overflowing the outbox: a fault is queued
        await hub.events.commit(Draft.create("motion", hub.clock, data={"pad": PAD, "n": n}))
    first = await eventually(lambda: hub.events._queued_storage_fault)
    await eventually(lambda: hub.outbox.sync.depth().get(Priority.WARNING) == 1)
    for n in range(300):  # then warnings overflowing it: the oldest warning goes first
        await hub.events.commit(Draft.create("checkin", hub.clock, data={"pad": PAD, "n": n}))
    assert await hub.outbox.get(first) is None  # the first report was pushed out
    stopped_broker.start()
    collector = Collector(stopped_broker.port)
    await collector.start()
    try:
        faults = await collector.wait_event("fault", timeout=15)
        assert int(faults[0]["data"]["shed"]["1"]) > 0  # the warnings dropped are reported
    finally:
        await collector.stop()

"""Device liveness (last seen, battery, last state) kept in the outbox's file, written with
its transactions (issue 23): devices.json is rewritten only when a pairing changes, and a
restart forgets neither what was last heard nor a sensor gone silent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.clock import FakeClock
from hub.config import parse_config
from hub.reading import Reading, State
from hub.sim.broker import Mosquitto
from tests.conftest import hub_raw
from tests.helpers import Collector

THERMOMETER = "A4:C1:38:AA:BB:CC"  # a BLE room thermometer: supervised at 15 min
DOOR = "rflink:eurodomest:123456:01"


async def start(tmp_path: Path, port: int, clock: FakeClock) -> Hub:
    raw = hub_raw(tmp_path / "data", port)
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await hub.start()
    return hub


async def test_readings_never_rewrite_devices_json_and_a_restart_keeps_what_was_heard(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    clock = FakeClock()
    hub = await start(tmp_path, broker.port, clock)
    await hub.devices.pair(THERMOMETER, "sensor", "温度计", "客厅")
    await hub.devices.pair(DOOR, "door", "大门", "门厅")
    registry_file = hub.cfg.data_path / "devices.json"
    paired = registry_file.stat().st_mtime_ns, registry_file.read_bytes()
    for _ in range(3):
        clock.advance(60)
        reading = Reading(THERMOMETER, "bthome", "sensor", {"temperature_c": 21.5}, battery=77)
        await hub.readings.handle_reading(reading)
    door = Reading(DOOR, "rflink", "door", {"open": True}, state=State.ALARM)
    await hub.readings.handle_reading(door)  # a door's state: a telemetry event, committed
    heard = hub.registry.get(THERMOMETER)
    opened = hub.registry.get(DOOR)
    assert heard is not None and opened is not None and opened.state == "alarm"
    assert (registry_file.stat().st_mtime_ns, registry_file.read_bytes()) == paired
    # The power goes now: what the door's commit took along is on the card.
    hub.outbox.sync.riders.take()
    await hub.stop()
    assert (registry_file.stat().st_mtime_ns, registry_file.read_bytes()) == paired
    again = await start(tmp_path, broker.port, clock)
    try:
        after = again.registry.get(THERMOMETER)
        assert after is not None and after.last_seen == heard.last_seen
        assert after.battery == 77
        door_after = again.registry.get(DOOR)
        assert door_after is not None
        assert (door_after.state, door_after.state_at) == ("alarm", opened.state_at)
    finally:
        await again.stop()


async def test_a_sensor_silent_before_a_restart_is_reported_offline_at_its_time_after_it(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    clock = FakeClock()
    hub = await start(tmp_path, broker.port, clock)
    await hub.devices.pair(THERMOMETER, "sensor", "温度计", "客厅")
    await hub.readings.handle_reading(
        Reading(THERMOMETER, "bthome", "sensor", {"temperature_c": 21.5})
    )
    clock.advance(600)  # silent for 10 min, then the hub restarts
    await hub.stop()
    again = await start(tmp_path, broker.port, clock)
    try:
        # Supervision starts from the boot for every paired device (its monotonic clock:
        # a Pi has no real-time clock to trust before NTP): 15 min x 1.5 after it.
        clock.advance(1300)
        await asyncio.sleep(6)  # a supervision tick (every 5 s) has looked
        assert collector.events("sensor_offline") == []
        clock.advance(60)
        [offline] = await collector.wait_event("sensor_offline", timeout=20)
        assert offline["source"]["device"] == THERMOMETER
        assert again.registry.get(THERMOMETER).last_seen is not None  # type: ignore[union-attr]
    finally:
        await again.stop()

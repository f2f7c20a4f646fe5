"""The care checks inside a running hub: a press is a check-in, a gas reading is an alarm
with the full lifecycle, and the checks' state survives a restart."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from hub.care.rooms import Paired
from hub.reading import Reading, State
from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually
from tests.test_spine import press


async def test_green_button_press_is_one_checkin_event(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub, "ok")
    [checkin] = await collector.wait_event("checkin")
    await press(hub, "sos")
    await collector.wait_event("sos")
    assert len(collector.events("checkin")) == 1
    assert checkin["priority"] == 1


async def test_a_gas_reading_raises_an_alarm_the_centre_must_acknowledge(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await hub.care.feed(
        Reading(
            device="rflink:gas:1",
            protocol="rflink",
            kind="gas",
            values={"alarm": True},
            state=State.ALARM,
        )
    )
    [gas] = await collector.wait_event("gas")
    assert gas["priority"] == 0
    await eventually(lambda: gas["id"] in hub.alarms.book.alarms)
    assert hub.alarms.book.alarms[gas["id"]].state.value == "sent"  # waiting for the centre's ack
    await collector.publish(
        "pingan/v1/T-0001/ack", json.dumps({"id": gas["id"], "state": "received"})
    )
    await eventually(lambda: hub.alarms.book.alarms[gas["id"]].state.value == "acknowledged")


async def test_care_state_is_saved_and_restored_across_a_restart(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub, "ok")
    path = hub.cfg.data_path / "care-state.json"
    await eventually(path.exists)
    last_sign = json.loads(path.read_text())["last_sign"]
    await hub.stop()
    again = await make_hub(broker.port)
    assert again.care.engine.to_dict()["last_sign"]["wall"] == last_sign["wall"]


async def test_the_checkin_reminder_blinks_the_led_until_the_green_button(
    broker: Mosquitto, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.clock import FakeClock
    from hub.config import parse_config
    from tests.conftest import hub_raw

    clock = FakeClock(wall=datetime(2026, 11, 23, 1, 58, tzinfo=UTC))  # 09:58 in Shanghai
    raw = hub_raw(tmp_path / "data", broker.port)
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await hub.start()
    try:
        await hub.care.apply(hub.care.engine.tick())
        assert hub.indicators.pattern == "off"
        clock.advance(180)  # 10:01: the reminder is due
        await hub.care.apply(hub.care.engine.tick())
        await eventually(lambda: hub.indicators.pattern == "checkin_due")
        await press(hub, "ok")
        await eventually(lambda: hub.indicators.pattern != "checkin_due")
    finally:
        await hub.stop()


async def test_an_inactivity_alarm_due_with_a_missed_checkin_is_raised_when_the_disk_fails(
    broker: Mosquitto, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.clock import FakeClock
    from hub.config import parse_config
    from hub.sos.lifecycle import AlarmState
    from tests.conftest import hub_raw

    clock = FakeClock(wall=datetime(2026, 11, 23, 2, 30, tzinfo=UTC))  # 10:30 in Shanghai
    care = {
        "prealarm_min": 0,
        "inactivity": [{"mode": "window", "start": "10:00", "end": "12:00"}],
    }
    raw = hub_raw(tmp_path / "data", broker.port, care=care)
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await hub.start()
    try:
        await hub.care.apply(hub.care.engine.tick())  # inside the window, nobody stirs
        db = hub.outbox.sync._db
        await asyncio.to_thread(db.execute, "PRAGMA query_only=ON")  # the SD card fails
        clock.advance(125 * 60)  # 12:35: no check-in since the reminder; a quiet window
        output = hub.care.engine.tick()
        assert [d.kind for d in output.drafts] == ["checkin_missed", "inactivity"]
        await hub.care.apply(output)
        # The warning could not be stored; the alarm after it is raised all the same (open
        # in memory: it escalates locally when no centre answers).
        [alarm] = [a for a in hub.alarms.book.alarms.values() if a.kind == "inactivity"]
        assert alarm.state is AlarmState.RAISED and alarm.is_open
        await asyncio.to_thread(db.execute, "PRAGMA query_only=OFF")
    finally:
        await hub.stop()


async def test_a_night_fall_in_the_bathroom_reaches_the_centre_with_its_room_and_incident(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.clock import FakeClock
    from hub.config import parse_config
    from tests.conftest import hub_raw

    clock = FakeClock(wall=datetime(2026, 11, 22, 17, 50, tzinfo=UTC))  # 01:50 in Shanghai
    raw = hub_raw(tmp_path / "data", broker.port, care={"checkin_enabled": False})
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await hub.start()
    try:
        await hub.devices.pair("rflink:pir:bath", "motion", "浴室感应", "卫生间")
        # the 433 MHz PIR says "command on" (ALARM, as the RFLink decoder states it); the
        # registry makes it motion in the bathroom
        await hub.readings.handle_reading(
            Reading("rflink:pir:bath", "rflink", "switch", {"command": "on"}, state=State.ALARM)
        )
        for _ in range(36):  # she does not come back: 30 min, then the 5 min pre-alarm
            clock.advance(60)
            await hub.care.apply(hub.care.engine.tick())
        [fall] = await collector.wait_event("fall_suspected")
        assert fall["priority"] == 0
        assert (fall["source"]["device"], fall["source"]["room"]) == ("rflink:pir:bath", "卫生间")
        assert fall["data"]["incident"] == fall["id"]  # a new case at the centre
        assert fall["data"]["update"] == 0
        assert fall["data"]["rule"] == "night_visit-30min"
    finally:
        await hub.stop()


async def test_a_hub_with_a_paired_door_contact_watches_the_door_at_night_from_its_start(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    assert hub.care.engine.night_exit_on() == (False, "auto: no door contact paired")
    await hub.devices.pair("rflink:door:1", "door", room="大门")
    await hub.stop()
    again = await make_hub(broker.port)  # restarted: the registry says a door is paired
    assert again.care.engine.night_exit_on() == (True, "auto: a door contact is paired")


async def test_a_door_contact_paired_on_a_running_hub_is_watched_that_night_without_a_restart(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    # The installer pairs the door and leaves; nobody restarts the hub.
    hub = await make_hub(broker.port)
    await hub.devices.pair("rflink:door:1", "door", room="大门")
    assert hub.care.engine.night_exit_on() == (True, "auto: a door contact is paired")
    await hub.devices.remove("rflink:door:1")
    assert hub.care.engine.night_exit_on() == (False, "auto: no door contact paired")


async def test_the_care_state_is_written_when_it_changed_not_on_every_timer(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet night changes nothing the checks keep: nothing is written however often
    the timer falls due; her next movement is written at the next one (SD card wear)."""
    import hub.services.care as care_module

    monkeypatch.setattr(care_module, "_CARE_TICK_S", 0.01)
    monkeypatch.setattr(care_module, "_CARE_SAVE_S", 0.0)  # due at every tick
    writes: list[bytes] = []
    real_write = care_module.write_atomic

    def counted(path: Path, data: bytes) -> None:
        writes.append(data)
        real_write(path, data)

    monkeypatch.setattr(care_module, "write_atomic", counted)
    hub = await make_hub(broker.port)
    await hub.devices.pair("rflink:pir:bath", "motion", "浴室感应", "卫生间")
    await eventually(lambda: len(writes) >= 1, timeout=10)
    # What start and pairing changed is written within a few ticks (more on a loaded
    # machine); then the quiet begins. A save on every tick never settles.
    quiet = -1
    for _ in range(40):
        if len(writes) == quiet:
            break
        quiet = len(writes)
        await asyncio.sleep(0.25)
    else:
        raise AssertionError(f"still writing after 10 s: {len(writes)} writes")
    await asyncio.sleep(0.5)  # about 50 ticks, each with the save due
    assert len(writes) == quiet
    await hub.readings.handle_reading(
        Reading("rflink:pir:bath", "rflink", "motion", {"motion": True}, state=State.ALARM)
    )
    await eventually(lambda: len(writes) > quiet, timeout=10)
    on_disk = hub.cfg.data_path / "care-state.json"
    # The motion may take two saves (her last action, then the routine's slot), each
    # written off the loop: wait until the file holds the latest.
    await eventually(lambda: json.loads(on_disk.read_bytes()) == json.loads(writes[-1]))
    assert json.loads(writes[-1])["last_action"]["device"] == "rflink:pir:bath"


async def test_two_saves_at_once_leave_the_newer_state_on_disk(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick, a reading and a device change each save; a slow card must not let an
    older save's rename land after a newer one (an all-clear lost to the next power cut)."""
    import hub.services.care as care_module

    real_write = care_module.write_atomic
    first_write_may_finish = threading.Event()
    started: list[bytes] = []

    def slow_first(path: Path, data: bytes) -> None:
        started.append(data)
        if len(started) == 1:
            first_write_may_finish.wait(10)  # the card is slow with this one
        real_write(path, data)

    hub = await make_hub(broker.port)
    await hub.care.save()
    monkeypatch.setattr(care_module, "write_atomic", slow_first)

    def moved(room: str) -> None:  # the checks' state changes; nothing saved yet
        reading = Reading(f"rflink:pir:{room}", "rflink", "motion", {"motion": True})
        hub.care.engine.feed(replace(reading, state=State.ALARM), Paired("motion", room))

    moved("bathroom")
    older = asyncio.create_task(hub.care.save())
    await eventually(lambda: len(started) == 1)
    moved("kitchen")
    newer = asyncio.create_task(hub.care.save())
    await asyncio.sleep(0.2)  # without one save at a time, the newer one lands now
    first_write_may_finish.set()
    await asyncio.gather(older, newer)
    on_disk = json.loads((hub.cfg.data_path / "care-state.json").read_bytes())
    assert on_disk["last_action"]["device"] == "rflink:pir:kitchen"
    assert on_disk == json.loads(json.dumps(hub.care.engine.to_dict()))

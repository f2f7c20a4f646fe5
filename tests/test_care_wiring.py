"""The care checks inside a running hub: a press is a check-in, a gas reading is an alarm
with the full lifecycle, and the checks' state survives a restart."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.care.rooms import Paired
from hub.event import Draft
from hub.reading import Reading, State
from hub.sim.broker import Mosquitto
from hub.store import riders
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


async def care_on_disk(hub: Hub) -> dict[str, Any]:
    """The care state as the outbox's file has it now (what a power cut would leave)."""
    db = hub.outbox.sync._db
    text = await hub.outbox._run(riders.load_state, db, "care")
    return {} if text is None else dict(json.loads(text))


async def test_care_state_is_saved_and_restored_across_a_restart(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub, "ok")
    await eventually(lambda: "last_sign" in json.loads(hub.care._saved or "{}"))
    # A decision (the check-in): its state rode in the check-in's own commit.
    on_disk = await care_on_disk(hub)
    assert on_disk["last_sign"] == hub.care.engine.to_dict()["last_sign"]
    await hub.stop()
    again = await make_hub(broker.port)
    assert again.care.engine.to_dict()["last_sign"]["wall"] == on_disk["last_sign"]["wall"]


async def test_a_care_state_json_of_an_older_hub_is_moved_into_the_database_once(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub, "ok")
    await eventually(lambda: "last_sign" in json.loads(hub.care._saved or "{}"))
    state = hub.care.engine.to_dict()
    await hub.stop()
    legacy = hub.cfg.data_path / "care-state.json"
    legacy.write_text(json.dumps(state))  # as a hub before issue 23 left it
    again = await make_hub(broker.port)
    assert again.care.engine.to_dict()["last_sign"] == state["last_sign"]
    assert not legacy.exists()  # never written again; kept aside, not read by a rollback
    assert (hub.cfg.data_path / "care-state.json.migrated").exists()
    assert (await care_on_disk(again))["last_sign"] == state["last_sign"]


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


async def test_the_care_state_is_never_written_by_itself_on_a_timer(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet night changes nothing the checks keep: the timer writes nothing; her next
    movement rides in the next transaction the hub makes anyway (SD card wear)."""
    import hub.services.care as care_module

    monkeypatch.setattr(care_module, "_CARE_TICK_S", 0.01)
    hub = await make_hub(broker.port)
    await hub.devices.pair("rflink:pir:bath", "motion", "浴室感应", "卫生间")
    seen: list[str] = []
    await hub.outbox._run(hub.outbox.sync._db.set_trace_callback, seen.append)
    await asyncio.sleep(0.5)  # the pairing's own write may land here on a loaded machine
    seen.clear()
    await asyncio.sleep(0.5)  # about 50 ticks of a quiet night
    assert [s for s in seen if "hub_state" in s or "BEGIN" in s] == []
    await hub.readings.handle_reading(
        Reading("rflink:pir:bath", "rflink", "motion", {"motion": True}, state=State.ALARM)
    )
    await eventually(lambda: hub.care.engine.to_dict()["last_action"]["device"] != "")
    await asyncio.sleep(0.2)  # ticks: handed to the outbox, not written by themselves
    # The care state rides in a transaction the hub makes anyway (the motion's own event
    # when it makes one, else the next warning's commit below), never in one of its own.
    await hub.events.commit(Draft.create("fault", hub.clock, data={"component": "test"}))
    carrying = [t for t in transactions(seen) if any("INSERT INTO hub_state" in s for s in t)]
    assert carrying, "the care state never reached the disk"
    assert all(any("INSERT INTO events" in s for s in t) for t in carrying), carrying
    assert (await care_on_disk(hub))["last_action"]["device"] == "rflink:pir:bath"


def transactions(statements: list[str]) -> list[list[str]]:
    """The statements of each committed transaction, in order."""
    done: list[list[str]] = []
    current: list[str] = []
    for statement in statements:
        if statement.startswith("BEGIN"):
            current = []
        elif statement == "COMMIT":
            done.append(current)
        else:
            current.append(statement)
    return done


async def test_two_saves_at_once_leave_the_newer_state_on_disk(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    """The tick, a reading and a device change each save: the newer state must be the one
    on disk (an all-clear lost to the next power cut otherwise)."""
    hub = await make_hub(broker.port)
    await hub.care.save()

    def moved(room: str) -> None:  # the checks' state changes; nothing saved yet
        reading = Reading(f"rflink:pir:{room}", "rflink", "motion", {"motion": True})
        hub.care.engine.feed(replace(reading, state=State.ALARM), Paired("motion", room))

    moved("bathroom")
    older = asyncio.create_task(hub.care.save())
    moved("kitchen")
    newer = asyncio.create_task(hub.care.save())
    await asyncio.gather(older, newer)
    on_disk = await care_on_disk(hub)
    assert on_disk["last_action"]["device"] == "rflink:pir:kitchen"
    assert on_disk == json.loads(json.dumps(hub.care.engine.to_dict()))

"""The spine: an SOS press reaches the alarm centre durably and the centre's answer comes back.

Every test here runs against a real mosquitto, with the hub's real gpiozero buttons on
gpiozero's MockFactory pins.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import datetime

from hub.app import Hub
from hub.control import call
from hub.sim.broker import Mosquitto
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually

EVENT_FIELDS = {"id", "hub", "seq", "kind", "priority", "ts", "clock_synced", "source", "data"}
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def press(hub: Hub, button: str = "sos", hold: float = 0.1) -> None:
    """Press a hub button the way a finger does: pin low, wait, pin high."""
    pin = hub.pin_factory.pin(hub.cfg.gpio.sos_pin if button == "sos" else hub.cfg.gpio.ok_pin)
    pin.drive_low()
    await asyncio.sleep(hold)
    pin.drive_high()


async def cli_status(hub: Hub) -> dict[str, object]:
    """`pingan-hub status --json`, run as a real command."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "status",
        "--json",
        "--socket",
        str(hub.cfg.control_socket),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out)
    return result


async def test_red_button_press_reaches_the_centre_and_its_ack_shows_in_status(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)

    await press(hub)

    [sos] = await collector.wait_event("sos")
    assert set(sos) == EVENT_FIELDS
    assert UUID7.match(sos["id"])
    assert sos["hub"] == HUB_ID
    assert sos["seq"] == 1
    assert sos["kind"] == "sos"
    assert sos["priority"] == 0
    assert datetime.fromisoformat(sos["ts"].replace("Z", "+00:00")).tzinfo is not None
    assert sos["clock_synced"] is True
    assert sos["source"] == {
        "device": "gpio:sos",
        "name": "红色求助按钮",
        "room": "",
        "protocol": "gpio",
    }
    assert sos["data"] == {}

    status = await cli_status(hub)
    [alarm] = status["alarms"]  # type: ignore[misc]
    assert alarm["id"] == sos["id"]
    assert alarm["state"] == "sent"

    await collector.publish(
        f"pingan/v1/{HUB_ID}/ack",
        json.dumps({"id": sos["id"], "state": "received", "operator": "坐席 07", "note": ""}),
    )

    async def acknowledged() -> bool:
        status = await cli_status(hub)
        [alarm] = status["alarms"]  # type: ignore[misc]
        return bool(alarm["state"] == "acknowledged" and alarm["operator"] == "坐席 07")

    for _ in range(100):
        if await acknowledged():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("status never showed the alarm acknowledged")
    assert hub.indicators.pattern == "acknowledged"  # the elder sees a steady LED


async def test_alarm_pressed_while_broker_is_down_is_delivered_when_it_comes_back(
    stopped_broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(stopped_broker.port)
    await press(hub)
    await eventually(
        lambda: hub.alarms.book.open_sos() is not None and hub.alarms.book.open_sos().seq
    )
    alarm_id = hub.alarms.book.open_sos().id  # type: ignore[union-attr]
    assert (await hub.outbox.depth())[0] == 1  # committed, waiting for the uplink

    stopped_broker.start()
    collector = Collector(stopped_broker.port)
    await collector.start()
    try:
        [sos] = await collector.wait_event("sos", timeout=15)
        assert sos["id"] == alarm_id
        await eventually(lambda: hub.alarms.book.alarms[alarm_id].state.value == "sent")
        for _ in range(100):  # PUBACK marks are written in batches, a moment later
            if (await hub.outbox.depth())[0] == 0:
                break
            await asyncio.sleep(0.05)
        assert (await hub.outbox.depth())[0] == 0
    finally:
        await collector.stop()


async def test_second_press_while_alarm_open_does_not_raise_a_duplicate(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub)
    await collector.wait_event("sos")
    await press(hub)
    await press(hub, "ok")  # the next event proves the second red press was handled
    await collector.wait_event("checkin")
    assert len(collector.events("sos")) == 1


async def test_holding_the_red_button_cancels_a_false_alarm(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)  # cancel_hold_s = 0.5 in tests
    await press(hub, hold=0.1)
    [sos] = await collector.wait_event("sos")

    await press(hub, hold=0.9)

    [cancelled] = await collector.wait_event("sos_cancelled")
    assert cancelled["data"] == {"alarm_id": sos["id"]}
    assert cancelled["seq"] > sos["seq"]
    assert hub.alarms.book.alarms[sos["id"]].state.value == "cancelled"
    assert hub.indicators.pattern == "off"


async def test_a_long_first_press_is_still_an_alarm_not_a_cancel(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub, hold=0.9)  # a frightened elder holds the button down
    [sos] = await collector.wait_event("sos")
    await press(hub, "ok")
    await collector.wait_event("checkin")
    assert collector.events("sos_cancelled") == []
    assert hub.alarms.book.alarms[sos["id"]].is_open


async def test_centre_silence_resends_the_alarm_then_escalates(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, sos={"ack_timeout_s": 2.5, "resend_s": 1.0})
    escalated: list[tuple[str, str]] = []

    async def hook(alarm: object, reason: str) -> None:
        escalated.append((alarm.id, reason))  # type: ignore[attr-defined]

    hub.alarms.escalation = hook
    await press(hub)
    [escalation] = await collector.wait_event("escalate", timeout=10)
    sos = collector.events("sos")
    assert len(sos) >= 2 and {e["id"] for e in sos} == {sos[0]["id"]}  # resent, same id
    assert escalation["data"]["alarm_id"] == sos[0]["id"]
    assert escalation["data"]["reason"] == "no_ack"
    assert escalated == [(sos[0]["id"], "no_ack")]


async def test_centre_ack_in_time_means_no_escalation(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, sos={"ack_timeout_s": 1.5, "resend_s": 1.0})
    await press(hub)
    [sos] = await collector.wait_event("sos")
    await collector.publish(
        f"pingan/v1/{HUB_ID}/ack", json.dumps({"id": sos["id"], "state": "dispatched"})
    )
    await eventually(lambda: hub.alarms.book.alarms[sos["id"]].state.value == "dispatched")
    await asyncio.sleep(2.0)  # past the ack timeout
    await press(hub, "ok")
    await collector.wait_event("checkin")
    assert collector.events("escalate") == []


async def test_test_alarm_goes_through_the_same_path_marked_test(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    reply = await asyncio.to_thread(call, hub.cfg.control_socket, "test-alarm")
    [sos] = await collector.wait_event("sos")
    assert sos["id"] == reply["id"]
    assert sos["data"] == {"test": True}
    assert sos["priority"] == 0


async def test_retained_status_says_online_with_a_heartbeat(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    await make_hub(broker.port, mqtt={"heartbeat_s": 1.0})
    statuses = await eventually(
        lambda: [m for m in collector.messages if m.topic.endswith("/status")][1:]
    )
    beat = statuses[-1].json()
    assert beat["state"] == "online"
    assert beat["hub"] == HUB_ID
    assert beat["outbox"] == {"0": 0, "1": 0, "2": 0}


async def test_mqtt_311_works_as_well_as_5(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, mqtt={"protocol": "3.1.1"})
    await press(hub)
    await collector.wait_event("sos")
    assert hub.uplink.state.protocol == "3.1.1"


async def test_events_command_lists_the_alarm_with_its_delivery(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await press(hub)
    [sos] = await collector.wait_event("sos")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "events",
        "--last",
        "5",
        "--socket",
        str(hub.cfg.control_socket),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert sos["id"] in out.decode()
    assert "sent 20" in out.decode()


async def test_the_hub_stops_even_when_a_part_missed_the_stop_request(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    # Python 3.11's wait_for can swallow a cancellation that lands as its inner call
    # completes (aiomqtt's SUBACK wait, seen as a hung stop of the uplink); that part
    # then waits on. Stopping must not hang on it: the outbox must still be closed.
    hub = await make_hub(broker.port)
    swallowed = asyncio.Event()

    async def deaf_part() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # as wait_for does in the race: the cancellation is lost
        await asyncio.Event().wait()

    hub.tasks.supervise("deaf", deaf_part)
    await asyncio.sleep(0)
    await asyncio.wait_for(hub.stop(), 30)
    assert swallowed.is_set()

"""Broker link faults: cuts, a black hole, a slow link and broker restarts lose nothing,
and after an outage the alarms arrive before the telemetry that queued up."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

from hub.app import Hub
from hub.event import Draft
from hub.sim.broker import Mosquitto
from hub.sim.proxy import FaultyProxy
from hub.sync.uplink import PROTOCOL_FILE
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually


async def inject(hub: Hub, kind: str, n: int) -> str:
    """Commit one simulated event through the hub, as a device source would."""
    if kind in ("sos", "smoke"):
        event = await hub.alarms.raise_alarm(kind, data={"n": n})
        assert event is not None
        return event.id
    return (await hub.events.commit(Draft.create(kind, hub.clock, data={"n": n}))).id


def delivered_ids(collector: Collector) -> set[str]:
    return {e["id"] for e in collector.events()}


async def test_events_keep_flowing_through_repeated_cuts_with_nothing_lost(
    proxy: FaultyProxy, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(proxy.port)
    rng = random.Random(3)
    committed = []
    for n in range(300):
        committed.append(await inject(hub, rng.choice(["motion", "door", "sos"]), n))
        if rng.random() < 0.05:
            # Cut a live link (on a loaded machine a cut could otherwise land while the
            # hub is still reconnecting and sever nothing).
            await eventually(hub.uplink.connected.is_set, timeout=30)
            proxy.cut()
        await asyncio.sleep(0.002)
    await eventually(lambda: set(committed) <= delivered_ids(collector), timeout=30)
    assert proxy.connections > 5  # the hub really had to reconnect, many times


async def test_an_alarm_sent_into_a_black_hole_arrives_after_the_hub_notices_and_reconnects(
    proxy: FaultyProxy, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(proxy.port, mqtt={"keepalive_s": 5})
    await eventually(hub.uplink.connected.is_set)
    proxy.set_stall(True)
    alarm_id = await inject(hub, "sos", 1)
    await asyncio.sleep(1.0)
    assert alarm_id not in delivered_ids(collector)
    proxy.cut()  # the stalled path dies, as a NAT entry would time out
    proxy.set_stall(False)
    await eventually(lambda: alarm_id in delivered_ids(collector), timeout=30)


async def test_a_slow_link_delivers_everything_in_priority_order(
    proxy: FaultyProxy, collector: Collector, make_hub: HubFactory
) -> None:
    proxy.delay_s = 0.02
    hub = await make_hub(proxy.port)
    ids = [await inject(hub, "motion", n) for n in range(40)]
    ids.append(await inject(hub, "sos", 99))
    await eventually(lambda: set(ids) <= delivered_ids(collector), timeout=30)
    await hub.stop()


async def test_after_a_broker_outage_alarms_drain_before_the_queued_telemetry(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory, tmp_path: Path
) -> None:
    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)
    broker.stop()
    await eventually(lambda: not hub.uplink.state.connected)
    telemetry = [await inject(hub, "motion", n) for n in range(200)]
    alarms = [await inject(hub, "sos", 1000), await inject(hub, "smoke", 1001)]
    broker.start()
    await eventually(lambda: set(telemetry + alarms) <= delivered_ids(collector), timeout=30)
    arrival = [e["id"] for e in collector.events() if e["id"] in set(telemetry + alarms)]
    assert set(arrival[:2]) == set(alarms)  # both alarms overtook 200 older motion events


async def test_auto_protocol_falls_back_to_311_on_a_broker_without_mqtt5(
    proxy: FaultyProxy, collector: Collector, make_hub: HubFactory
) -> None:
    proxy.mqtt311_only = True
    hub = await make_hub(proxy.port)  # mqtt.protocol = "auto"
    await eventually(hub.uplink.connected.is_set)
    assert hub.uplink.state.protocol == "3.1.1"
    assert proxy.refused_mqtt5 >= 1
    assert list(hub.uplink.state.attempts) == [("5", "refused"), ("3.1.1", "connected")]
    alarm = await inject(hub, "sos", 1)
    await eventually(lambda: alarm in delivered_ids(collector))
    await hub.stop()


async def test_a_broker_that_closes_on_an_mqtt5_connect_is_taken_as_a_refusal_at_once(
    proxy: FaultyProxy, collector: Collector, make_hub: HubFactory
) -> None:
    proxy.close_mqtt5 = True  # RabbitMQ 3.10: no CONNACK, the connection is closed
    hub = await make_hub(proxy.port)  # mqtt.protocol = "auto"
    await eventually(hub.uplink.connected.is_set)
    # "closed", not "no answer": the uplink saw the close and did not wait for a timeout.
    assert list(hub.uplink.state.attempts) == [("5", "closed"), ("3.1.1", "connected")]
    assert proxy.refused_mqtt5 == 1
    alarm = await inject(hub, "sos", 1)
    await eventually(lambda: alarm in delivered_ids(collector))


async def test_a_remembered_protocol_that_stops_working_is_alternated_away_from(
    proxy: FaultyProxy, make_hub: HubFactory
) -> None:
    hub = await make_hub(proxy.port)  # mosquitto speaks MQTT 5: remembered
    await eventually(hub.uplink.connected.is_set)
    assert list(hub.uplink.state.attempts) == [("5", "connected")]
    memory = Path(hub.cfg.hub.data_dir) / PROTOCOL_FILE
    await eventually(memory.exists)
    await hub.stop()

    proxy.mqtt311_only = True  # the centre moved the hub's address to a 3.1.1-only broker
    moved = await make_hub(proxy.port)
    await eventually(moved.uplink.connected.is_set)
    assert list(moved.uplink.state.attempts) == [("5", "refused"), ("3.1.1", "connected")]
    await eventually(lambda: b"3.1.1" in memory.read_bytes())
    await moved.stop()

    again = await make_hub(proxy.port)
    await eventually(again.uplink.connected.is_set)
    assert list(again.uplink.state.attempts) == [("3.1.1", "connected")]


async def test_a_corrupt_or_foreign_protocol_memory_is_ignored(
    broker: Mosquitto, make_hub: HubFactory, tmp_path: Path
) -> None:
    memory = tmp_path / "data" / PROTOCOL_FILE
    memory.parent.mkdir(parents=True)
    memory.write_bytes(b'{"broker": "127.0.0.1:\xff\x00 truncated')
    leftover = memory.parent / f".{PROTOCOL_FILE}.k3j9x.tmp"  # a write cut by a power cut
    leftover.write_bytes(b'{"bro')
    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)
    assert list(hub.uplink.state.attempts) == [("5", "connected")]
    assert not leftover.exists()
    await hub.stop()

    # A memory of another broker (the hub was moved) says nothing about this one.
    memory.write_text('{"broker": "10.0.0.9:1883", "protocol": "3.1.1"}')
    moved = await make_hub(broker.port)
    await eventually(moved.uplink.connected.is_set)
    assert list(moved.uplink.state.attempts) == [("5", "connected")]


async def test_a_pushed_protocol_setting_is_used_from_the_next_connection(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)  # auto: mosquitto speaks MQTT 5
    await eventually(lambda: hub.uplink.state.protocol == "5")
    forced = replace(hub.cfg, mqtt=replace(hub.cfg.mqtt, protocol="3.1.1"))
    hub.uplink.reconfigure(forced)  # what an applied config push does
    await eventually(lambda: hub.uplink.state.protocol == "3.1.1")
    assert hub.uplink.state.attempts[-1] == ("3.1.1", "connected")


async def test_a_rollback_to_the_working_broker_is_tried_at_once_not_after_the_backoff(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    # The hub was told a broker that does not answer and has backed off to a long wait;
    # settings that point back at the working broker (a rollback, a new push) must not
    # sit out that wait while alarms queue.
    from hub.sim.broker import free_port

    hub = await make_hub(free_port(), mqtt={"reconnect_min_s": 60.0, "reconnect_max_s": 120.0})
    await eventually(lambda: hub.uplink.state.attempts)  # refused once; now waiting 60 s
    assert not hub.uplink.state.connected
    hub.uplink.reconfigure(replace(hub.cfg, mqtt=replace(hub.cfg.mqtt, port=broker.port)))
    await eventually(lambda: hub.uplink.state.connected)


async def test_a_lost_node_spreads_its_hubs_reconnects_but_an_alarm_goes_at_once(
    proxy: FaultyProxy, collector: Collector, make_hub: HubFactory
) -> None:
    # After a lost session the hub waits a random 50-60 s here before reconnecting (so a
    # dead node's hubs do not all hit the survivors at once); a press must not wait for it.
    spread = {"reconnect_min_s": 50.0, "reconnect_max_s": 60.0, "reconnect_spread_s": 60.0}
    hub = await make_hub(proxy.port, mqtt=spread)
    await eventually(hub.uplink.connected.is_set)
    before = proxy.connections
    proxy.cut()
    await eventually(lambda: not hub.uplink.state.connected)
    await asyncio.sleep(1.0)
    assert proxy.connections == before  # still pausing: no reconnect yet
    alarm_id = await inject(hub, "sos", 1)
    await eventually(lambda: alarm_id in delivered_ids(collector), timeout=20)


async def test_an_alarm_raised_while_the_hub_backs_off_tries_at_once_and_only_once(
    stopped_broker: Mosquitto, make_hub: HubFactory
) -> None:
    # Every node failed (the cluster overloaded, the broker down): the hub pauses before
    # its next round, up to mqtt.reconnect_max_s (30 s by default, 60 s here). An SOS
    # raised then must not wait out the pause (the centre has 25 s to acknowledge it
    # before the hub escalates); nor may a hub with an alarm and no broker spin.
    hub = await make_hub(
        stopped_broker.port,
        mqtt={"reconnect_min_s": 60.0, "reconnect_max_s": 60.0, "protocol": "5"},
    )
    await eventually(lambda: hub.uplink.state.connect_attempts == 1)  # refused; waiting 60 s
    await inject(hub, "sos", 1)
    await eventually(lambda: hub.uplink.state.connect_attempts == 2)  # tried at once
    await asyncio.sleep(1.5)
    assert hub.uplink.state.connect_attempts == 2  # refused again: a pause, not a spin

    stopped_broker.start()  # back, but the hub is in its next 60 s pause
    collector = Collector(stopped_broker.port)
    await collector.start()
    try:
        await collector.subscribed.wait()
        fall_id = await inject(hub, "smoke", 2)  # a new alarm tries at once again
        await eventually(lambda: fall_id in delivered_ids(collector), timeout=20)
        assert len(delivered_ids(collector)) == 2  # the SOS went out with it
    finally:
        await collector.stop()

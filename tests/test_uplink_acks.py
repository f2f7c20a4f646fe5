"""Inbound QoS 1 messages (the centre's acks, commands, config envelopes) survive a
connection that ends before the hub has taken them.

paho PUBACKs a QoS 1 message as soon as aiomqtt has queued it, and aiomqtt drops that
queue when the connection ends: found at 5,000 hubs with a broker node killed mid-push,
where 27 hubs never received the config the admin's push had delivered and 2 alarms'
acknowledgements never reached their hubs. The hub's client acks a message only once
it has taken it, so what was still queued is sent again when the session resumes.
Real mosquitto, a real TCP proxy to cut the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiomqtt

from hub.sim.broker import Mosquitto
from hub.sim.proxy import FaultyProxy
from hub.sync.brokers import BrokerAddress
from hub.sync.mqtt_client import UplinkClient
from tests.conftest import HubFactory
from tests.helpers import eventually


def session(port: int, *, manual_ack: bool) -> UplinkClient:
    """A persistent session, as the hub's uplink opens it."""
    return UplinkClient(
        "127.0.0.1",
        port,
        identifier="pingan-acks",
        clean_session=False,
        protocol=aiomqtt.ProtocolVersion.V311,
        connect_timeout=10,
        manual_ack=manual_ack,
    )


async def messages_lost_to_a_cut(
    broker: Mosquitto,
    proxy: FaultyProxy,
    manual_ack: bool,
    make: Callable[..., UplinkClient] | None = None,
) -> int:
    """Three messages arrive and wait in the client's queue; the connection is cut before
    the application takes them; how many does the resumed session get?"""
    make = make or session
    async with make(proxy.port, manual_ack=manual_ack) as hub:
        await hub.subscribe("pingan/v1/acks/ack", qos=1)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="centre") as centre:
            for n in range(3):
                await centre.publish("pingan/v1/acks/ack", f"ack {n}", qos=1)
        await eventually(lambda: len(hub.messages) == 3)  # queued, not taken
        proxy.cut()
        await eventually(lambda: not hub._client.is_connected())
    got: list[bytes] = []
    async with make(proxy.port, manual_ack=manual_ack) as hub:
        try:
            async with asyncio.timeout(3):
                async for message in hub.messages:
                    got.append(bytes(message.payload))  # type: ignore[arg-type]
                    hub.ack(message)
        except TimeoutError:
            pass
    return 3 - len(got)


async def test_messages_queued_when_the_connection_ends_come_again(
    broker: Mosquitto, proxy: FaultyProxy
) -> None:
    assert await messages_lost_to_a_cut(broker, proxy, manual_ack=True) == 0


async def test_without_acking_on_take_they_are_lost(broker: Mosquitto, proxy: FaultyProxy) -> None:
    # What the hub did before: paho's automatic ack. Kept as the proof of the cause.
    assert await messages_lost_to_a_cut(broker, proxy, manual_ack=False) == 3


async def test_the_hubs_own_uplink_session_gets_them_again(
    broker: Mosquitto, proxy: FaultyProxy, make_hub: HubFactory
) -> None:
    """The same, with the session the hub's uplink makes (its client id, persistent
    session, manual acks), so the property is the hub's, not the test's."""
    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)
    await hub.stop()  # its client id is used below

    def hubs_session(port: int, *, manual_ack: bool) -> UplinkClient:
        client = hub.uplink._make_client("3.1.1", 10, BrokerAddress("127.0.0.1", port))
        assert client.manual_ack is manual_ack
        return client

    lost = await messages_lost_to_a_cut(broker, proxy, manual_ack=True, make=hubs_session)
    assert lost == 0

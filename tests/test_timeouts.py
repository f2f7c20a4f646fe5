"""A cancellation is never lost to a timeout (hub/timeouts.py).

Python 3.11's asyncio.wait_for returns the result when the task is cancelled in the same
loop turn as what it awaits completes. At 5,000 hubs with a broker node killed, that kept
two hubs' sessions open for 15 minutes: the outbox drain's PUBACK wait (aiomqtt's, built
on wait_for) swallowed the TaskGroup's cancel, went on publishing the SOS, and the group
waited on it forever with the heartbeat and the intake of the centre's acks stopped.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import aiomqtt
import pytest

from hub.sim.broker import Mosquitto
from hub.sync.mqtt_client import UplinkClient
from hub.tasks import first_to_end
from hub.timeouts import wait_within

HUB = Path(__file__).resolve().parent.parent / "hub"


async def test_a_cancel_in_the_same_turn_as_the_result_still_cancels() -> None:
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(wait_within(fut, 10))
    await asyncio.sleep(0)  # the task now waits on fut
    fut.set_result(1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_timeout_raises_and_cancels_what_it_waited_on() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await wait_within(never, 0.01)
    assert never.cancelled()
    assert await wait_within(asyncio.sleep(0, "done"), None) == "done"


async def test_a_publish_cancelled_as_its_puback_arrives_ends_cancelled(
    broker: Mosquitto,
) -> None:
    """The hub's MQTT client, real mosquitto: the PUBACK and the cancel of the task that
    waits for it come in one loop turn, as when a session's TaskGroup aborts (a
    heartbeat timed out) while an event's PUBACK is arriving."""
    async with UplinkClient(
        "127.0.0.1",
        broker.port,
        identifier="pingan-cancel",
        protocol=aiomqtt.ProtocolVersion.V311,
        connect_timeout=10,
    ) as client:
        publishing: asyncio.Task[None] | None = None
        paho = client._client
        on_publish = paho.on_publish

        def puback_then_cancel(*args: object) -> None:
            on_publish(*args)  # aiomqtt marks the publish done...
            assert publishing is not None
            publishing.cancel()  # ...and the group cancels its task in the same turn

        paho.on_publish = puback_then_cancel
        publishing = asyncio.create_task(client.publish("pingan/v1/t/event/sos", b"{}", qos=1))
        with pytest.raises(asyncio.CancelledError):
            await publishing


async def test_a_session_ends_even_when_one_of_its_tasks_misses_its_cancellation() -> None:
    """The uplink's session runs its tasks with first_to_end: when one fails, the others
    are cancelled, and one that swallows the cancellation (whatever library did it) is
    cancelled again instead of holding the session open, as a TaskGroup would."""
    stubborn_cancels: list[int] = []

    async def stubborn() -> None:
        for n in range(2):  # swallows the first cancellation, as 3.11's wait_for can
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                stubborn_cancels.append(n)
                if n == 1:
                    raise

    async def heartbeat_times_out() -> None:
        await asyncio.sleep(0.01)
        raise aiomqtt.MqttError("Operation timed out")

    with pytest.raises(aiomqtt.MqttError, match="timed out"):
        await wait_within(first_to_end(stubborn(), heartbeat_times_out(), grace_s=0.05), 5)
    assert stubborn_cancels == [0, 1]


async def test_a_session_stopped_from_outside_stops_its_tasks() -> None:
    started = asyncio.Event()
    ended: list[str] = []

    async def part(name: str) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            ended.append(name)

    session = asyncio.create_task(first_to_end(part("a"), part("b")))
    await started.wait()
    session.cancel()
    with pytest.raises(asyncio.CancelledError):
        await session
    assert sorted(ended) == ["a", "b"]


def test_no_module_of_the_hub_uses_asyncio_wait_for() -> None:
    """The class, not the case: every wait with a timeout in the hub goes through
    wait_within, and MQTT goes through UplinkClient (aiomqtt's own waits use wait_for)."""
    found: list[str] = []
    for path in sorted(HUB.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(HUB.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "wait_for":
                if isinstance(node.value, ast.Name) and node.value.id == "asyncio":
                    found.append(f"{where}:{node.lineno} asyncio.wait_for")
            elif isinstance(node, ast.ImportFrom) and node.module == "asyncio":
                if any(alias.name == "wait_for" for alias in node.names):
                    found.append(f"{where}:{node.lineno} from asyncio import wait_for")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Client"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "aiomqtt"
            ):
                found.append(f"{where}:{node.lineno} aiomqtt.Client (use UplinkClient)")
    assert not found, "use hub.timeouts.wait_within / UplinkClient:\n" + "\n".join(found)

"""Simulated alarm centres: one that prints each event and acknowledges alarms (the demo
and tests), and one with a consumer per node of a broker cluster (fleet runs)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from hub.sync.brokers import BrokerAddress
from hub.sync.mqtt_client import UplinkClient, attempt_outcome
from hub.sync.protocol_plan import UNREACHABLE
from hub.sync.reconnect import Reconnect

_LOGGER = logging.getLogger(__name__)


class SimulatedCentre:
    """Subscribes to every hub's events; acks priority-0 alarms after a delay.

    `received` after `ack_delay` seconds, then `dispatched` after as long again,
    as a real operator would: first "we have it", then "help is on the way" (and, with
    `resolve`, `resolved` once more after that).
    """

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str = "pingan/v1",
        *,
        ack_delay: float = 2.0,
        operator: str = "坐席 07",
        say: Callable[[str], None] = print,
        resolve: bool = False,
    ) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self.ack_delay = ack_delay
        self.operator = operator
        self.say = say
        self.resolve = resolve  # also close each alarm ("resolved"), as the operator would
        self.received: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Serve until cancelled."""
        async with UplinkClient(
            self.host, self.port, identifier="sim-centre", connect_timeout=10
        ) as client:
            await client.subscribe(f"{self.prefix}/+/event/#", qos=1)
            if ready:
                ready.set()
            async for message in client.messages:
                try:
                    event = json.loads(message.payload)
                except (TypeError, ValueError):
                    continue
                self.received.append(event)
                test = " (test)" if event.get("data", {}).get("test") else ""
                self.say(
                    f"[centre] received {event['kind']}{test} from hub {event['hub']} "
                    f"(seq {event['seq']}, id {event['id']})"
                )
                if event.get("priority") == 0:
                    task = asyncio.create_task(self._acknowledge(client, event))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _acknowledge(self, client: aiomqtt.Client, event: dict[str, Any]) -> None:
        topic = f"{self.prefix}/{event['hub']}/ack"
        steps = [("received", "已收到，正在联系"), ("dispatched", "社区网格员已出发")]
        if self.resolve:
            steps.append(("resolved", "已处理完毕"))
        for state, note in steps:
            await asyncio.sleep(self.ack_delay)
            self.say(f"[centre] operator {self.operator}: {state} ({note})")
            await client.publish(
                topic,
                json.dumps(
                    {"id": event["id"], "state": state, "operator": self.operator, "note": note},
                    ensure_ascii=False,
                ),
                qos=1,
            )


# A consumer whose session ended retries on the next node after about this long, and a
# round of nodes that all failed makes it pause longer (jittered, up to the cap): the
# other consumers already receive everything meanwhile.
_ACKS_IN_FLIGHT = 1000  # a city's alarm burst, acked at once
_CONSUMER_RETRY_S = 0.5
_CONSUMER_RETRY_MAX_S = 10.0


@dataclass
class Arrival:
    """The first copy of an event the centre received."""

    event: dict[str, Any]
    at: float  # wall-clock epoch seconds
    consumer: int


class ClusterCentre:
    """The alarm centre's consumers on a broker cluster: one subscriber per node.

    DESIGN.md has the centre scale with a shared subscription (`$share/alarm/...`).
    RabbitMQ 3.10's MQTT plugin has none: it grants the `$share/...` filter and then
    delivers nothing to it (tests/test_rabbitmq.py). So here each consumer is an ordinary
    subscriber with its own persistent session, started on a different node; every one
    receives every event, and the centre keeps the first copy of each event id (it
    de-duplicates by id anyway). When a node dies, the consumers on the others already
    hold every event; the dead node's consumer reconnects to the next node and catches
    up from its session (on RabbitMQ, a quorum queue that outlived the node). Each copy of
    an alarm is acknowledged (`received`) on the hub's `ack` topic.
    """

    def __init__(
        self,
        nodes: list[tuple[str, int]],
        prefix: str = "pingan/v1",
        *,
        name: str = "sim-centre",
        acknowledge: bool = True,
    ) -> None:
        self.nodes = nodes
        self.prefix = prefix
        self.name = name
        self.acknowledge = acknowledge
        self.first: dict[str, Arrival] = {}  # event id -> first arrival
        self.copies: dict[str, int] = {}  # event id -> copies received in all
        self.connected: list[str] = ["" for _ in nodes]  # each consumer's node, "" if none
        self.subscribed = [asyncio.Event() for _ in nodes]
        self.reconnects = 0
        self._plans: list[Reconnect] = []

    async def run(self) -> None:
        """Run every consumer until cancelled."""
        await asyncio.gather(*(self._consumer(i) for i in range(len(self.nodes))))

    async def _consumer(self, index: int) -> None:
        # The hubs' connect discipline (hub.sync.reconnect), from this consumer's own node.
        plan = Reconnect(
            [BrokerAddress(host, port) for host, port in self.nodes],
            start=index,
            min_pause_s=_CONSUMER_RETRY_S,
            max_pause_s=_CONSUMER_RETRY_MAX_S,
        )
        self._plans.append(plan)
        while True:
            node = plan.current
            connected = False
            outcome = UNREACHABLE
            try:
                async with UplinkClient(
                    node.host,
                    node.port,
                    identifier=f"{self.name}-{index}",
                    clean_session=False,
                    timeout=10,
                    connect_timeout=plan.connack_timeout,
                ) as client:
                    # Acks go out concurrently, one per alarm copy: aiomqtt's warning past
                    # 10 pending publishes would print a line per alarm of a burst.
                    client.pending_calls_threshold = _ACKS_IN_FLIGHT
                    plan.connected()
                    connected = True
                    self.connected[index] = str(node)
                    await client.subscribe(f"{self.prefix}/+/event/#", qos=1)
                    self.subscribed[index].set()
                    async for message in client.messages:
                        self._take(index, client, message.payload)
            except aiomqtt.MqttError as exc:
                _LOGGER.warning("centre consumer %d on %s: %s", index, node, exc)
                outcome = attempt_outcome(exc)
            self.connected[index] = ""
            self.subscribed[index].clear()
            self.reconnects += 1
            pause = plan.lost() if connected else plan.failed(outcome)
            if pause:
                await asyncio.sleep(pause)

    @property
    def attempts(self) -> int:
        """Connect attempts made by all the consumers so far."""
        return sum(plan.attempts for plan in self._plans)

    def _take(self, index: int, client: aiomqtt.Client, payload: Any) -> None:
        try:
            event = json.loads(payload)
            event_id = str(event["id"])
        except (TypeError, ValueError, KeyError):
            return
        self.copies[event_id] = self.copies.get(event_id, 0) + 1
        self.first.setdefault(event_id, Arrival(event, time.time(), index))
        # Every copy of an alarm is acknowledged: a copy comes again only when the hub
        # has not had the ack (it resends), and an ack lost with a node must not be final.
        if self.acknowledge and event.get("priority") == 0:
            ack = {"id": event_id, "state": "received", "operator": "坐席 07", "note": ""}
            task = asyncio.get_running_loop().create_task(
                client.publish(
                    f"{self.prefix}/{event['hub']}/ack",
                    json.dumps(ack, ensure_ascii=False),
                    qos=1,
                )
            )
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

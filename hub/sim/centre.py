"""A small simulated alarm centre: prints each event and acknowledges alarms."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiomqtt

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
        async with aiomqtt.Client(self.host, self.port, identifier="sim-centre") as client:
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

"""Test helpers: a message collector on the real broker, waiting without fixed sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt


async def eventually(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Wait until predicate() is truthy; returns its value, or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@dataclass
class Received:
    """One message the collector got."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        """The payload as JSON."""
        return json.loads(self.payload)


@dataclass
class Collector:
    """Plays the cloud alarm service: a persistent-session subscriber that survives broker
    restarts, so nothing published while it reconnects is missed."""

    port: int
    topics: tuple[str, ...] = ("pingan/v1/+/event/#", "pingan/v1/+/status")
    ident: str = "test-collector"
    messages: list[Received] = field(default_factory=list)
    _client: aiomqtt.Client | None = None
    _task: asyncio.Task[None] | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Connect (retrying while the broker is down) in the background."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self.ident, clean_session=False
                ) as client:
                    self._client = client
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    async for msg in client.messages:
                        payload = msg.payload if isinstance(msg.payload, bytes) else b""
                        self.messages.append(Received(msg.topic.value, payload, msg.retain))
            except aiomqtt.MqttError:
                self._client = None
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Disconnect."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish as the cloud side (QoS 1)."""
        await eventually(lambda: self._client is not None)
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1, retain=retain)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event payload received (optionally of one kind), in arrival order."""
        out = []
        for m in self.messages:
            if "/event/" in m.topic and (kind is None or m.topic.endswith(f"/event/{kind}")):
                out.append(m.json())
        return out

    async def wait_event(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Wait for at least `count` events of `kind`."""
        return list(
            await eventually(lambda: len(self.events(kind)) >= count and self.events(kind), timeout)
        )

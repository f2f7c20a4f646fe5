"""`fleet push`: a signed envelope, retained, to each hub's config/desired; paced, journaled,
failing over to the next node of a cluster."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import aiomqtt

from hub.errors import UplinkError
from hub.fleet.broker import Broker, FleetError
from hub.sync.mqtt_client import attempt_outcome
from hub.sync.reconnect import Reconnect

# `fleet push` publishes at most this many a second by default: 84,000 hubs in 7 min.
# Each envelope costs the broker a retained store write and a replicated enqueue, and
# each hub answers with a report. A 3-node RabbitMQ 3.10 cluster sharing 2 busy cores
# with its hubs PUBACKed 70-120 a second (bench/README.md "Fleet at city scale"): there
# the broker, not this limit, set the pace; on a real cluster the limit keeps a push to
# the whole city from crowding out the alarms.
DEFAULT_PUSH_RATE: Final = 200.0
# Envelopes awaiting their PUBACK at once: enough to keep a LAN's round trips busy at
# the default rate, few enough that a lost connection re-sends little.
PUSH_WINDOW: Final = 200
# A push gives up (the journal keeps its progress) after every node failed this often in
# a row: with nodes that accept and answer late, 10+20+40+60+60 s of CONNACK wait each.
_PUSH_ROUNDS: Final = 5
# The shortest pause after a failed round (then jittered, growing to 30 s).
_PUSH_RETRY_S: Final = 2.0
# The journal is fsynced this often; a crash loses at most this much progress (those
# hubs are pushed again and ignore the copy: same version, hub.sync.ota REPLAY).
_JOURNAL_SYNC_S: Final = 0.5

_LOGGER = logging.getLogger(__name__)


def desired_topics(broker: Broker, envelope: dict[str, Any], hubs: Iterable[str]) -> list[str]:
    """The `config/desired` topics an envelope goes to (its own hub, or each listed hub)."""
    listed = list(dict.fromkeys(hubs))
    target = envelope.get("hub")
    if isinstance(target, str):
        if listed and listed != [target]:
            raise FleetError(f"the envelope is signed for hub {target}; do not list other hubs")
        listed = [target]
    elif not listed:
        raise FleetError("a group envelope needs the hubs to send it to (--hub or --hubs)")
    return [f"{broker.prefix}/{hub_id}/config/desired" for hub_id in listed]


def envelope_payload(envelope: dict[str, Any]) -> bytes:
    """The bytes `fleet push` publishes for an envelope."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


class PushJournal:
    """The hubs whose envelope the broker PUBACKed, appended to a file as they come.

    The first line names the envelope (its digest): a journal is only ever resumed for
    the very envelope it was written for.
    """

    def __init__(self, path: Path, payload: bytes) -> None:
        self.path = path
        self.digest = hashlib.sha256(payload).hexdigest()
        self.done: set[str] = set()
        self._unsynced = 0
        self._last_sync = time.monotonic()
        header = json.dumps({"envelope_sha256": self.digest})
        try:
            if path.exists():
                lines = path.read_text(encoding="utf-8").splitlines()
                if not lines or lines[0] != header:
                    raise FleetError(
                        f"{path} is the journal of another envelope; remove it to push"
                        " this one from the start, or give another --journal"
                    )
                self.done = {line for line in lines[1:] if line}
                self._file: IO[str] = path.open("a", encoding="utf-8")
            else:
                self._file = path.open("w", encoding="utf-8")
                self._file.write(header + "\n")
                self.sync()
        except OSError as exc:
            raise FleetError(f"cannot use the push journal {path}: {exc}") from exc

    def add(self, hub_id: str) -> None:
        """Record a PUBACKed hub (on disk at the next sync)."""
        self.done.add(hub_id)
        self._file.write(hub_id + "\n")
        self._unsynced += 1
        if time.monotonic() - self._last_sync >= _JOURNAL_SYNC_S:
            self.sync()

    def sync(self) -> None:
        """Flush and fsync what was added."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close."""
        self.sync()
        self._file.close()


@dataclass
class PushProgress:
    """How far a push got: for the admin's terminal and for the benchmark."""

    total: int
    done: int = 0
    skipped: int = 0  # already in the journal when this run started
    reconnects: int = 0
    attempts: int = 0  # connect attempts made (a storm of retries shows here)
    node: str = ""


def _hub_of(topic: str) -> str:
    return topic.rsplit("/", 3)[-3]


async def push(
    broker: Broker,
    envelope: dict[str, Any],
    hubs: Iterable[str] = (),
    *,
    rate: float | None = None,
    window: int = PUSH_WINDOW,
    journal: Path | None = None,
    again: bool = False,
    progress: Callable[[PushProgress], None] | None = None,
) -> list[str]:
    """Publish the envelope retained, QoS 1, to each target; returns the topics once PUBACKed.

    At most `rate` publishes a second (None: as fast as `window` PUBACKs allow), over the
    broker's nodes in turn when a connection is lost; with `journal`, hubs done in an
    earlier run are skipped (unless `again`: the laggards of a push, sent it once more)
    and each PUBACK is recorded. UplinkError when every node
    failed `_PUSH_ROUNDS` times; the journal then holds what was done.
    """
    topics = desired_topics(broker, envelope, hubs)
    payload = envelope_payload(envelope)
    log = PushJournal(journal, payload) if journal is not None else None
    state = PushProgress(total=len(topics))
    try:
        # A PUBACK says the broker has the envelope, not that the hub got it: `again`
        # publishes to hubs the journal has as done (a hub that has it ignores the copy).
        pending = [t for t in topics if log is None or again or _hub_of(t) not in log.done]
        state.skipped = len(topics) - len(pending)
        state.done = state.skipped
        if progress is not None:
            progress(state)
        await _Pusher(broker, payload, rate, window, log, state, progress).run(pending)
    finally:
        if log is not None:
            log.close()
    return topics


@dataclass
class _Pusher:
    """One push's settings and progress, over as many connections as it takes."""

    broker: Broker
    payload: bytes
    rate: float | None
    window: int
    log: PushJournal | None
    state: PushProgress
    progress: Callable[[PushProgress], None] | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(self, pending: list[str]) -> None:
        """Publish to every pending topic, moving to the next node when a connection fails."""
        # The hubs' discipline (hub.sync.reconnect): a dead node is left at once, a round
        # of slow nodes makes the next CONNACK wait longer, failed rounds pause jittered.
        plan = Reconnect(self.broker.nodes(), min_pause_s=_PUSH_RETRY_S, max_pause_s=30.0)
        while pending:
            node = plan.current
            self.state.node = str(node)
            acked: set[str] = set()
            connected = False
            try:
                async with self.broker.client(
                    node, inflight=self.window, connect_timeout=plan.connack_timeout
                ) as client:
                    plan.connected()
                    connected = True
                    self.state.attempts = plan.attempts
                    if self.progress is not None:  # "connected via <node>" for the admin
                        self.progress(self.state)
                    client.pending_calls_threshold = self.window + 10  # in flight by design
                    await self._publish_paced(client, pending, acked)
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                self.state.reconnects += 1
                left = len(pending) - len(acked)
                _LOGGER.warning("fleet push via %s: %s; %d left", node, exc, left)
                pause = plan.lost() if connected else plan.failed(attempt_outcome(exc))
                if plan.failed_rounds >= _PUSH_ROUNDS:
                    raise UplinkError(
                        f"broker {node}: {exc}; {left} hub(s) not pushed"
                        " (run the same command again to go on)"
                    ) from exc
                if pause:
                    await self.sleep(pause)
            finally:
                self.state.attempts = plan.attempts
                pending[:] = [t for t in pending if t not in acked]
                if self.progress is not None:
                    self.progress(self.state)

    async def _publish_paced(
        self, client: aiomqtt.Client, pending: list[str], acked: set[str]
    ) -> None:
        """Publish each pending topic at the rate, `window` awaiting PUBACK; at the first
        failure, give up the ones in flight and raise it.

        A publish waiting for its PUBACK when the connection drops is not failed by the
        client: it waits out its timeout (10 s). Those hubs are published again on the
        next node instead; a hub that gets the envelope twice ignores the copy (same
        version: hub.sync.ota REPLAY)."""
        slots = asyncio.Semaphore(self.window)
        failed: list[BaseException] = []
        tasks: set[asyncio.Task[None]] = set()

        async def one(topic: str) -> None:
            try:
                await client.publish(topic, self.payload, qos=1, retain=True)
            except (aiomqtt.MqttError, OSError) as exc:
                failed.append(exc)
                for other in tasks:  # the connection is gone: waiting on them is waste
                    if other is not asyncio.current_task():
                        other.cancel()
                return
            finally:
                slots.release()
            acked.add(topic)
            self.state.done += 1
            if self.log is not None:
                self.log.add(_hub_of(topic))

        start = self.clock()
        try:
            for n, topic in enumerate(list(pending)):
                await slots.acquire()
                if failed:
                    slots.release()
                    break
                if self.rate:
                    delay = start + n / self.rate - self.clock()
                    if delay > 0:
                        await self.sleep(delay)
                task = asyncio.create_task(one(topic))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # Interrupted (the admin's Ctrl-C): nothing may run on after the journal closes.
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            raise failed[0]

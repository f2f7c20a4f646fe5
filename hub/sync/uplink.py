"""The MQTT uplink: one long-lived session with the alarm service's broker.

Built on aiomqtt 2.x (paho underneath, driven from the event loop). The uplink owns
no data: it publishes what the outbox holds, in the outbox's order, and marks each
event sent only on PUBACK. A connection lost mid-publish just means the event is
published again after reconnecting (same id; the cloud de-duplicates).

The session is persistent (clean start off, session kept a day) so that acks the
centre sends while the hub is offline are queued by the broker, not lost.

On a broker cluster (`mqtt.brokers`) the hub rotates through the nodes in its own order
(hub.sync.brokers): a lost session or a refused attempt moves it to the next node at
once, and only a whole round of failures makes it back off. When the node holding its
session dies, the hub reconnects to another node with the same client id and clean
start off: on a cluster that replicates sessions (RabbitMQ with quorum session queues,
EMQX, HiveMQ) it finds its subscriptions and whatever was queued for it there; events
not yet PUBACKed are published again (same id). The outbox is drained from the moment
the connection is up, not after the SUBACKs: a broker that cannot restore the session's
subscriptions (RabbitMQ's default classic queues whose node is gone) still gets the
alarms, and the alarm lifecycle escalates locally when no ack can come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import Config
from hub.errors import DecodeError, StoreError
from hub.event import Event
from hub.store.atomic import read_json, write_json_atomic
from hub.store.outbox import AsyncOutbox
from hub.sync.brokers import BrokerAddress, BrokerRotation, addresses, cluster_key
from hub.sync.messages import Ack, Topics, parse_ack, parse_command
from hub.sync.mqtt_client import UplinkClient, attempt_outcome
from hub.sync.protocol_plan import V5, V311, ConnackPatience, ProtocolPlan
from hub.sync.reconnect import Pauses
from hub.tasks import first_to_end

_LOGGER = logging.getLogger(__name__)

# Reconnect backoff (hub.sync.reconnect.backoff_delays): start fast (a broker restart is
# the common case and the alarm path must recover in well under a second), double per
# failed round up to mqtt.reconnect_max_s, with full jitter so a city's hubs do not
# reconnect in lock-step after a broker outage.
# How long a PUBACK may take before the connection is considered broken.
_PUBACK_TIMEOUT_S = 10.0
# A session in which no heartbeat was PUBACKed for this many heartbeat periods is ended
# and made again: connected but deaf or mute is worse than down (issue 21: after a node
# kill two hubs kept a connection for 15 min, their acks undelivered, no heartbeat).
_SILENT_SESSION_HEARTBEATS = 3
# The broker keeps our session (subscriptions + queued acks) this long while offline.
_SESSION_EXPIRY_S = 24 * 3600
# Events fetched from the outbox per query; a new commit interrupts the batch so an
# alarm never waits behind a backlog of telemetry.
_BATCH = 50
# The MQTT version that last worked with `mqtt.protocol = "auto"`, per broker, in the
# data directory: a restarted hub goes straight to it (hub.sync.protocol_plan).
PROTOCOL_FILE = "mqtt_protocol.json"
_VERSIONS = {V5: aiomqtt.ProtocolVersion.V5, V311: aiomqtt.ProtocolVersion.V311}


@dataclass
class UplinkState:
    """What `status` shows about the uplink."""

    connected: bool = False
    protocol: str = ""
    broker: str = ""  # host:port of the node connected to, or being tried
    connected_since: float | None = None  # wall-clock epoch seconds
    last_heartbeat: float | None = None
    last_error: str = ""
    published: int = 0
    # The latest connect attempts, oldest first: (MQTT version, outcome), the outcome
    # one of "connected", "refused", "closed", "no answer", "unreachable".
    attempts: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=20))
    connect_attempts: int = 0  # every attempt since start (a reconnect storm shows here)


def load_protocol_memory(data_dir: Path, broker: str, *, at_start: bool = False) -> str | None:
    """The MQTT version that last worked on `broker` ("host:port"), if it is remembered."""
    if at_start:
        # A write cut short by a power cut leaves its temp file behind; the uplink is the
        # only writer and has written nothing yet.
        for stale in data_dir.glob(f".{PROTOCOL_FILE}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
    saved = read_json(data_dir / PROTOCOL_FILE)
    if isinstance(saved, dict) and saved.get("broker") == broker:
        version = saved.get("protocol")
        return version if version in _VERSIONS else None
    return None


def save_protocol_memory(data_dir: Path, broker: str, version: str) -> None:
    """Remember that `version` worked on `broker` (atomic: a power cut keeps old or new)."""
    write_json_atomic(data_dir / PROTOCOL_FILE, {"broker": broker, "protocol": version})


def _tls_context(cfg: Config) -> ssl.SSLContext | None:
    if not cfg.mqtt.tls:
        return None
    ctx = ssl.create_default_context(cafile=cfg.mqtt.ca_file or None)
    if cfg.mqtt.cert_file:
        ctx.load_cert_chain(cfg.mqtt.cert_file, cfg.mqtt.key_file)
    return ctx


class Uplink:
    """Publishes the outbox to the broker and hands inbound acks and commands on."""

    def __init__(
        self,
        cfg: Config,
        outbox: AsyncOutbox,
        *,
        on_sent: Callable[[Event], None],
        on_ack: Callable[[Ack], None],
        on_command: Callable[[str, dict[str, Any]], None],
        status_payload: Callable[[], Awaitable[dict[str, Any]]],
        on_config: Callable[[bytes], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.topic_root)
        self.outbox = outbox
        self.on_sent = on_sent
        self.on_ack = on_ack
        self.on_command = on_command
        self.status_payload = status_payload
        self.on_config = on_config
        self.on_connected = on_connected
        # The latest config/reported payload not yet published (sent on the next connect).
        self._report: bytes | None = None
        self._reconfigure = asyncio.Event()
        self._side_tasks: set[asyncio.Task[Any]] = set()  # publish_retained's, kept alive
        self.state = UplinkState()
        self._rotation = BrokerRotation(addresses(cfg.mqtt), cfg.hub.id)
        self._patience = ConnackPatience()  # the CONNACK wait, longer while brokers are slow
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.stopping = False  # set by the owner before cancelling run()
        # Monotonic time since which there is no broker connection (None: connected).
        self._monotonic = monotonic
        self._session_began = 0.0
        self._heartbeat_acked = 0.0  # time.monotonic() of the session's last heartbeat PUBACK
        self.down_since: float | None = monotonic()

    def _make_client(
        self, version: str, connect_timeout: float, broker: BrokerAddress
    ) -> UplinkClient:
        m = self.cfg.mqtt
        protocol = _VERSIONS[version]
        will = aiomqtt.Will(
            self.topics.status,
            json.dumps({"state": "offline", "hub": self.cfg.hub.id}),
            qos=1,
            retain=True,
        )
        props = None
        kwargs: dict[str, Any] = {}
        if protocol is aiomqtt.ProtocolVersion.V5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = _SESSION_EXPIRY_S
            kwargs["clean_start"] = False
        else:
            kwargs["clean_session"] = False
        return UplinkClient(
            broker.host,
            broker.port,
            username=m.username or None,
            password=m.password or None,
            identifier=self._client_id(),
            protocol=protocol,
            will=will,
            keepalive=m.keepalive_s,
            timeout=_PUBACK_TIMEOUT_S,
            connect_timeout=connect_timeout,
            manual_ack=True,  # acked once taken: a disconnect cannot lose a centre's ack
            properties=props,
            tls_context=_tls_context(self.cfg),
            logger=_LOGGER,
            # Small alarm packets must not wait for Nagle + the broker's delayed ACK
            # (measured: 45 ms added to press -> PUBACK after an inbound ack).
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
            **kwargs,
        )

    def _client_id(self) -> str:
        return self.cfg.mqtt.client_id or f"pingan-{self.cfg.hub.id}"

    def _broker_key(self) -> str:
        # One MQTT version per cluster: every node of it runs the same broker.
        return cluster_key(addresses(self.cfg.mqtt))

    async def _load_plan(self, *, at_start: bool = False) -> ProtocolPlan:
        """The attempt plan for the configured broker, with what worked there last time."""
        remembered: str | None = None
        if self.cfg.mqtt.protocol == "auto":
            remembered = await asyncio.to_thread(
                load_protocol_memory, self.cfg.data_path, self._broker_key(), at_start=at_start
            )
        return ProtocolPlan(self.cfg.mqtt.protocol, remembered)

    async def _remember(self, version: str) -> None:
        broker = self._broker_key()
        try:
            await asyncio.to_thread(save_protocol_memory, self.cfg.data_path, broker, version)
        except OSError as exc:  # a full or read-only disk: only the next boot is slower
            _LOGGER.warning("cannot remember MQTT %s for %s: %s", version, broker, exc)

    async def run(self) -> None:
        """Stay connected forever; never raises except on cancellation."""
        await self._stay_connected()

    async def flush_marks_now(self) -> None:
        """Write every pending PUBACK mark now (when stopping). While running, the marks
        ride in the outbox's next transaction (hub/store/riders.py): a mark lost to a
        power cut only means the event is sent again (same id; the cloud de-duplicates)."""
        try:
            await self.outbox.write_riders()
        except StoreError as exc:  # a card gone bad: those events are sent once more
            _LOGGER.error("PUBACK marks not written: %s", exc)

    async def _stay_connected(self) -> None:
        pauses = self._new_pauses()
        plan = await self._load_plan(at_start=True)
        plan_for = (self._broker_key(), self.cfg.mqtt.protocol)
        while True:
            if plan_for != (self._broker_key(), self.cfg.mqtt.protocol):  # settings pushed
                plan = await self._load_plan()
                self._rotation = BrokerRotation(addresses(self.cfg.mqtt), self.cfg.hub.id)
                pauses = self._new_pauses()
                plan_for = (self._broker_key(), self.cfg.mqtt.protocol)
            broker = self._rotation.current
            self.state.broker = str(broker)
            connected = False
            for version in plan.order():
                outcome = "unreachable"
                try:
                    await self._session(plan, version, broker)
                except aiomqtt.MqttError as exc:
                    self.state.last_error = str(exc)
                    outcome = attempt_outcome(exc)
                    _LOGGER.warning(
                        "uplink (MQTT %s, %s) lost or refused: %s", version, broker, exc
                    )
                except (OSError, ssl.SSLError) as exc:
                    self.state.last_error = str(exc)
                    _LOGGER.warning("uplink cannot reach %s: %s", broker, exc)
                finally:
                    self._mark_down()
                # aiomqtt's __aexit__ can turn a cancellation into MqttError (it waits for
                # the broker's goodbye and times out): a stopped uplink must stop anyway.
                if self.stopping:
                    return
                if self.state.protocol:  # it connected: the plan now tries this version first
                    connected = True
                    self.state.protocol = ""
                    break
                self.state.attempts.append((version, outcome))
                self.state.connect_attempts += 1
                if not plan.is_probe(version):  # a probe's short wait says nothing of load
                    self._patience.attempt_ended(outcome)
            if connected:
                # The node may be gone: the next attempt goes to the next one, at a random
                # moment within mqtt.reconnect_spread_s, so that a lost node's hubs do not
                # all reach the survivors at once (issue 21: two survivors answering 1,600
                # CONNECTs late); an alarm committed or waiting ends the pause at once.
                # A session that ended soon after it began (a flap: a clone with this
                # client id, a node that drops it at once) pauses longer each time.
                self._rotation.lost()
                pause = self._spread()
                lasted = self._monotonic() - self._session_began
                if not pauses.session_ended(lasted):
                    pause = max(pause, pauses.next())
                    _LOGGER.warning(
                        "uplink session on %s ended after %.1f s (%d short sessions in a row;"
                        " another hub with client id %s?): next attempt in %.1f s",
                        broker,
                        lasted,
                        pauses.flaps,
                        self._client_id(),
                        pause,
                    )
                await self._back_off(pause)
            elif self._rotation.failed():
                self._patience.round_failed()  # every node too slow: wait longer next round
                await self._back_off(pauses.next())  # every node failed once: back off

    def _spread(self) -> float:
        m = self.cfg.mqtt
        return random.uniform(m.reconnect_min_s, max(m.reconnect_min_s, m.reconnect_spread_s))

    async def _back_off(self, seconds: float) -> None:
        """Wait before the next attempt. New broker settings (a fleet push, a rollback) end
        the wait at once instead of after up to mqtt.reconnect_max_s, and so does an alarm
        committed since the last connect (perhaps unsent): an SOS raised while the hub
        backs off must not wait out a 30 s pause, longer than the centre's 25 s to answer
        it. The alarm's wake-up is used up by the attempt it starts, so a hub with an alarm
        and no broker still pauses between rounds instead of spinning."""
        events = [self._reconfigure, self.outbox.alarm_committed]
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            # that races the event, and a stopping hub must stop.
            async with asyncio.timeout(seconds):
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            return
        finally:
            for wait in waits:
                wait.cancel()
        if self._reconfigure.is_set():
            self._reconfigure.clear()  # consumed: the next attempt uses the new settings
        self.outbox.alarm_committed.clear()  # this attempt carries it (sent once connected)

    def _new_pauses(self) -> Pauses:
        m = self.cfg.mqtt
        return Pauses(m.reconnect_min_s, m.reconnect_max_s, random.Random())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _mark_down(self) -> None:
        if self.state.connected or self.down_since is None:
            self.down_since = self._monotonic()
        self.state.connected = False
        self._client = None
        self.connected.clear()

    async def _session(self, plan: ProtocolPlan, version: str, broker: BrokerAddress) -> None:
        timeout = plan.connect_timeout(version, self._patience.seconds)
        async with self._make_client(version, timeout, broker) as client:
            self._client = client
            self.state.connected = True
            self.down_since = None
            self._session_began = self._monotonic()
            # Real time, as the heartbeat's own asyncio.sleep (not the hub's clock).
            self._heartbeat_acked = time.monotonic()
            self.state.protocol = version
            self.outbox.alarm_committed.clear()  # what was committed before is sent now
            self.state.attempts.append((version, "connected"))
            self.state.connect_attempts += 1
            self._rotation.connected()
            self._patience.connected()
            if plan.worked(version):
                self._spawn(self._remember(version))
            self.state.connected_since = time.time()
            self.state.last_error = ""
            _LOGGER.info("uplink connected to %s (MQTT %s)", broker, self.state.protocol)
            # The session ends when its first task ends or fails (a lost connection fails
            # whichever task noticed first; a bug propagates to the supervisor). Not a
            # TaskGroup: its exit waits for ever on a task that missed its cancellation,
            # and the session would hang open with its heartbeat and intake stopped.
            await first_to_end(
                # First, so its SUBSCRIBE for acks leaves before any event (tasks start
                # in order; paho sends packets in the order they are made).
                self._come_online(client),
                self._drain_outbox(client),
                self._receive(client),
                self._watch_reconfigure(),
                self._watch_heartbeats(),
            )

    async def _come_online(self, client: aiomqtt.Client) -> None:
        """Subscribe, say online, then heartbeat; the outbox drains meanwhile."""
        await client.subscribe(self.topics.ack, qos=1)
        await client.subscribe(self.topics.cmd_filter, qos=1)
        await client.subscribe(self.topics.config_desired, qos=1)
        await self._publish_status(client)
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected()
        await self._publish_report(client)
        await self._heartbeat(client)

    async def _watch_heartbeats(self) -> None:
        """End the session when its heartbeats stop being PUBACKed, whatever holds them up.

        Each publish has its own PUBACK timeout, but a heartbeat that is never published
        (a wait before it that never ends) or a session whose other half has stopped is
        caught by nothing else; a new session starts everything afresh."""
        limit = _SILENT_SESSION_HEARTBEATS * self.cfg.mqtt.heartbeat_s
        while True:
            silent = time.monotonic() - self._heartbeat_acked
            if silent >= limit:
                _LOGGER.error(
                    "uplink: no heartbeat PUBACKed for %.0f s on %s: reconnecting",
                    silent,
                    self.state.broker,
                )
                raise aiomqtt.MqttError(f"no heartbeat PUBACKed for {silent:.0f} s")
            await asyncio.sleep(limit - silent)

    async def _watch_reconfigure(self) -> None:
        self._reconfigure.clear()
        await self._reconfigure.wait()
        raise aiomqtt.MqttError("broker settings changed: reconnecting")

    def reconfigure(self, cfg: Config) -> None:
        """Use new settings; reconnect now when the [mqtt] section changed."""
        changed = cfg.mqtt != self.cfg.mqtt or cfg.topic_root != self.cfg.topic_root
        self.cfg = cfg
        self.topics = Topics(cfg.topic_root)
        if changed:
            self._reconfigure.set()

    def report(self, payload: bytes) -> None:
        """Publish a config/reported payload (retained) now, or on the next connect."""
        self._report = payload
        client = self._client
        if client is not None and self.state.connected:
            task = asyncio.get_running_loop().create_task(self._publish_report(client))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        """Publish a retained QoS 1 message now; False when offline (republish on connect)."""
        client = self._client
        if client is None or not self.state.connected:
            return False
        task = asyncio.get_running_loop().create_task(
            client.publish(topic, payload, qos=1, retain=True)
        )
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return True

    async def _publish_report(self, client: aiomqtt.Client) -> None:
        payload = self._report
        if payload is None:
            return
        await client.publish(self.topics.config_reported, payload, qos=1, retain=True)
        if self._report is payload:
            self._report = None

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        payload = {"state": "online", "hub": self.cfg.hub.id, **await self.status_payload()}
        await client.publish(
            self.topics.status, json.dumps(payload, ensure_ascii=False), qos=1, retain=True
        )
        self.state.last_heartbeat = time.time()
        self._heartbeat_acked = time.monotonic()

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.cfg.mqtt.heartbeat_s)
            await self._publish_status(client)

    async def _drain_outbox(self, client: aiomqtt.Client) -> None:
        """Publish unsent events in priority order until cancelled.

        After a query that returned the whole backlog, every unsent event is one
        committed since: those are published straight from memory (no SD-card read
        on the alarm's path). Otherwise, and after every reconnect, the database is read.
        """
        changed = self.outbox.changed
        drained_to: int | None = None  # all unsent events up to this seq are published
        while True:
            changed.clear()
            fresh, overflowed = self.outbox.take_fresh()
            if drained_to is not None and not overflowed:
                batch = sorted(
                    (e for e in fresh if e.seq > drained_to), key=lambda e: (e.priority, e.seq)
                )
                complete = True
            else:
                # Events the broker already has are left out by the outbox, however many.
                batch, last_seq = await self.outbox.pending_upto(_BATCH)
                complete = len(batch) < _BATCH
                drained_to = last_seq if complete else None
            if not batch:
                await changed.wait()
                continue
            for i, event in enumerate(batch):
                await client.publish(self.topics.event(event.kind), event.to_json(), qos=1)
                self.outbox.published([event], datetime.now(UTC))
                self.state.published += 1
                if drained_to is not None:
                    drained_to = max(drained_to, event.seq)
                self.on_sent(event)
                if changed.is_set() and i < len(batch) - 1:
                    # Something new (maybe an alarm) was committed: re-plan; the rest of
                    # this batch is still in the database.
                    drained_to = None
                    break
            if not complete:
                drained_to = None

    async def _receive(self, client: UplinkClient) -> None:
        async for message in client.messages:
            try:
                self._take(message)
            finally:
                # Taken (handled, or refused with a log line): the broker may forget it.
                # Messages still queued when the session ends are not acked, so the
                # broker sends them again on the next connection (tests/test_uplink_acks).
                client.ack(message)

    def _take(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = (
            message.payload
            if isinstance(message.payload, bytes)
            else str(message.payload or "").encode()
        )
        if topic == self.topics.config_desired:
            # Envelopes have their own (larger) size limit and parser: hub.sync.ota.
            if self.on_config is not None:
                self.on_config(payload)
            return
        try:
            if topic == self.topics.ack:
                self.on_ack(parse_ack(payload))
            elif (name := self.topics.command_name(topic)) is not None:
                if message.retain:
                    # Commands are instructions, not state: a retained one would be
                    # obeyed again at every reconnect and restart.
                    _LOGGER.warning("retained command %r ignored", name[:100])
                    return
                self.on_command(name, parse_command(payload))
            else:
                _LOGGER.warning("message on unexpected topic %r ignored", topic[:200])
        except DecodeError as exc:
            _LOGGER.warning("bad payload on %r ignored: %s", topic[:200], exc)

    async def round_trip(self) -> float | None:
        """Seconds for one QoS 1 publish to be PUBACKed (the retained status, republished);
        None when offline or the broker does not answer in time."""
        client = self._client
        if client is None or not self.state.connected:
            return None
        payload = {"state": "online", "hub": self.cfg.hub.id, **await self.status_payload()}
        body = json.dumps(payload, ensure_ascii=False)
        start = time.perf_counter()
        try:
            await client.publish(self.topics.status, body, qos=1, retain=True)
        except aiomqtt.MqttError as exc:
            _LOGGER.warning("broker round trip failed: %s", exc)
            return None
        self.state.last_heartbeat = time.time()
        return time.perf_counter() - start

    def published_at(self, event_id: str) -> datetime | None:
        """When the broker acknowledged an event whose mark is not on disk yet."""
        return self.outbox.published_at(event_id)

    async def resend(self, event: Event) -> bool:
        """Publish an already-sent alarm again; False when offline (the caller retries)."""
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(self.topics.event(event.kind), event.to_json(), qos=1)
        except aiomqtt.MqttError as exc:
            _LOGGER.warning("resend of %s failed: %s", event.id, exc)
            return False
        return True

"""The uplink's aiomqtt client: a CONNECT that gets no CONNACK fails at once, in our words.

aiomqtt 2.5 (and its main branch as of 2026-11) learns the outcome of a CONNECT only
from paho's `on_connect`, i.e. from a CONNACK. When the broker closes the connection
before sending one (RabbitMQ 3.10 does so on an MQTT 5 CONNECT), paho does report it,
through `on_disconnect` with "connection lost", but aiomqtt's `Client._on_disconnect`
drops every disconnect that comes before CONNACK (to avoid an exception nobody
retrieves), so `__aenter__` sits out its whole timeout. And when it times out, the
socket stays open until paho's keepalive check closes it, so a broker that was merely
slow could still accept the abandoned CONNECT and take the session (same client id)
away from the next attempt's connection.

`UplinkClient` handles both at the boundary, without patching aiomqtt: a subclass that
gives the CONNECT its own timeout, turns a disconnect while `__aenter__` waits for the
CONNACK into `ClosedBeforeConnack`, a timeout into `NoConnack`, and closes the abandoned
socket at once (also when the wait is cancelled); its waits keep a cancellation (aiomqtt
waits with 3.11's `asyncio.wait_for`, hub/timeouts.py); it registers paho's socket with
the loop only while paho still owns it, and reads the disconnection future aiomqtt would
leave unread (tests/test_mqtt_sockets.py). It relies on aiomqtt 2.x's private
`_on_disconnect`, `_on_socket_open`, `_on_socket_register_write`, `_misc_loop`,
`_connected`, `_disconnected`, `_wait_for`, `_loop` and `_client`, and paho 2.x's
`_sock_close` (pyproject pins aiomqtt < 3); the hub's tests against a broker that
closes (hub.sim.proxy `close_mqtt5`), one that never answers (amqtt) and one that
answers late (tests/test_broker_list.py, counting the open connections), and
tests/test_timeouts.py, fail if it stops working. The fleet tools and the
simulated centre use it too (hub.fleet.broker, hub.sim.centre).
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.sync.protocol_plan import NO_ANSWER, UNREACHABLE
from hub.timeouts import wait_within

T = TypeVar("T")


class ClosedBeforeConnack(aiomqtt.MqttError):
    """The broker closed the connection instead of answering the CONNECT."""


class NoConnack(aiomqtt.MqttError):
    """The broker accepted the connection but sent no CONNACK in time."""


class UplinkClient(aiomqtt.Client):
    """aiomqtt.Client whose CONNECT fails fast and clearly when no CONNACK comes.

    `connect_timeout` bounds the wait for the CONNACK only (TCP and TLS are set up
    before it); `timeout` stays the default for every later call (PUBACK, SUBACK).
    """

    def __init__(
        self, *args: Any, connect_timeout: float, manual_ack: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.connect_timeout = connect_timeout
        self._awaiting_connack = False
        # paho PUBACKs a QoS 1 message as soon as aiomqtt has queued it, and aiomqtt drops
        # its queue when the connection ends: a message acked but not yet taken by the
        # application is lost (a centre's ack, a command, a config envelope). With
        # manual_ack the caller acks each message once it has taken it (`ack`); what is
        # still queued at a disconnect is sent again by the broker when the persistent
        # session resumes.
        self.manual_ack = manual_ack
        if manual_ack:
            self._client.manual_ack_set(True)

    async def _wait_for(self, fut: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109
        # aiomqtt waits for every CONNACK, PUBACK and SUBACK here with asyncio.wait_for,
        # which on Python 3.11 loses a cancellation that comes in the same loop turn as
        # the PUBACK (hub/timeouts.py): the session's task would go on after its
        # TaskGroup was told to stop, and the session would hang open.
        if timeout is None:
            timeout = self.timeout
        try:
            return await wait_within(fut, None if timeout == math.inf else timeout)
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None

    def ack(self, message: aiomqtt.Message) -> None:
        """Acknowledge a message the application has taken (with manual_ack; QoS 1/2)."""
        if self.manual_ack and message.qos > 0:
            self._client.ack(message.mid, message.qos)

    async def __aenter__(self) -> Self:
        call_timeout = self.timeout
        self.timeout = self.connect_timeout  # aiomqtt waits for the CONNACK this long
        self._awaiting_connack = True
        try:
            return await super().__aenter__()
        except (ClosedBeforeConnack, aiomqtt.MqttCodeError):
            raise  # closed, or a CONNACK that refused: already said
        except aiomqtt.MqttError as exc:
            if self._client.socket() is None:
                raise  # TCP/TLS failed before any CONNECT was sent: aiomqtt's words
            self._abandon()
            raise NoConnack(f"no CONNACK within {self.connect_timeout:g} s") from exc
        except BaseException:  # cancelled while waiting (a stopping tool): same socket
            self._abandon()
            raise
        finally:
            self._awaiting_connack = False
            self.timeout = call_timeout

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            # aiomqtt keeps an unexpected disconnection in a future that only message
            # iteration and the next publish read. A client that was only publishing
            # (`fleet push`, the centre's acks) learns of it from its own timeout or
            # error; unread, the future prints "Future exception was never retrieved"
            # and a traceback when collected, once per lost connection.
            if self._disconnected.done() and not self._disconnected.cancelled():
                self._disconnected.exception()

    def _abandon(self) -> None:
        """Close the socket of an attempt given up before its CONNACK, now.

        Left to paho, it stays open until paho's keepalive check (60 s), and a broker that
        answers late then completes the session on it: a connection nobody uses, holding
        a descriptor on both sides, and for a fixed client id one that takes the session
        from the next attempt's connection. The FIN tells the broker at once.
        """
        sock = self._client.socket()
        if isinstance(sock, socket.socket):  # TCP or TLS (paho also has websockets)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # paho's own close: it unregisters the socket from aiomqtt's reader and stops
        # aiomqtt's misc loop (on_socket_close) before closing the descriptor.
        self._client._sock_close()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        if self._awaiting_connack and not self._connected.done():
            # __aenter__ awaits this future: it raises at once instead of timing out.
            self._connected.set_exception(
                ClosedBeforeConnack(f"connection closed before CONNACK ({reason_code})")
            )
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    # aiomqtt hands paho's socket to the loop with call_soon_threadsafe(add_reader or
    # add_writer, sock.fileno(), ...): the number is read when paho asks, the socket is
    # registered a loop turn later. A connection that ends in between (a broker node
    # killed: the read fails in the same turn as a publish asks to write) is closed by
    # then, and the loop registers its old number: EBADF, or EPERM on a SQLite journal
    # that got the number, or worse another socket that did (the next uplink
    # connection, BlueZ's D-Bus): its reader or writer replaced by this dead client's.
    # Both are registered only if the socket is still paho's and still open.

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()

        def read() -> None:
            try:
                while True:
                    client.loop_read()
                    # An SSL socket can hold decoded bytes select() does not see.
                    pending = getattr(client.socket(), "pending", None)
                    if pending is None or pending() == 0:
                        break
            except Exception as exc:  # a broken connection: the session ends
                self._lost(exc)

        def register() -> None:
            if self._still_open(sock, fd):
                self._loop.add_reader(fd, read)
                self._misc_task = self._loop.create_task(self._misc_loop())

        self._loop.call_soon_threadsafe(register)

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()

        def write() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # a broken connection: the session ends
                self._lost(exc)

        def register() -> None:
            if self._still_open(sock, fd):
                self._loop.add_writer(fd, write)

        self._loop.call_soon_threadsafe(register)

    def _still_open(self, sock: Any, fd: int) -> bool:
        return fd >= 0 and sock.fileno() == fd and self._client.socket() is sock

    def _lost(self, exc: Exception) -> None:
        if not self._disconnected.done():
            self._disconnected.set_exception(exc)


def attempt_outcome(exc: BaseException) -> str:
    """How a connect attempt ended, in UplinkState.attempts' words."""
    if isinstance(exc, ClosedBeforeConnack):
        return "closed"
    if isinstance(exc, NoConnack):
        return NO_ANSWER
    if isinstance(exc, MqttConnectError):
        return "refused"
    return UNREACHABLE

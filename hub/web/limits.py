"""Hard limits on the pages' connections, well inside the hub's file-descriptor budget.

Every connection to the pages holds a file descriptor, and the hub's descriptors are
shared with the alarm path: the database, the uplink's socket (a new one at each
reconnect), the modem, espeak-ng and aplay's pipes, the watchdog's datagram. About 1,000
idle connections to the pages once used all 1,024 of them: the uplink could not
reconnect after a blip, the family's SMS failed, prompts failed, the watchdog went
unpinged, and the log grew by an accept() traceback per attempt. No PIN was needed.

So the pages accept connections themselves (aiohttp then serves each one) within:

- MAX_CONNECTIONS at once (and never more than an eighth of RLIMIT_NOFILE): at the cap the
  hub stops accepting, and new connections wait in the kernel's listen queue (which
  costs the hub no descriptor) until one closes;
- MAX_PER_ADDRESS from one LAN address (more are closed at once), so one device cannot
  take every slot from the installer's phone;
- HEAD_TIMEOUT_S for the request line and headers, counted from the connection, however
  slowly they trickle in (a half-open request is dropped, not kept for ever);
- REQUEST_TIMEOUT_S for the whole of a request that is not a live page (its body has its
  own BODY_TIMEOUT_S, answered with a 408 by the server); live pages (server-sent
  events) are capped in number by the server instead;
- one request per connection (the server answers with Connection: close), so these
  deadlines cover a connection's whole life.

accept() failing for want of descriptors (which these limits leave to something else)
pauses accepting for ACCEPT_RETRY_S and is logged once per outage, not per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOGGER = logging.getLogger(__name__)

# A phone opens up to 6 connections at once to one host (browsers' per-host limit) plus
# up to 4 live pages per session; 16 per address leaves room for two phones behind one
# address, and 64 in all for a family and an installer at once.
MAX_CONNECTIONS = 64
MAX_PER_ADDRESS = 16
# The pages never take more than this share of the process's descriptors: the rest is
# the alarm path's (README, "Resource limits").
FD_SHARE = 8
# A phone on the LAN sends its request line and headers within milliseconds; 10 s is
# generous for a weak Wi-Fi link and short enough that a slow trickle holds nothing long.
HEAD_TIMEOUT_S = 10.0
# A form's body (at most 16 KiB) arrives within the same margin.
BODY_TIMEOUT_S = 10.0
# The slowest page (the signal survey: 5 s for the broker's round trip, the modem's
# AT+CSQ) answers within seconds; a request still open after this is dropped.
REQUEST_TIMEOUT_S = 30.0
# After accept() fails for want of descriptors or memory, the next try waits this long.
ACCEPT_RETRY_S = 1.0
# Connections accepted per wake-up of the listening socket (others wait their turn).
_ACCEPT_BATCH = 16
# What marks the end of a request's head (a bare-LF client's too: aiohttp accepts it).
_HEAD_ENDS = (b"\r\n\r\n", b"\n\n")
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def connection_cap(nofile: int, maximum: int = MAX_CONNECTIONS) -> int:
    """How many page connections a process allowed `nofile` descriptors may hold."""
    return max(1, min(maximum, nofile // FD_SHARE))


def descriptor_limit() -> int:
    """The process's soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass
class ConnectionLimits:
    """Pure book of open connections: in all and per address."""

    max_total: int = MAX_CONNECTIONS
    max_per_address: int = MAX_PER_ADDRESS
    by_address: Counter[str] = field(default_factory=Counter)
    total: int = 0

    @property
    def full(self) -> bool:
        """No connection may be accepted now."""
        return self.total >= self.max_total

    def admit(self, address: str) -> bool:
        """Count a new connection from `address`; False (nothing counted) when it would
        pass a limit."""
        if self.full or self.by_address[address] >= self.max_per_address:
            return False
        self.by_address[address] += 1
        self.total += 1
        return True

    def release(self, address: str) -> None:
        """A connection from `address` closed."""
        self.total -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


class _Guarded(asyncio.Protocol):
    """One accepted connection: passes everything to the server's protocol, and closes
    the connection when its head or its request takes too long."""

    def __init__(self, listener: GuardedListener, inner: Any, address: str) -> None:
        self.listener = listener
        self.inner = inner
        self.address = address
        self.transport: asyncio.Transport | None = None
        self._head_seen = False
        self._tail = b""
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.listener.opened(self)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.listener.head_timeout_s, self._too_slow, "head")
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._head_seen:
            seen = self._tail + data
            if any(end in seen for end in _HEAD_ENDS):
                self._head_seen = True
                self._tail = b""
                self._rearm(self.listener.request_timeout_s, "request")
            else:
                self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.listener.closed(self)
        self.inner.connection_lost(exc)

    def long_lived(self) -> None:
        """A live page: no request deadline (their number is capped by the server)."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _rearm(self, seconds: float, what: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._too_slow, what)

    def _too_slow(self, what: str) -> None:
        self._deadline = None
        self.listener.timed_out[what] += 1
        if self.transport is not None:
            self.transport.abort()


class GuardedListener:
    """Accepts connections on a listening socket for `factory` (aiohttp's server) within
    ConnectionLimits, with the head and request deadlines of _Guarded."""

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], Any],
        *,
        limits: ConnectionLimits | None = None,
        head_timeout_s: float | None = None,
        request_timeout_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Deadlines default to HEAD_TIMEOUT_S and REQUEST_TIMEOUT_S."""
        self.sock = sock
        self.factory = factory
        self.limits = limits or ConnectionLimits()
        self.head_timeout_s = HEAD_TIMEOUT_S if head_timeout_s is None else head_timeout_s
        self.request_timeout_s = (
            REQUEST_TIMEOUT_S if request_timeout_s is None else request_timeout_s
        )
        self._monotonic = monotonic
        self._open: dict[asyncio.BaseTransport, _Guarded] = {}
        self._capped: set[str] = set()  # addresses told of (logged) at their limit
        self._pending: set[asyncio.Task[Any]] = set()
        self._reading = False
        self._retry: asyncio.TimerHandle | None = None
        self._stopped = False
        self._starved_since: float | None = None  # accept() out of descriptors since
        self.refused: Counter[str] = Counter()  # why connections were closed at once
        self.timed_out: Counter[str] = Counter()  # head / request deadlines passed

    def start(self) -> None:
        """Accept connections from now on."""
        self._resume()

    async def stop(self) -> None:
        """Stop accepting (closing the listening socket) and close every connection."""
        self._stopped = True
        self._pause()
        self.sock.close()
        if self._retry is not None:
            self._retry.cancel()
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        for guarded in list(self._open.values()):
            if guarded.transport is not None:
                guarded.transport.abort()

    def long_lived(self, transport: asyncio.BaseTransport | None) -> None:
        """Exempt a connection (a live page) from the request deadline."""
        guarded = self._open.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.long_lived()

    @property
    def open_connections(self) -> int:
        """Connections held now (accepted and not yet closed)."""
        return self.limits.total

    # -- accepting ------------------------------------------------------------------

    def _resume(self) -> None:
        if not self._reading and not self._stopped:
            asyncio.get_running_loop().add_reader(self.sock.fileno(), self._accept)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._reading = False

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            if self.limits.full:
                # New connections wait in the listen queue (no descriptor of ours) until
                # one of ours closes.
                self._pause()
                return
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                self._starved(exc)
                return
            self._starved_ended()
            address = str(peer[0]) if isinstance(peer, tuple) else "?"
            if not self.limits.admit(address):
                self.refused["per_address"] += 1
                if address not in self._capped:  # once while it stays at its limit
                    self._capped.add(address)
                    _LOGGER.warning(
                        "pages: %s has %d connections open, the most one address may "
                        "have; more from it are closed at once",
                        address,
                        self.limits.max_per_address,
                    )
                _reset(conn)
                continue
            conn.setblocking(False)
            task = asyncio.get_running_loop().create_task(self._connect(conn, address))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _connect(self, conn: socket.socket, address: str) -> None:
        made: list[_Guarded] = []

        def protocol() -> _Guarded:
            made.append(_Guarded(self, self.factory(), address))
            return made[0]

        try:
            await asyncio.get_running_loop().connect_accepted_socket(protocol, conn)
        except BaseException:
            if not made or made[0].transport is None:  # else connection_lost releases it
                self.limits.release(address)
                conn.close()
                self._resume()
            raise

    def _starved(self, exc: OSError) -> None:
        """accept() found no descriptor (or memory): wait, say so once per outage."""
        if self._starved_since is None:
            self._starved_since = self._monotonic()
            _LOGGER.error(
                "pages: cannot accept a connection (%s); retrying every %.0f s "
                "(%d page connections open)",
                exc.strerror,
                ACCEPT_RETRY_S,
                self.limits.total,
            )
        self._pause()
        self._retry = asyncio.get_running_loop().call_later(ACCEPT_RETRY_S, self._resume)

    def _starved_ended(self) -> None:
        if self._starved_since is not None:
            _LOGGER.warning(
                "pages: accepting connections again after %.0f s",
                self._monotonic() - self._starved_since,
            )
            self._starved_since = None

    # -- what _Guarded tells us -----------------------------------------------------

    def opened(self, guarded: _Guarded) -> None:
        assert guarded.transport is not None
        self._open[guarded.transport] = guarded

    def closed(self, guarded: _Guarded) -> None:
        if guarded.transport is not None and self._open.pop(guarded.transport, None) is not None:
            self.limits.release(guarded.address)
            self._capped.discard(guarded.address)
            self._resume()


def _reset(conn: socket.socket) -> None:
    """Close at once with a reset: no FIN_WAIT state kept for a connection we refuse."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()

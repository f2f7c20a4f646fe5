"""Which broker of a cluster to connect to next (pure logic: no sockets, no clock).

A city's alarm service runs its broker as a cluster of nodes; the hub is given their
addresses (`mqtt.brokers`) and rotates through them. Each hub walks the list in its own
order, a permutation seeded by its hub id: the fleet's first choices spread evenly over
the nodes, and when a node dies the hubs it held spread evenly over the survivors
instead of all landing on the next node in the list. The order is stable across
restarts (same id, same list, same order), so a hub goes back to where it was.

Why a list and not one DNS name with several addresses: a list carries ports (a node
per port on one machine, or a cluster behind different NAT ports), is validated once
with the rest of the config, fails over in milliseconds on a refused connection without
depending on the resolver's ordering or caching (glibc sorts A records by RFC 6724 rules,
which defeats round-robin), and is testable on one machine. A name in the list that
resolves to several addresses still works: the socket layer tries each in turn.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Final, Protocol


class BrokerOptions(Protocol):
    """The [mqtt] options read here (hub.config.MqttSection has them; hub.config imports
    this module for its checks, so this one names what it reads instead of importing it)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def brokers(self) -> tuple[str, ...]: ...


_HOST_PORT: Final = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+))(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class BrokerAddress:
    """One broker node: host name or address, and TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_broker(text: str, default_port: int) -> BrokerAddress:
    """`host`, `host:port` or `[v6 address]:port`; ValueError saying what is wrong."""
    match = _HOST_PORT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not host:port")
    host = match.group("v6") or match.group("host")
    port = int(match.group("port")) if match.group("port") else default_port
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is out of range 1 to 65535")
    return BrokerAddress(host, port)


def addresses(mqtt: BrokerOptions) -> tuple[BrokerAddress, ...]:
    """The configured brokers: `mqtt.brokers`, or the one `mqtt.host`:`mqtt.port`."""
    if not mqtt.brokers:
        return (BrokerAddress(mqtt.host, mqtt.port),)
    return tuple(dict.fromkeys(parse_broker(entry, mqtt.port) for entry in mqtt.brokers))


def cluster_key(brokers: tuple[BrokerAddress, ...]) -> str:
    """One name for a set of brokers (`host:port` for one; sorted and joined for a cluster)."""
    return ",".join(sorted(str(b) for b in brokers))


def hub_order(brokers: tuple[BrokerAddress, ...], hub_id: str) -> list[BrokerAddress]:
    """The brokers in this hub's own order (a permutation seeded by the hub id)."""
    # sha256, not hash(): Python salts str hashes per process, and the order must
    # survive a restart.
    seed = int.from_bytes(hashlib.sha256(hub_id.encode()).digest()[:8], "big")
    # Sorted first: the same nodes written in another order give each hub the same order.
    order = sorted(set(brokers), key=str)
    random.Random(seed).shuffle(order)
    return order


class BrokerRotation:
    """Where the next connect attempt goes, and when a whole round has failed.

    `current` is the broker to try. After a failed attempt, `failed()` moves on and says
    whether every broker has now failed once since the last success (then the caller
    backs off before the next round). After an established session is lost, `lost()`
    moves on too: the node may be gone, and any node serves the same cluster.
    """

    def __init__(self, brokers: tuple[BrokerAddress, ...], hub_id: str) -> None:
        if not brokers:
            raise ValueError("at least one broker")
        self.order = hub_order(brokers, hub_id)
        self._index = 0
        self._failures_in_round = 0

    @classmethod
    def in_order(cls, order: list[BrokerAddress]) -> BrokerRotation:
        """A rotation through `order` as given (the admin tools, the centre's consumers)."""
        rotation = cls(tuple(order), "")
        rotation.order = list(order)
        return rotation

    @property
    def current(self) -> BrokerAddress:
        """The broker the next attempt goes to."""
        return self.order[self._index]

    def _advance(self) -> None:
        self._index = (self._index + 1) % len(self.order)

    def failed(self) -> bool:
        """An attempt on `current` failed: move on; True when the whole round has failed."""
        self._failures_in_round += 1
        self._advance()
        if self._failures_in_round >= len(self.order):
            self._failures_in_round = 0
            return True
        return False

    def connected(self) -> None:
        """An attempt on `current` connected: the round starts afresh."""
        self._failures_in_round = 0

    def lost(self) -> None:
        """The session on `current` ended after it had connected: try the next one first."""
        self._failures_in_round = 0
        self._advance()


def check_brokers(mqtt: BrokerOptions, default_host: str) -> list[str]:
    """Problems with mqtt.brokers: each entry a host:port, and no host of its own beside."""
    if not mqtt.brokers:
        return []
    problems = []
    if mqtt.host != default_host:
        problems.append(
            "mqtt.host: not used when mqtt.brokers is given; put every node in mqtt.brokers"
        )
    for entry in mqtt.brokers:
        try:
            parse_broker(entry, mqtt.port)
        except ValueError as exc:
            problems.append(f"mqtt.brokers: {exc}; give host:port, e.g. 'mq1.gz.example:8883'")
    return problems

"""Which MQTT version to try next, and how long to wait for its CONNACK (pure logic).

`mqtt.protocol = "auto"` means: MQTT 5 if the broker speaks it, else 3.1.1. Brokers
that speak only 3.1.1 do not all refuse an MQTT 5 CONNECT as the spec asks (CONNACK
0x01): RabbitMQ 3.10 closes the connection, amqtt 0.12 never answers. So an MQTT 5
attempt that is only a probe (this broker has never accepted MQTT 5 from this hub)
waits for its CONNACK a short while; the version that worked is remembered across
restarts (the uplink keeps it in the data directory) and tried first, and the plan
keeps alternating should it stop working.
"""

from __future__ import annotations

from dataclasses import dataclass, field

V5 = "5"
V311 = "3.1.1"

# CONNACK wait of every attempt that is not an MQTT 5 probe: paho/aiomqtt's long-standing
# default, which also bounds how long a broker overloaded after an outage may take.
CONNECT_TIMEOUT_S = 10.0
# CONNACK wait of an MQTT 5 probe. The clock starts after TCP and TLS are up, so it
# covers one round trip plus the broker's authentication: milliseconds on a LAN, 50-
# 150 ms on 4G, up to ~1 s on a congested 2G/EDGE link. 3 s is three such worst round
# trips; a broker silent that long is not going to answer a CONNECT it does not parse,
# and the hub moves on to 3.1.1 (10 s) instead of leaving an alarm waiting 10 s.
PROBE_TIMEOUT_S = 3.0
# The longest CONNACK wait once, round after round, every broker that accepted the hub's
# connection answered too late (see ConnackPatience).
CONNECT_TIMEOUT_MAX_S = 60.0
NO_ANSWER = "no answer"  # an attempt's outcome: TCP (and TLS) up, no CONNACK in time
# An attempt's outcome: no TCP (or TLS) connection at all, e.g. a dead node's refused port.
UNREACHABLE = "unreachable"


@dataclass
class ProtocolPlan:
    """Order and CONNACK timeouts of connect attempts for one broker and one setting."""

    choice: str  # "auto", "5" or "3.1.1" (mqtt.protocol)
    remembered: str | None = None  # the version that last worked on this broker
    proven: set[str] = field(default_factory=set)  # versions this broker has accepted

    def __post_init__(self) -> None:
        if self.remembered in (V5, V311):
            self.proven.add(self.remembered)
        else:
            self.remembered = None

    def order(self) -> list[str]:
        """Versions to try, one after the other, before backing off."""
        if self.choice in (V5, V311):
            return [self.choice]
        if self.remembered == V311:
            return [V311, V5]
        return [V5, V311]

    def connect_timeout(self, version: str, patience: float | None = None) -> float:
        """Seconds to wait for the CONNACK of an attempt with `version`; `patience` is the
        wait of an attempt that is not a probe (ConnackPatience.seconds), by default 10 s."""
        if self.is_probe(version):
            return PROBE_TIMEOUT_S
        return CONNECT_TIMEOUT_S if patience is None else patience

    def is_probe(self, version: str) -> bool:
        """An MQTT 5 attempt on a broker not known to speak it (a short wait)."""
        return self.choice == "auto" and version == V5 and V5 not in self.proven

    def worked(self, version: str) -> bool:
        """Record a connection with `version`; True when it is news worth saving."""
        self.proven.add(version)
        news = self.choice == "auto" and self.remembered != version
        self.remembered = version
        return news


@dataclass
class ConnackPatience:
    """How long to wait for a CONNACK: longer after a round in which every live broker was slow.

    A broker that accepts the connection and answers the CONNECT late is overloaded, most
    often by the reconnects of a lost node's hubs. A hub that gives up after 10 s and tries
    again leaves the broker a half-made session to finish and then a new one to start: in
    the city-scale bench (bench/README.md, issue 21) the survivors of a node kill, on too
    little CPU, ended with 12,500 abandoned sockets and out of file descriptors while every
    hub kept retrying. So when a whole round of attempts (every broker once) ended with no
    CONNACK in time, the next round waits twice as long, up to 60 s, and a connection
    brings the wait back to 10 s. One slow node among answering ones changes nothing (the
    hub moves on to the next node, as before). A dead node (connection refused or
    unreachable) is left at once and counts neither way: after a node kill every round
    holds the dead node, and the survivors being slow is exactly the case to wait for
    (counting the dead node as "not slow" kept every client at 10 s in the 5,000-hub
    bench). A node that answers, even with a refusal or by closing, is not slow. An alarm
    is not held by this: it is escalated locally on its own clock whether or not the
    uplink is up.
    """

    base: float = field(default_factory=lambda: CONNECT_TIMEOUT_S)
    seconds: float = 0.0
    _slow: int = 0  # attempts of this round that got no CONNACK in time
    _answered: bool = False  # an attempt of this round got an answer (or a close)

    def __post_init__(self) -> None:
        self.seconds = self.seconds or self.base

    def attempt_ended(self, outcome: str) -> None:
        """An attempt failed with `outcome` (UplinkState.attempts' words)."""
        if outcome == NO_ANSWER:
            self._slow += 1
        elif outcome != UNREACHABLE:
            self._answered = True

    def round_failed(self) -> None:
        """Every broker has been tried once since the last connection, and none connected."""
        if self._slow and not self._answered:
            self.seconds = min(CONNECT_TIMEOUT_MAX_S, self.seconds * 2)
        self._slow, self._answered = 0, False

    def connected(self) -> None:
        """A CONNACK came: the usual wait again."""
        self.seconds = self.base
        self._slow, self._answered = 0, False

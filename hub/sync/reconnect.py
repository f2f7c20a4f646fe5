"""How a client of a broker cluster retries (pure logic: no sockets, no clock).

One discipline for every long-lived client of the cluster: the hub's uplink (which
drives BrokerRotation and ConnackPatience itself, between MQTT versions), and the
admin's `fleet push` and `fleet watch` and the simulated centre's consumers (through
`Reconnect` below). After a node dies, its clients all come back at once to the
survivors; a client that gives up on a slow CONNECT after a fixed 10 s and at once tries
again leaves the broker a half-made session per try. In the city-scale bench
(bench/README.md, issue 21) the admin tools and the centre did that over and over after
a node kill until a survivor ran out of file descriptors. So: a dead node (connection
refused) is left at once for the next; a whole round of nodes that accepted the
connection and answered too late makes the next round wait twice as long for its
CONNACK (ConnackPatience); and each failed round is followed by a jittered, growing
pause, so the clients of a lost node spread their retries out.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from hub.sync.brokers import BrokerAddress, BrokerRotation
from hub.sync.protocol_plan import ConnackPatience

_BACKOFF_FACTOR = 2.0


def backoff_delays(minimum: float, maximum: float, rng: random.Random) -> Iterator[float]:
    """Endless jittered delays: uniform(minimum, cap) with the cap doubling to maximum
    ("full jitter", AWS's "Exponential Backoff and Jitter": clients that failed together
    do not retry together)."""
    cap = minimum
    while True:
        yield rng.uniform(minimum, cap)
        cap = min(maximum, cap * _BACKOFF_FACTOR)


class Reconnect:
    """Where the next connect attempt goes, how long it waits for its CONNACK, and how long
    to pause before it.

    The caller connects to `current` with `connack_timeout`, then says how it went:
    `connected()` once a CONNACK came, `lost()` when that session later ended (returns
    the pause before the next attempt, on the next node), or `failed(outcome)` when no
    session came of the attempt (outcome in UplinkState.attempts' words; returns the
    pause: none until every node has failed once in this round, then a jittered backoff).
    """

    def __init__(
        self,
        nodes: Sequence[BrokerAddress],
        *,
        start: int = 0,
        min_pause_s: float = 0.5,
        max_pause_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        if not nodes:
            raise ValueError("at least one node")
        unique = list(dict.fromkeys(nodes))
        # This client's own order: the given one, from `start` (the centre's consumers
        # each begin on another node).
        self.rotation = BrokerRotation.in_order(unique[start % len(unique) :] + unique[:start])
        self.patience = ConnackPatience()
        self.min_pause_s, self.max_pause_s = min_pause_s, max_pause_s
        self._rng = rng or random.Random()
        self._delays = self._fresh_delays()
        self.attempts = 0  # connect attempts made (for the bench's storm figures)
        self.failed_rounds = 0  # rounds since the last connection in which every node failed

    def _fresh_delays(self) -> Iterator[float]:
        return backoff_delays(self.min_pause_s, self.max_pause_s, self._rng)

    @property
    def current(self) -> BrokerAddress:
        """The node the next attempt goes to."""
        return self.rotation.current

    @property
    def connack_timeout(self) -> float:
        """Seconds the next attempt waits for its CONNACK."""
        return self.patience.seconds

    def connected(self) -> None:
        """The attempt on `current` got its CONNACK."""
        self.attempts += 1
        self.rotation.connected()
        self.patience.connected()
        self._delays = self._fresh_delays()
        self.failed_rounds = 0

    def lost(self) -> float:
        """The session on `current` ended after it had connected: the node may be gone,
        so the next attempt goes to the next one, after the shortest (jittered) pause."""
        self.rotation.lost()
        return next(self._delays)

    def failed(self, outcome: str) -> float:
        """The attempt on `current` made no session: seconds to pause before the next."""
        self.attempts += 1
        self.patience.attempt_ended(outcome)
        if not self.rotation.failed():
            return 0.0  # another node may be fine: try it at once
        self.patience.round_failed()
        self.failed_rounds += 1
        return next(self._delays)

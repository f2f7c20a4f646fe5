"""How a client of a broker cluster retries (pure logic: no sockets; the clock is given).

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

A session that ends soon after it began (a flap: two hubs cloned with one client id
taking the session from each other, a node that accepts and then drops, a proxy that
cuts every connection) does not restart the pauses: they go on growing until a session
lasts STABLE_SESSION_S, so a flapping client settles at one attempt per
reconnect_max_s instead of reconnecting twice a second forever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence

from hub.sync.brokers import BrokerAddress, BrokerRotation
from hub.sync.protocol_plan import ConnackPatience

_BACKOFF_FACTOR = 2.0

# A session that lasted this long was a real one: the pauses start again from the
# shortest. Longer than a hub's keepalive (30 s), so a broker that drops the session at
# its first keepalive still counts as a flap.
STABLE_SESSION_S = 60.0


def backoff_delays(minimum: float, maximum: float, rng: random.Random) -> Iterator[float]:
    """Endless jittered delays: uniform(minimum, cap) with the cap doubling to maximum
    ("full jitter", AWS's "Exponential Backoff and Jitter": clients that failed together
    do not retry together)."""
    cap = minimum
    while True:
        yield rng.uniform(minimum, cap)
        cap = min(maximum, cap * _BACKOFF_FACTOR)


class Pauses:
    """The growing, jittered pauses of one client, restarted only by a session that
    lasted STABLE_SESSION_S (a flap does not restart them)."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random) -> None:
        self.minimum, self.maximum, self._rng = minimum, maximum, rng
        self._delays = backoff_delays(minimum, maximum, rng)
        self.flaps = 0  # sessions in a row that ended before STABLE_SESSION_S

    def next(self) -> float:
        """The pause before the next attempt."""
        return next(self._delays)

    def session_ended(self, lasted_s: float) -> bool:
        """A session ended after `lasted_s`: True (and the pauses restart) if it was a
        real one, False if it was a flap (the pauses go on growing)."""
        if lasted_s >= STABLE_SESSION_S:
            self._delays = backoff_delays(self.minimum, self.maximum, self._rng)
            self.flaps = 0
            return True
        self.flaps += 1
        return False


class Reconnect:
    """Where the next connect attempt goes, how long it waits for its CONNACK, and how long
    to pause before it.

    The caller connects to `current` with `connack_timeout`, then says how it went:
    `connected()` once a CONNACK came, `lost()` when that session later ended (returns
    the pause before the next attempt, on the next node: the shortest after a session
    that lasted, a growing one after a flap), or `failed(outcome)` when no session came
    of the attempt (outcome in UplinkState.attempts' words; returns the pause: none until
    every node has failed once in this round, then a jittered backoff).
    """

    def __init__(
        self,
        nodes: Sequence[BrokerAddress],
        *,
        start: int = 0,
        min_pause_s: float = 0.5,
        max_pause_s: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not nodes:
            raise ValueError("at least one node")
        unique = list(dict.fromkeys(nodes))
        # This client's own order: the given one, from `start` (the centre's consumers
        # each begin on another node).
        self.rotation = BrokerRotation.in_order(unique[start % len(unique) :] + unique[:start])
        self.patience = ConnackPatience()
        self.pauses = Pauses(min_pause_s, max_pause_s, rng or random.Random())
        self._clock = clock
        self._connected_at = 0.0
        self.attempts = 0  # connect attempts made (for the bench's storm figures)
        self.failed_rounds = 0  # rounds since the last connection in which every node failed

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
        self._connected_at = self._clock()
        self.failed_rounds = 0

    def lost(self) -> float:
        """The session on `current` ended after it had connected: the node may be gone,
        so the next attempt goes to the next one, after the shortest pause if the session
        lasted, a longer one each time if it keeps ending at once (a flap)."""
        self.rotation.lost()
        self.pauses.session_ended(self._clock() - self._connected_at)
        return self.pauses.next()

    def failed(self, outcome: str) -> float:
        """The attempt on `current` made no session: seconds to pause before the next."""
        self.attempts += 1
        self.patience.attempt_ended(outcome)
        if not self.rotation.failed():
            return 0.0  # another node may be fine: try it at once
        self.patience.round_failed()
        self.failed_rounds += 1
        return self.pauses.next()

"""The connect discipline of the fleet tools and the simulated centre (hub.sync.reconnect):
where the next attempt goes, how long it waits for its CONNACK, and the pause before it.

Pure logic: the pauses are returned, not slept, so no clock is involved.
"""

from __future__ import annotations

import random

from hub.sync.brokers import BrokerAddress
from hub.sync.protocol_plan import (
    CONNECT_TIMEOUT_MAX_S,
    CONNECT_TIMEOUT_S,
    NO_ANSWER,
    UNREACHABLE,
)
from hub.sync.reconnect import STABLE_SESSION_S, Pauses, Reconnect, backoff_delays

DEAD, SLOW1, SLOW2 = (BrokerAddress("127.0.0.1", port) for port in (1883, 1884, 1885))
NODES = (DEAD, SLOW1, SLOW2)


def a_round_after_a_node_kill(plan: Reconnect) -> list[float]:
    """One attempt per node: the dead one refuses, the survivors answer too late."""
    pauses = []
    for _node in NODES:
        outcome = UNREACHABLE if plan.current == DEAD else NO_ANSWER
        pauses.append(plan.failed(outcome))
    return pauses


def test_after_a_node_kill_the_dead_node_is_left_at_once_and_the_survivors_waited_longer() -> None:
    plan = Reconnect(NODES, rng=random.Random(1))
    assert plan.current == DEAD and plan.connack_timeout == CONNECT_TIMEOUT_S
    waits = []
    for _round in range(5):
        waits.append(plan.connack_timeout)
        pauses = a_round_after_a_node_kill(plan)
        # No pause between nodes (another may be fine), one pause after the round.
        assert pauses[:2] == [0.0, 0.0] and pauses[2] > 0
    assert waits == [10.0, 20.0, 40.0, 60.0, 60.0]
    assert plan.connack_timeout == CONNECT_TIMEOUT_MAX_S
    assert plan.attempts == 15 and plan.failed_rounds == 5

    plan.connected()  # a survivor took it: the usual wait, the round afresh
    assert plan.connack_timeout == CONNECT_TIMEOUT_S
    assert plan.failed_rounds == 0 and plan.attempts == 16


def test_the_pause_after_a_failed_round_is_jittered_and_grows_to_its_cap() -> None:
    clients = [
        Reconnect(NODES, min_pause_s=0.5, max_pause_s=30.0, rng=random.Random(n)) for n in range(50)
    ]
    per_round = [[a_round_after_a_node_kill(c)[-1] for c in clients] for _round in range(10)]
    for number, pauses in enumerate(per_round):
        cap = min(30.0, 0.5 * 2**number)
        assert all(0.5 <= p <= cap for p in pauses)
    # Clients that failed together do not retry together: their pauses spread out.
    assert len({round(p, 3) for p in per_round[6]}) == 50
    assert max(per_round[9]) > 15.0  # and the spread reaches toward the cap


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lost_session_moves_to_the_next_node_after_the_shortest_pause() -> None:
    clock = FakeClock()
    plan = Reconnect(NODES, start=1, min_pause_s=0.5, rng=random.Random(2), clock=clock)
    assert plan.current == SLOW1  # a centre consumer starts on its own node
    plan.connected()
    clock.now += 3600  # an hour's session, then the node goes
    assert plan.lost() == 0.5
    assert plan.current == SLOW2
    assert plan.connack_timeout == CONNECT_TIMEOUT_S


def test_each_consumer_walks_every_node_from_its_own() -> None:
    orders = []
    for start in range(3):
        plan = Reconnect(NODES, start=start)
        order = []
        for _node in NODES:
            order.append(plan.current)
            plan.failed(UNREACHABLE)
        orders.append(order)
    assert orders == [[DEAD, SLOW1, SLOW2], [SLOW1, SLOW2, DEAD], [SLOW2, DEAD, SLOW1]]


def test_backoff_delays_start_at_the_minimum_and_never_pass_the_maximum() -> None:
    delays = backoff_delays(0.2, 5.0, random.Random(3))
    first = [next(delays) for _ in range(20)]
    assert first[0] == 0.2
    assert all(0.2 <= d <= 5.0 for d in first)


def test_a_flapping_session_pauses_longer_each_time_until_one_lasts() -> None:
    """Two clients cloned with one client id take the session from each other within a
    second, forever: each loss must not restart the pauses, or the pair reconnects twice a
    second for ever (and a cluster's worth of clones makes a storm)."""
    clock = FakeClock()
    plan = Reconnect(NODES, min_pause_s=0.5, max_pause_s=30.0, rng=random.Random(4), clock=clock)
    pauses = []
    for _flap in range(12):
        plan.connected()
        clock.now += 0.8  # taken over 0.8 s later
        pauses.append(plan.lost())
        clock.now += pauses[-1]
    assert all(0.5 <= p <= min(30.0, 0.5 * 2**n) for n, p in enumerate(pauses))
    assert sum(pauses[6:]) > 6 * 10.0  # settled near the cap, not at 0.5 s
    assert plan.pauses.flaps == 12

    plan.connected()
    clock.now += STABLE_SESSION_S  # a session that lasted: back to the shortest pause
    assert plan.lost() == 0.5
    assert plan.pauses.flaps == 0


def test_a_session_that_lasted_restarts_the_pauses_and_a_flap_does_not() -> None:
    rng = random.Random(5)
    pauses = Pauses(0.5, 30.0, rng)
    grown = [pauses.next() for _ in range(8)]
    assert max(grown) > 5.0
    assert pauses.session_ended(STABLE_SESSION_S - 0.1) is False
    assert min(pauses.next() for _ in range(3)) > 2.0  # still drawn up to the 30 s cap
    assert pauses.session_ended(STABLE_SESSION_S) is True
    assert pauses.next() == 0.5

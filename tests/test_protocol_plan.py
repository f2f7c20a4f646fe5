"""Which MQTT version the uplink tries first, and how long it waits for a CONNACK."""

from __future__ import annotations

import pytest

from hub.sync.protocol_plan import (
    CONNECT_TIMEOUT_MAX_S,
    CONNECT_TIMEOUT_S,
    NO_ANSWER,
    PROBE_TIMEOUT_S,
    UNREACHABLE,
    ConnackPatience,
    ProtocolPlan,
)


def test_a_new_hub_in_auto_mode_probes_mqtt5_briefly_then_gives_311_the_full_wait() -> None:
    plan = ProtocolPlan("auto")
    assert plan.order() == ["5", "3.1.1"]
    assert plan.connect_timeout("5") == PROBE_TIMEOUT_S
    assert plan.connect_timeout("3.1.1") == CONNECT_TIMEOUT_S
    assert PROBE_TIMEOUT_S < CONNECT_TIMEOUT_S


def test_a_hub_that_connected_with_311_tries_311_first_after_a_restart() -> None:
    plan = ProtocolPlan("auto")
    assert plan.worked("3.1.1")  # news: saved to the data directory
    assert plan.order() == ["3.1.1", "5"]
    restarted = ProtocolPlan("auto", remembered="3.1.1")
    assert restarted.order() == ["3.1.1", "5"]
    assert not restarted.worked("3.1.1")  # nothing new: no disk write


def test_a_broker_known_to_speak_mqtt5_gets_the_full_wait_when_slow() -> None:
    plan = ProtocolPlan("auto", remembered="5")
    assert plan.order() == ["5", "3.1.1"]
    assert plan.connect_timeout("5") == CONNECT_TIMEOUT_S
    # It stopped answering MQTT 5 and 3.1.1 worked: 3.1.1 first from now on, and MQTT 5,
    # once accepted here, still gets the full wait when it is tried again.
    assert plan.worked("3.1.1")
    assert plan.order() == ["3.1.1", "5"]
    assert plan.connect_timeout("5") == CONNECT_TIMEOUT_S


@pytest.mark.parametrize("choice", ["5", "3.1.1"])
def test_a_forced_version_is_the_only_one_tried_with_the_full_wait(choice: str) -> None:
    plan = ProtocolPlan(choice, remembered="3.1.1" if choice == "5" else "5")
    assert plan.order() == [choice]
    assert plan.connect_timeout(choice) == CONNECT_TIMEOUT_S
    assert not plan.worked(choice)  # only auto mode keeps a memory


@pytest.mark.parametrize("garbage", ["4", "", "MQTT 5", "3.1"])
def test_a_remembered_value_that_is_no_version_is_ignored(garbage: str) -> None:
    plan = ProtocolPlan("auto", remembered=garbage)
    assert plan.remembered is None
    assert plan.order() == ["5", "3.1.1"]
    assert plan.connect_timeout("5") == PROBE_TIMEOUT_S


def test_the_connack_wait_grows_only_after_a_round_of_brokers_that_all_answered_too_late() -> None:
    patience = ConnackPatience()
    assert patience.seconds == CONNECT_TIMEOUT_S
    # Three nodes accepted the connection and none sent its CONNACK in time: overloaded.
    for _node in range(3):
        patience.attempt_ended(NO_ANSWER)
    patience.round_failed()
    assert patience.seconds == 2 * CONNECT_TIMEOUT_S
    for _round in range(5):
        patience.attempt_ended(NO_ANSWER)
        patience.round_failed()
    assert patience.seconds == CONNECT_TIMEOUT_MAX_S  # bounded
    patience.connected()
    assert patience.seconds == CONNECT_TIMEOUT_S


@pytest.mark.parametrize("other", ["refused", "closed"])
def test_a_node_that_answers_in_the_round_keeps_the_usual_wait(other: str) -> None:
    """A node that answers at once (a refusal, a close) is not overloaded: the hub moves on
    to it quickly, and one slow node beside it is not a reason to wait longer."""
    patience = ConnackPatience()
    patience.attempt_ended(NO_ANSWER)
    patience.attempt_ended(other)
    patience.round_failed()
    assert patience.seconds == CONNECT_TIMEOUT_S
    # The next round starts afresh: all slow again grows it.
    patience.attempt_ended(NO_ANSWER)
    patience.round_failed()
    assert patience.seconds == 2 * CONNECT_TIMEOUT_S


def test_a_dead_node_does_not_stop_the_wait_growing_for_slow_survivors() -> None:
    """After a node kill every round holds the dead node (refused at once) and the two
    survivors, both too slow: that is the very case to wait longer for. Counting the dead
    node as "not slow" kept every client at 10 s in the 5,000-hub bench."""
    patience = ConnackPatience()
    for _round in range(2):
        patience.attempt_ended(UNREACHABLE)
        patience.attempt_ended(NO_ANSWER)
        patience.attempt_ended(NO_ANSWER)
        patience.round_failed()
    assert patience.seconds == 4 * CONNECT_TIMEOUT_S
    # A round in which no node could even be reached says nothing of slowness.
    for _node in range(3):
        patience.attempt_ended(UNREACHABLE)
    patience.round_failed()
    assert patience.seconds == 4 * CONNECT_TIMEOUT_S


def test_an_mqtt5_probe_keeps_its_short_wait_whatever_the_patience() -> None:
    plan = ProtocolPlan("auto")
    assert plan.is_probe("5")
    assert plan.connect_timeout("5", 40.0) == PROBE_TIMEOUT_S
    assert plan.connect_timeout("3.1.1", 40.0) == 40.0

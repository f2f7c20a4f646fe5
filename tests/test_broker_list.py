"""A hub given the nodes of a broker cluster (`mqtt.brokers`) rotates through them.

Each hub walks the list in its own stable order, so a fleet spreads over the nodes and
the hubs of a lost node spread over the survivors; a lost node costs one reconnect, not
a backoff. Two mosquittos stand in for two nodes here (they share no sessions: that a
real cluster keeps the session across nodes is tested on RabbitMQ in
tests/test_rabbitmq_cluster.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hub.config import parse_config
from hub.errors import ConfigError
from hub.sim.broker import Mosquitto
from hub.sim.proxy import FaultyProxy
from hub.sync import protocol_plan
from hub.sync.brokers import BrokerAddress, BrokerRotation, addresses, hub_order, parse_broker
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually
from tests.test_spine import press

THREE = (BrokerAddress("mq1", 1883), BrokerAddress("mq2", 1883), BrokerAddress("mq3", 1883))


def test_addresses_are_host_port_with_the_default_port_and_ipv6_in_brackets() -> None:
    assert parse_broker("mq1.gz.example:8883", 1883) == BrokerAddress("mq1.gz.example", 8883)
    assert parse_broker("mq2.gz.example", 8883) == BrokerAddress("mq2.gz.example", 8883)
    assert parse_broker("[fd00::1]:1884", 1883) == BrokerAddress("fd00::1", 1884)
    assert str(BrokerAddress("fd00::1", 1884)) == "[fd00::1]:1884"
    for bad in ("mq1:", "mq1:99999", "mq 1:1883", "fd00::1:1883", ""):
        with pytest.raises(ValueError):
            parse_broker(bad, 1883)


def test_a_config_lists_the_nodes_and_names_a_bad_one() -> None:
    cfg = parse_config(
        {"hub": {"id": "GZ-1"}, "mqtt": {"brokers": ["mq1:8883", "mq2"], "port": 8884}}
    )
    assert addresses(cfg.mqtt) == (BrokerAddress("mq1", 8883), BrokerAddress("mq2", 8884))
    single = parse_config({"hub": {"id": "GZ-1"}, "mqtt": {"host": "mq9", "port": 1884}})
    assert addresses(single.mqtt) == (BrokerAddress("mq9", 1884),)

    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"hub": {"id": "GZ-1"}, "mqtt": {"host": "mq0", "brokers": ["mq1:1883", "mq2:x"]}}
        )
    assert caught.value.problems == [
        "mqtt.host: not used when mqtt.brokers is given; put every node in mqtt.brokers",
        "mqtt.brokers: 'mq2:x' is not host:port; give host:port, e.g. 'mq1.gz.example:8883'",
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config({"hub": {"id": "GZ-1"}, "mqtt": {"brokers": "mq1:1883"}})
    assert caught.value.problems == [
        "mqtt.brokers: must be a list of texts, got 'mq1:1883'",
    ]


def test_a_fleet_spreads_over_the_nodes_and_a_lost_nodes_hubs_over_the_survivors() -> None:
    orders = [hub_order(THREE, f"GZ-{n:06d}") for n in range(3000)]
    first = Counter(order[0] for order in orders)
    assert all(900 <= first[b] <= 1100 for b in THREE), first
    # The ~1,000 hubs that were on mq1 when it dies go on to their second choice.
    refugees = Counter(order[1] for order in orders if order[0] == THREE[0])
    assert set(refugees) == {THREE[1], THREE[2]}
    assert min(refugees.values()) >= 0.4 * sum(refugees.values()), refugees


def test_a_hubs_order_survives_a_restart_whatever_order_the_list_is_written_in() -> None:
    assert hub_order(THREE, "GZ-000123") == hub_order(THREE, "GZ-000123")
    assert hub_order(THREE, "GZ-000123") == hub_order(tuple(reversed(THREE)), "GZ-000123")


def test_a_failed_attempt_moves_on_and_only_a_whole_failed_round_backs_off() -> None:
    rotation = BrokerRotation(THREE, "GZ-000123")
    order = rotation.order
    assert rotation.current == order[0]
    assert rotation.failed() is False
    assert rotation.current == order[1]
    assert rotation.failed() is False
    assert rotation.failed() is True  # all three refused: back off before the next round
    assert rotation.current == order[0]
    rotation.connected()
    rotation.lost()  # the node went away: the next attempt goes elsewhere, at once
    assert rotation.current == order[1]
    assert rotation.failed() is False


async def test_the_hub_moves_to_another_node_when_its_own_goes_down_and_the_alarm_gets_through(
    tmp_path: Path, make_hub: HubFactory
) -> None:
    nodes = [Mosquitto(workdir=_mkdir(tmp_path / f"node{i}")) for i in range(2)]
    collectors = [Collector(node.port, ident=f"centre-{i}") for i, node in enumerate(nodes)]
    try:
        for node, collector in zip(nodes, collectors, strict=True):
            node.start()
            await collector.start()
            await collector.subscribed.wait()
        brokers = [f"127.0.0.1:{node.port}" for node in nodes]
        # hub_raw names a host of its own; a cluster's hub names only its nodes.
        hub = await make_hub(nodes[0].port, mqtt={"host": "localhost", "brokers": brokers})
        await eventually(hub.uplink.connected.is_set)
        first = brokers.index(hub.uplink.state.broker)
        other = 1 - first

        attempts_before = len(hub.uplink.state.attempts)
        nodes[first].stop()
        await press(hub)
        [sos] = await collectors[other].wait_event("sos", timeout=15)
        assert sos["id"] == hub.alarms.book.open_sos().id  # type: ignore[union-attr]
        assert hub.uplink.state.broker == brokers[other]
        # The lost node is not tried again: the next attempt went to the other one.
        assert list(hub.uplink.state.attempts)[attempts_before:] == [("5", "connected")]
    finally:
        for collector in collectors:
            await collector.stop()
        for node in nodes:
            node.close()


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


async def test_an_alarm_goes_out_on_a_node_that_never_answers_the_hubs_subscribe(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    """RabbitMQ's default (classic) session queue lives on one node; when that node is
    gone, another node never answers the hub's SUBSCRIBE. The alarm must not wait for it."""
    proxy = FaultyProxy(broker.port)
    await proxy.start()
    proxy.drop_subscribe = True
    collector = Collector(broker.port)
    await collector.start()
    await collector.subscribed.wait()
    try:
        hub = await make_hub(proxy.port)
        await eventually(lambda: proxy.dropped_subscribes >= 1)
        await press(hub)
        [sos] = await collector.wait_event("sos", timeout=5)
        assert sos["id"] == hub.alarms.book.open_sos().id  # type: ignore[union-attr]
        assert not hub.uplink.connected.is_set()  # never fully online: no SUBACK came
    finally:
        await collector.stop()
        await proxy.close()


async def test_a_hub_waits_longer_for_a_broker_that_is_slow_instead_of_retrying_it_forever(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker that answers every CONNECT later than the hub waits (a cluster's survivors
    taking a lost node's hubs) must be waited for: before, the hub gave up at the same
    timeout every time, never connected, and left the broker one abandoned session per try."""
    # The usual 10 s, scaled down: the link adds 0.6 s each way, the first wait is 0.5 s.
    monkeypatch.setattr(protocol_plan, "CONNECT_TIMEOUT_S", 0.5)
    proxy = FaultyProxy(broker.port)
    await proxy.start()
    proxy.delay_s = 0.6
    collector = Collector(broker.port)
    await collector.start()
    await collector.subscribed.wait()
    try:
        hub = await make_hub(
            proxy.port, mqtt={"protocol": "3.1.1", "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}
        )
        await eventually(hub.uplink.connected.is_set, timeout=30)
        outcomes = [outcome for _version, outcome in hub.uplink.state.attempts]
        assert outcomes[-1] == "connected"
        assert outcomes[0] == "no answer"
        # 0.5 s, 1 s, then 2 s (> 1.2 s of link): a few abandoned tries, not one per round.
        assert proxy.connections <= 4, outcomes
        await press(hub)
        [sos] = await collector.wait_event("sos", timeout=15)
        assert sos["id"] == hub.alarms.book.open_sos().id  # type: ignore[union-attr]
    finally:
        await collector.stop()
        await proxy.close()

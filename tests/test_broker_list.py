"""A hub given the nodes of a broker cluster (`mqtt.brokers`) rotates through them.

Each hub walks the list in its own stable order, so a fleet spreads over the nodes and
the hubs of a lost node spread over the survivors; a lost node costs one reconnect, not
a backoff. Two mosquittos stand in for two nodes here (they share no sessions: that a
real cluster keeps the session across nodes is tested on RabbitMQ in
tests/test_rabbitmq_cluster.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from pathlib import Path

import pytest

from hub.config import parse_config
from hub.errors import ConfigError
from hub.fleet import push as fleet_push
from hub.fleet.broker import Broker
from hub.fleet.push import PushProgress, push
from hub.fleet.watch import FleetWatch
from hub.sim.broker import Mosquitto, free_port
from hub.sim.centre import ClusterCentre
from hub.sim.proxy import FaultyProxy
from hub.sync import protocol_plan
from hub.sync.brokers import BrokerAddress, BrokerRotation, addresses, hub_order, parse_broker
from hub.sync.mqtt_client import NoConnack
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


def sockets_to(port: int) -> int:
    """This process's open TCP sockets connected to `port` (descriptors, not orphans)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                count += 1
    return count


async def test_a_connect_given_up_before_its_connack_closes_its_socket_at_once(
    broker: Mosquitto,
) -> None:
    """Before, the admin tools and the centre left each abandoned attempt open until paho's
    keepalive, and the broker's late CONNACK then made it a session nobody used (measured
    here: 3 tries, 3 sockets open, then one live zombie). On a cluster's survivors after a
    node kill those piled up by the thousand until a node ran out of descriptors."""
    proxy = FaultyProxy(broker.port)
    await proxy.start()
    proxy.delay_s = 1.0  # the CONNACK comes 2 s after the CONNECT: later than we wait
    admin = Broker(port=proxy.port)
    try:
        for _attempt in range(3):
            with pytest.raises(NoConnack):
                async with admin.client(identifier="pingan-fleet-watch-t", connect_timeout=0.3):
                    pass
            assert sockets_to(proxy.port) == 0  # closed before the error reached us
        # Cancelled while waiting (a tool stopped by the admin): closed too.
        waiting = asyncio.create_task(admin.client(connect_timeout=30).__aenter__())
        await eventually(lambda: proxy.connections == 4)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert sockets_to(proxy.port) == 0
        # The broker's side goes too, as soon as the late CONNACK finds the socket gone,
        # and no session is left behind on it.
        await eventually(lambda: proxy.open_connections == 0, timeout=15)
        await asyncio.sleep(2.5)  # the slowest CONNACK's round trip through the proxy
        assert proxy.open_connections == 0
    finally:
        await proxy.close()


async def test_the_fleet_tools_and_the_centre_wait_longer_for_slow_nodes_and_skip_a_dead_one(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster after a node kill, in small: one node dead (refused at once), the survivor
    answering every CONNECT later than the usual wait. The admin's push, the watcher and the
    centre's consumers must get through with a few attempts each (the CONNACK wait grows
    round by round), where before each retried the same wait for ever."""
    monkeypatch.setattr(protocol_plan, "CONNECT_TIMEOUT_S", 0.5)  # the usual 10 s, scaled
    monkeypatch.setattr(fleet_push, "_PUSH_RETRY_S", 0.1)
    proxy = FaultyProxy(broker.port)
    await proxy.start()
    proxy.delay_s = 0.6  # 1.2 s from CONNECT to CONNACK: 0.5 s fails, 1 s fails, 2 s waits
    nodes = (f"127.0.0.1:{free_port()}", f"127.0.0.1:{proxy.port}")  # the first is dead
    admin = Broker(brokers=nodes)
    centre = ClusterCentre([("127.0.0.1", int(n.rsplit(":", 1)[1])) for n in nodes])
    watcher = FleetWatch(admin, tmp_path / "fleet.sqlite", name="slow")
    tasks = [asyncio.create_task(centre.run()), asyncio.create_task(watcher.run())]
    try:
        envelope = {"hub": "GZ-000001", "version": 1}
        progress: list[PushProgress] = []
        await asyncio.wait_for(push(admin, envelope, progress=progress.append), 60)
        assert progress[-1].done == 1
        await asyncio.wait_for(watcher.subscribed.wait(), 60)
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in centre.subscribed)), 60)
        # Three rounds each (dead node, slow node): 0.5 s, 1 s, then 2 s got the CONNACK.
        assert progress[-1].attempts <= 6, progress[-1]
        assert watcher.attempts <= 6
        assert centre.attempts <= 12  # two consumers
        assert proxy.connections <= 3 + 3 + 6
        # Every attempt given up is closed: only the three live sessions remain open.
        await eventually(lambda: proxy.open_connections == 3, timeout=15)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proxy.close()


async def test_two_hubs_cloned_with_one_client_id_settle_instead_of_storming_and_an_alarm_gets_out(
    tmp_path: Path, broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    """A field fault: an SD card cloned to a second hub keeps the first one's client id.
    The broker hands the session to whichever connected last, so each hub's session ends
    at once, for ever. Restarting the pauses after every loss made the pair reconnect
    every 0.1 s here (~80 attempts in 8 s); the pauses must keep growing, and an alarm on
    either hub must still get out at once."""
    mqtt = {"client_id": "pingan-cloned", "reconnect_min_s": 0.1, "reconnect_max_s": 30.0}
    hubs = [
        await make_hub(broker.port, mqtt=mqtt, hub={"data_dir": str(tmp_path / name)})
        for name in ("first", "clone")
    ]
    await eventually(lambda: all(h.uplink.state.connect_attempts for h in hubs))
    before = [h.uplink.state.connect_attempts for h in hubs]
    await asyncio.sleep(8)
    attempts = sum(h.uplink.state.connect_attempts - b for h, b in zip(hubs, before, strict=True))
    assert attempts <= 30, f"{attempts} connect attempts in 8 s: a reconnect storm"

    await press(hubs[0])
    [sos] = await collector.wait_event("sos", timeout=10)
    assert sos["id"] == hubs[0].alarms.book.open_sos().id  # type: ignore[union-attr]

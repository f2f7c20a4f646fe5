"""A city's broker in small: 3 RabbitMQ nodes, 300 hubs, a node killed during a push.

Every hub is the hub's real uplink and config push path (hub.sim.fleet_hub), given the
three nodes in `mqtt.brokers`; the alarm centre has one consumer per node
(hub.sim.centre.ClusterCentre); the admin pushes with `fleet push`'s code through the
first node, paced, and `fleet watch` keeps the fleet's state. The first node is
SIGKILLed at a random moment of the push: it held a third of the hubs' connections, the
admin's connection, the watcher's and one of the centre's consumers. Every hub must end
`applied`, every alarm raised around the kill must reach the centre and be acknowledged
back, and `fleet status` must then say so.

Runs in CI (Debian's rabbitmq-server is installed by ./dev as root): ~90 s here, most of
it the three nodes booting one after the other. The full-size run (20,000 hubs) is
`python -m bench.fleet --cluster`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.fleet.broker import Broker
from hub.fleet.cli import add_fleet_commands, run_fleet_command
from hub.fleet.push import PushProgress, push
from hub.fleet.watch import FleetWatch
from hub.sim.centre import ClusterCentre
from hub.sim.fleet_hub import FleetHub
from hub.sim.rabbitmq_broker import rabbitmq_installed
from hub.sim.rabbitmq_cluster import RabbitCluster
from hub.sync.ota import public_key_text, sign_envelope
from tests.helpers import eventually

pytestmark = [
    pytest.mark.skipif(not rabbitmq_installed(), reason="apt-get install rabbitmq-server"),
    pytest.mark.timeout(600),
]

HUBS = 300
ALARMS = 20  # hubs that raise an SOS around the kill, half of them on the killed node
GROUP = "tianhe"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """Three clustered nodes with quorum session queues, for this module. They share one
    machine, so their schedulers are left unbound, as README "Broker clusters" advises."""
    nodes = RabbitCluster(3, tmp_path_factory.mktemp("rabbitmq-cluster"), scheduler_bind_type="u")
    with nodes:
        yield nodes


def hub_raw(tmp_path: Path, n: int, brokers: list[str], key: str) -> dict[str, Any]:
    """The local config of simulated hub n, as an installer would write it."""
    data = tmp_path / f"GZ-{n:05d}"
    data.mkdir()
    return {
        "hub": {"id": f"GZ-{n:05d}", "data_dir": str(data)},
        "mqtt": {
            "brokers": brokers,
            "heartbeat_s": 10.0,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 5.0,
        },
        "fleet": {"public_keys": [key], "groups": [GROUP]},
    }


def attempts(
    hubs: list[FleetHub], progress: list[PushProgress], watcher: FleetWatch, centre: ClusterCentre
) -> dict[str, int]:
    """Connect attempts made so far by the hubs, the admin's push, the watcher, the centre."""
    return {
        "hubs": sum(h.uplink.state.connect_attempts for h in hubs),
        "admin push": progress[-1].attempts if progress else 0,
        "watcher": watcher.attempts,
        "centre": centre.attempts,
    }


def cli(*argv: str) -> int:
    """`pingan-hub <argv>` for the admin commands."""
    parser = argparse.ArgumentParser(prog="pingan-hub")
    add_fleet_commands(parser.add_subparsers(dest="command"))
    return run_fleet_command(parser.parse_args(list(argv)))


def test_nodes_sharing_a_machine_leave_their_schedulers_unbound(cluster: RabbitCluster) -> None:
    # RabbitMQ's own default (+stbt db) binds every node's first scheduler to core 0.
    # Runs before the kill below, while all three nodes answer.
    for node in range(3):
        bindings = cluster.ctl("eval", "erlang:system_info(scheduler_bindings).", node=node)
        assert "unbound" in bindings and not any(c.isdigit() for c in bindings), bindings


async def test_a_node_killed_mid_push_every_hub_applies_and_no_alarm_is_lost(
    cluster: RabbitCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random()
    key = Ed25519PrivateKey.generate()
    brokers = cluster.addresses
    admin = Broker(brokers=tuple(brokers))
    hubs = []
    for n in range(1, HUBS + 1):
        raw = hub_raw(tmp_path, n, brokers, public_key_text(key))
        hubs.append(await FleetHub.with_outbox(raw) if n <= 3 * ALARMS else FleetHub(raw))
    centre = ClusterCentre([("127.0.0.1", node.port) for node in cluster.nodes])
    state = tmp_path / "fleet.sqlite"
    watcher = FleetWatch(admin, state, name="test")
    tasks = [asyncio.create_task(centre.run()), asyncio.create_task(watcher.run())]
    tasks += [asyncio.create_task(h.run()) for h in hubs]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in centre.subscribed)), 60)
        await asyncio.wait_for(watcher.subscribed.wait(), 60)
        await eventually(lambda: all(h.uplink.connected.is_set() for h in hubs), timeout=180)
        on_node = Counter(h.uplink.state.broker for h in hubs)
        assert set(on_node) == set(brokers)  # the fleet spread itself over the three nodes
        assert min(on_node.values()) >= HUBS // 5, on_node

        victim = brokers[0]  # the admin's, the watcher's and centre consumer 0's node too
        doomed = [h for h in hubs[: 3 * ALARMS] if h.uplink.state.broker == victim]
        spared = [h for h in hubs[: 3 * ALARMS] if h.uplink.state.broker != victim]
        alarm_hubs = doomed[: ALARMS // 2] + spared[: ALARMS - len(doomed[: ALARMS // 2])]
        assert len(alarm_hubs) == ALARMS

        envelope = sign_envelope(
            key, 1, {"sos": {"ack_timeout_s": 25.0}}, datetime.now(UTC), group=GROUP
        )
        ids = [h.cfg.hub.id for h in hubs]
        progress: list[PushProgress] = []
        # A random moment of the push. It is paced, so it cannot end before HUBS / rate
        # seconds; counting the hubs that applied instead let a loaded machine's push
        # finish before the kill (the hubs apply seconds after the PUBACKs).
        # The first alarms are committed while the push runs, not between the chosen
        # moment and the kill: ten SQLite commits on a loaded CI machine once took longer
        # than the rest of the push, and the node died after it had ended.
        rate = 60
        loop = asyncio.get_running_loop()
        kill_at = loop.time() + rng.uniform(0.2, 0.6) * HUBS / rate
        pushing = asyncio.create_task(
            push(
                admin,
                envelope,
                ids,
                rate=rate,
                journal=tmp_path / "v1.pushed",
                progress=progress.append,
            )
        )
        alarms = list(await asyncio.gather(*(h.raise_alarm() for h in alarm_hubs[::2])))
        await asyncio.sleep(max(0.0, kill_at - loop.time()))
        assert not pushing.done(), "the push ended before the kill: slow the push down"
        before = attempts(hubs, progress, watcher, centre)
        moving = sum(1 for h in hubs if h.uplink.state.broker == victim)
        cluster.kill(0)
        alarms += [await h.raise_alarm() for h in alarm_hubs[1::2]]

        await asyncio.wait_for(pushing, 180)
        assert progress[-1].done == HUBS
        assert progress[-1].reconnects >= 1  # the push moved on from the killed node
        await eventually(lambda: all(1 in h.applied for h in hubs), timeout=180)
        assert sum(h.rejected for h in hubs) == 0
        assert all(h.config_version == 1 for h in hubs)
        # A hub that had applied before the kill may still be in its pause after losing
        # the node (a random moment within mqtt.reconnect_spread_s): it moves over soon.
        await eventually(
            lambda: all(h.uplink.state.connected and h.uplink.state.broker != victim for h in hubs),
            timeout=60,
        )
        # No reconnect storm: the hubs of the dead node moved over in an attempt or two
        # each, the others stayed put, and the admin's push, the watcher and the centre's
        # consumers each needed a few (hub.sync.reconnect).
        after = attempts(hubs, progress, watcher, centre)
        made = {who: after[who] - before[who] for who in after}
        assert made["hubs"] <= 3 * moving, made
        assert max(made["admin push"], made["watcher"], made["centre"]) <= 10, made

        await eventually(lambda: all(a in centre.first for a in alarms), timeout=60)
        assert {centre.first[a].event["hub"] for a in alarms} == {h.cfg.hub.id for h in alarm_hubs}
        await eventually(lambda: all(a in h.acked for h in alarm_hubs for a in h.alarms))

        # What the admin is told, once every hub has heartbeated since (10 s) and the
        # watcher has written it down (1 s).
        def told() -> dict[str, Any]:
            assert cli("fleet", "status", "--state", str(state), "--lagging", "--json") == 0
            doc: dict[str, Any] = json.loads(capsys.readouterr().out)
            return doc

        await eventually(lambda: told()["hubs"] == [], timeout=30, interval=1.0)
        counts = told()["counts"]
        assert counts["hubs"] == HUBS
        assert counts["state"] == {"online": HUBS}
        assert counts["config"] == {"v1": HUBS}
        assert counts["report"] == {"v1 applied": HUBS}

        # The survivors hold the live connections and nothing abandoned: every hub, the
        # watcher and the centre's three consumers (the push has closed its own).
        def held() -> dict[str, int]:
            sockets = cluster.sockets()
            return {
                "established": sum(c["established"] for c in sockets.values()),
                "abandoned": sum(c["close_wait"] + c["other"] for c in sockets.values()),
                # TIME-WAIT holds no descriptor: a connection closed cleanly.
            }

        await eventually(lambda: held() == {"established": HUBS + 4, "abandoned": 0}, timeout=30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for h in hubs:
            await h.stop()

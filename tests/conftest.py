"""Fixtures: a real mosquitto per test, a hub on gpiozero's MockFactory pins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import HealthCheck, settings

from hub.app import Hub
from hub.config import Config, parse_config
from hub.sim.broker import Mosquitto, free_port
from hub.sim.proxy import FaultyProxy
from tests.fuzzing import FACTOR, PROFILE
from tests.helpers import Collector

# HYPOTHESIS_PROFILE=fuzz: every property test with FUZZ_FACTOR times its examples
# (tests/fuzzing.py); the default profile is Hypothesis' own, as in CI.
settings.register_profile(
    "fuzz",
    max_examples=100 * FACTOR,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(PROFILE)

HUB_ID = "T-0001"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running mosquitto on a free port, with its own persistence directory."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    mosq = Mosquitto(workdir=workdir)
    mosq.start()
    yield mosq
    mosq.close()


@pytest.fixture
async def proxy(broker: Mosquitto) -> AsyncIterator[FaultyProxy]:
    """A TCP proxy in front of the broker, to cut, stall or slow the hub's link."""
    p = FaultyProxy(broker.port)
    await p.start()
    yield p
    await p.close()


@pytest.fixture
def stopped_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A mosquitto that is configured but not started (the broker is down)."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    mosq = Mosquitto(port=free_port(), workdir=workdir)
    yield mosq
    mosq.close()


def hub_config(data_dir: Path, port: int, **sections: dict[str, Any]) -> Config:
    """A test config: mock pins, fast reconnect, the given broker port."""
    return parse_config(hub_raw(data_dir, port, **sections))


def hub_raw(data_dir: Path, port: int, **sections: dict[str, Any]) -> dict[str, Any]:
    """The TOML document of a test config (what an installer's file would hold)."""
    raw: dict[str, dict[str, Any]] = {
        "hub": {"id": HUB_ID, "data_dir": str(data_dir)},
        "mqtt": {
            "host": "127.0.0.1",
            "port": port,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "reconnect_spread_s": 0.0,  # test_network_faults measures the spread itself
            "heartbeat_s": 60.0,
        },
        "gpio": {"pin_factory": "mock", "bounce_s": 0.0},
        "sos": {"cancel_hold_s": 0.5},
        "voice": {"prompts": False},  # tests that listen turn it on with a fake player
        # Telemetry stored at once, each in its own commit (the default groups it for up to
        # 5 min): tests look for the events their readings make. The grouping has its own
        # tests (tests/test_telemetry_groups.py).
        "outbox": {"telemetry_group_s": 0.0},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return raw


HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def make_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    """Start hubs in this process on mock pins; all are stopped at the end."""
    hubs: list[Hub] = []

    async def start(port: int, **sections: dict[str, Any]) -> Hub:
        raw = hub_raw(tmp_path / "data", port, **sections)
        hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
        await hub.start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        await hub.stop()


@pytest.fixture
async def collector(broker: Mosquitto) -> AsyncIterator[Collector]:
    """The cloud side, subscribed before the test starts."""
    c = Collector(broker.port)
    await c.start()
    await c.subscribed.wait()
    yield c
    await c.stop()

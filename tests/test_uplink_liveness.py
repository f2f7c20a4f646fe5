"""A session that stops heartbeating is ended and made again.

Found at 5,000 hubs with a broker node killed (bench/README.md "Fleet at city scale"):
two hubs kept a connection for 15 minutes with no heartbeat, the centre's acks piling
up undelivered behind ten messages they never took. Each publish has its own PUBACK
timeout, but a wait before the heartbeat that never ends was caught by nothing. Real
mosquitto; the hub's own uplink.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.sim.broker import Mosquitto
from tests.conftest import Collector, HubFactory
from tests.helpers import eventually


async def test_a_session_whose_heartbeat_hangs_is_made_again(
    broker: Mosquitto,
    make_hub: HubFactory,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = await make_hub(broker.port, mqtt={"heartbeat_s": 1.0})
    await eventually(hub.uplink.connected.is_set)
    heartbeat = hub.uplink.status_payload
    hanging = asyncio.Event()

    async def hangs_once() -> dict[str, Any]:
        if not hanging.is_set():
            hanging.set()
            await asyncio.Event().wait()  # a wait that never ends
        return await heartbeat()

    hub.uplink.status_payload = hangs_once
    await eventually(hanging.is_set, timeout=5)
    attempts = hub.uplink.state.connect_attempts
    # Three heartbeat periods later the session is ended and made again.
    await eventually(lambda: hub.uplink.state.connect_attempts > attempts, timeout=15)
    await eventually(hub.uplink.connected.is_set, timeout=15)
    topic = f"pingan/v1/{hub.cfg.hub.id}/status"

    def statuses() -> list[Any]:
        return [m.json() for m in collector.messages if m.topic == topic]

    heard = len(statuses())
    await eventually(lambda: len(statuses()) > heard + 1, timeout=10)  # heartbeats again
    assert statuses()[-1]["state"] == "online"
    assert "no heartbeat PUBACKed for 3 s" in caplog.text  # said, for whoever finds out why

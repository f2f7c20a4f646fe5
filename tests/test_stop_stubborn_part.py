"""A part that turns its cancellation into an error never keeps the hub from stopping.

aiomqtt's client can turn a cancellation into MqttError (its __aexit__ waits for the
broker's goodbye), and Python 3.11's wait_for can swallow one. The supervisor took such a
part for a crashed one and restarted it, so every cancellation of the stop was undone
and the hub hung at stop until systemd killed it (seen once in CI, the uplink).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from hub.sim.broker import Mosquitto
from hub.store.outbox import Outbox
from hub.update.agent import UpdateAgent
from tests.conftest import HubFactory


async def _turns_cancel_into_error(self: UpdateAgent) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        raise RuntimeError("disconnected during the wait") from None


async def test_a_part_that_turns_its_cancellation_into_an_error_is_not_restarted_at_stop(
    make_hub: HubFactory,
    stopped_broker: Mosquitto,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(UpdateAgent, "run", _turns_cancel_into_error)
    # Restarted at once: without the fix every later cancellation lands in the part again.
    monkeypatch.setattr("hub.tasks._RESTART_DELAY_S", 0.0)
    monkeypatch.setattr("hub.tasks._STOP_GRACE_S", 0.05)
    hub = await make_hub(stopped_broker.port)
    event = await hub.alarms.raise_alarm("sos")  # the broker is down: it stays in the outbox
    assert event is not None
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(hub.stop(), timeout=30)
    assert "updates failed; restarting" not in caplog.text
    assert "updates did not stop" not in caplog.text
    outbox = Outbox(hub.cfg.data_path / "hub.db", hub.cfg.hub.id, 10**9, 100)
    try:
        assert event.id in [e.id for e in outbox.pending()]
    finally:
        outbox.close()

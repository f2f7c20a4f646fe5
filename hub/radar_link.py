"""Wiring of the radars ([[radar.devices]]) into a running hub: one serial source per
module, each feeding the same path as RFLink (`Hub.handle_reading`), silence reported
through the same call as a polled Modbus detector's (`sensor_offline` at once)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from hub.sensors.radar import MODEL_TABLE
from hub.sensors.radar_source import RadarSource

if TYPE_CHECKING:
    from hub.app import Hub

_LOGGER = logging.getLogger(__name__)


def start_radars(hub: Hub) -> dict[str, RadarSource]:
    """Start a source for every configured radar; returns them by device key (the pages
    read their live state from here)."""
    sources: dict[str, RadarSource] = {}
    for dev in hub.cfg.radar.devices:
        source = RadarSource(
            dev.port,
            MODEL_TABLE[dev.model],
            baudrate=dev.baudrate or None,
            silent_s=dev.silent_s,
            on_silent=lambda key, why: hub._polled_device_silent(None, key, why),
            monotonic=hub.clock.monotonic,
        )
        sources[source.key] = source
        if hub.registry.get(source.key) is None:
            _LOGGER.warning(
                "radar %s is not paired: its readings wait in the pairing inbox and the care "
                "checks do not see it (pingan-hub devices pair %s --kind radar --room 卫生间)",
                source.key,
                source.key,
            )
        hub._supervise(f"radar {dev.port}", _consumer(hub, source))
    return sources


def _consumer(hub: Hub, source: RadarSource) -> Callable[[], Coroutine[Any, Any, None]]:
    async def consume() -> None:
        await hub._consume(source.readings())

    return consume

"""Wiring of the radars ([[radar.devices]]) into a running hub: one serial source per
module, each feeding the same reading pipeline as RFLink (hub/services/readings.py),
silence reported through the same call as a polled Modbus detector's (`sensor_offline`
at once)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from hub.clock import Clock
from hub.sensors.radar import MODEL_TABLE, RadarDevice
from hub.sensors.radar_source import RadarSource
from hub.services.readings import ReadingPipeline
from hub.store.registry import Registry
from hub.tasks import Tasks

_LOGGER = logging.getLogger(__name__)


def start_radars(
    devices: Sequence[RadarDevice],
    *,
    clock: Clock,
    registry: Registry,
    tasks: Tasks,
    readings: ReadingPipeline,
) -> dict[str, RadarSource]:
    """Start a source for every configured radar; returns them by device key (the pages
    read their live state from here)."""
    sources: dict[str, RadarSource] = {}
    for dev in devices:
        source = RadarSource(
            dev.port,
            MODEL_TABLE[dev.model],
            baudrate=dev.baudrate or None,
            silent_s=dev.silent_s,
            on_silent=lambda key, why: readings.polled_device_silent(None, key, why),
            monotonic=clock.monotonic,
        )
        sources[source.key] = source
        if registry.get(source.key) is None:
            _LOGGER.warning(
                "radar %s is not paired: its readings wait in the pairing inbox and the care "
                "checks do not see it (pingan-hub devices pair %s --kind radar --room 卫生间)",
                source.key,
                source.key,
            )
        tasks.supervise(f"radar {dev.port}", _consumer(readings, source))
    return sources


def _consumer(
    readings: ReadingPipeline, source: RadarSource
) -> Callable[[], Coroutine[Any, Any, None]]:
    async def consume() -> None:
        await readings.consume(source.readings())

    return consume

"""Wiring of the RS-485 detectors ([modbus]) into a running hub: one polled bus, its
readings fed to the reading pipeline like RFLink's, a detector that stops answering
reported at once (`sensor_offline`) if it is paired."""

from __future__ import annotations

import logging

from hub.clock import Clock
from hub.config import RunningConfig
from hub.services.readings import ReadingPipeline
from hub.store.registry import Registry
from hub.tasks import Tasks

_LOGGER = logging.getLogger(__name__)


def start_modbus(
    running: RunningConfig,
    *,
    clock: Clock,
    registry: Registry,
    tasks: Tasks,
    readings: ReadingPipeline,
) -> None:
    """Poll the RS-485 detectors; pymodbus is imported only when one is set."""
    from hub.sensors.modbus_source import ModbusSource

    cfg = running.cfg
    bus = ModbusSource(
        cfg.modbus, on_silent=readings.polled_device_silent, monotonic=clock.monotonic
    )
    for det in cfg.modbus.detectors:
        if registry.get(det.key(bus.cfg.port)) is None:
            _LOGGER.warning(
                "modbus unit %d is not paired: its readings wait in the pairing inbox "
                "and raise no alarm (pingan-hub devices pair %s --kind %s)",
                det.unit,
                det.key(bus.cfg.port),
                det.kind,
            )
    tasks.supervise("modbus", lambda: readings.consume(bus.readings()))

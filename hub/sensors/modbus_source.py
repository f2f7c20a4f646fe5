"""Modbus RTU detectors on RS-485: polled with pymodbus, decoded by `hub.sensors.modbus`.

`readings()` polls every detector each `poll_s` and yields a Reading per good answer. A
poll that gets no usable answer (no reply after pymodbus's retries, a bad CRC, which
pymodbus drops and so shows up as no reply, an exception response, a status the register
map does not know, or a port that is gone) is counted; after `offline_after` such polls in
a row `on_silent` is awaited once for that detector. The hub turns that into
`sensor_offline` at once rather than waiting for supervision's learned interval: the hub
*asked* and nobody answered, which is a fact, not a guess (a gas detector's learned
interval is floored at 25 h for sleepy radio detectors; a wired one answers every poll).

Nothing on the bus can end the loop: every pymodbus error is translated into a reason at
this boundary, logged once per outage, and a lost port is reopened with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from hub.errors import DecodeError
from hub.reading import Reading
from hub.sensors.modbus import REGISTER_FUNCTIONS, Detector, ModbusConfig, Silence, decode

_LOGGER = logging.getLogger(__name__)

# A port that cannot be opened (adapter unplugged, re-enumerating after a brown-out) is
# tried again after this, doubling per failure up to the cap: one attempt a minute at worst.
REOPEN_DELAY = 1.0
REOPEN_DELAY_MAX = 60.0

# (detector, its device key, why it is silent)
SilentHook = Callable[[Detector, str, str], Awaitable[None]]


class ModbusSource:
    """One RS-485 bus of detectors; `readings()` polls them forever."""

    def __init__(
        self,
        cfg: ModbusConfig,
        *,
        on_silent: SilentHook,
        monotonic: Callable[[], float] = time.monotonic,
        reopen_delay: float = REOPEN_DELAY,
    ) -> None:
        self.cfg = cfg
        self._on_silent = on_silent
        self._monotonic = monotonic
        self._reopen_delay = reopen_delay
        self._client: Any = None
        self.polls = 0  # requests made (bench/poll_cost.py reads it)

    async def _open(self) -> bool:
        """Open the port; False (logged) when it cannot be opened."""
        from pymodbus.client import AsyncModbusSerialClient  # lazy: only with a bus configured

        _quiet_pymodbus()
        cfg = self.cfg
        client = AsyncModbusSerialClient(
            cfg.port,
            baudrate=cfg.baudrate,
            parity=cfg.parity,
            stopbits=cfg.stopbits,
            bytesize=cfg.bytesize,
            timeout=cfg.timeout_s,
            retries=cfg.retries,
            reconnect_delay=0,  # reopening is ours: with backoff, and counted as silence
        )
        try:
            opened = await client.connect()
        except Exception as exc:  # third-party: any failure to open is "not open"
            _LOGGER.debug("modbus port open raised %r", exc)
            opened = False
        if not opened:
            client.close()
            return False
        self._client = client
        _LOGGER.info("modbus port %s open", cfg.port)
        return True

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def is_open(self) -> bool:
        """Whether the port is open and pymodbus still has its transport."""
        return self._client is not None and bool(self._client.connected)

    async def poll(self, detector: Detector) -> Reading | str:
        """One request to one detector: its Reading, or why there is none."""
        if not self.is_open:
            return "port not open"
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

        read = {
            "holding": self._client.read_holding_registers,
            "input": self._client.read_input_registers,
            "coil": self._client.read_coils,
            "discrete": self._client.read_discrete_inputs,
        }[detector.function]
        self.polls += 1
        try:
            reply = await read(detector.start, count=detector.count, device_id=detector.unit)
        except ModbusIOException:
            return "no answer"
        except ConnectionException:
            self._close()
            return "port lost"
        except (ModbusException, OSError, ValueError) as exc:
            return f"bus error: {type(exc).__name__}"
        if reply.isError():
            return f"exception code {getattr(reply, 'exception_code', '?')} from the detector"
        values = reply.registers if detector.function in REGISTER_FUNCTIONS else reply.bits
        try:
            return decode(detector, self.cfg.port, values)
        except DecodeError as exc:
            return str(exc)

    async def readings(self) -> AsyncIterator[Reading]:
        """Poll every detector each poll_s; yield good answers; report silence once."""
        cfg = self.cfg
        silence = Silence(cfg.offline_after)
        delay, next_open = self._reopen_delay, 0.0
        try:
            while True:
                started = self._monotonic()
                if not self.is_open:
                    if self._client is not None:
                        _LOGGER.warning("modbus port %s lost; reopening", cfg.port)
                        self._close()
                    if started >= next_open:
                        if await self._open():
                            delay = self._reopen_delay
                        else:
                            _LOGGER.warning(
                                "modbus port %s not opened; retry in %.0f s", cfg.port, delay
                            )
                            next_open = started + delay
                            delay = min(delay * 2, REOPEN_DELAY_MAX)
                for det in cfg.detectors:
                    key = det.key(cfg.port)
                    outcome = await self.poll(det)
                    if isinstance(outcome, Reading):
                        if silence.failures(key):
                            _LOGGER.info(
                                "modbus unit %d answers again after %d failed polls",
                                det.unit,
                                silence.failures(key),
                            )
                        silence.answered(key)
                        yield outcome
                        continue
                    if silence.failures(key) == 0:  # once per outage, not every poll_s
                        _LOGGER.warning("modbus unit %d: %s", det.unit, outcome)
                    if silence.failed(key):
                        _LOGGER.error(
                            "modbus unit %d silent for %d polls: %s",
                            det.unit,
                            cfg.offline_after,
                            outcome,
                        )
                        await self._on_silent(det, key, outcome)
                elapsed = self._monotonic() - started
                await asyncio.sleep(max(0.0, cfg.poll_s - elapsed))
        finally:
            self._close()


def _quiet_pymodbus() -> None:
    """pymodbus logs an ERROR for every unanswered request; a dead detector polled every
    2 s would write one to the journal (on an SD card) every 2 s. This module logs each
    outage once instead. An explicitly configured pymodbus level is left alone."""
    pm = logging.getLogger("pymodbus")
    if pm.level == logging.NOTSET:
        pm.setLevel(logging.CRITICAL)

"""Modbus RTU detectors on a real serial line: pymodbus's own RTU server plays the gas
detector on one pseudo-terminal, the hub polls it through another, and a relay between
the two masters is the RS-485 wire (it can carry noise, and be unplugged).

Real protocol at both ends: the hub's pymodbus client and pymodbus's server exchange RTU
frames with CRCs, byte for byte, over the kernel's tty layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hub.app import Hub
from hub.control import call
from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually

UNIT = 3
NORMAL = [0, 11]  # status 0, 1.1 %LEL
ALARM = [2, 57]  # status 2 (alarm), 5.7 %LEL
FAULT = [3, 0]
DETECTOR = {
    "unit": UNIT,
    "kind": "gas",
    "address": 0,
    "alarm": [2],
    "fault": [3],
    "tamper": [4],
    "normal": [0, 1],
    "concentration_address": 1,
    "scale": 0.1,
    "concentration_unit": "%LEL",
}


def _pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no CR/LF translation: a wire carries bytes as they are
    os.set_blocking(master, False)
    return master, slave


class Wire:
    """Two pty pairs joined at their masters. The hub opens `port`, a symlink like
    /dev/serial/by-id/...; the detector opens `detector_port`."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.get_running_loop()
        self.echo = False  # an adapter whose receiver hears its own transmission
        self.port = str(tmp / "rs485")
        self._hub = _pty()
        self._det = _pty()
        self.detector_port = os.ttyname(self._det[1])
        os.symlink(os.ttyname(self._hub[1]), self.port)
        self._join()

    def _join(self) -> None:
        self.loop.add_reader(self._hub[0], self._carry, self._hub[0], self._det[0])
        self.loop.add_reader(self._det[0], self._carry, self._det[0], self._hub[0])

    def _carry(self, src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
            os.write(dst, data)
            if self.echo and src == self._hub[0]:
                os.write(src, data)
        except OSError:
            pass  # a side closed (unplugged): the bytes are lost, as on a cut wire

    def noise(self, data: bytes) -> None:
        """Bytes on the line as the hub's adapter hears them (interference, a bad node)."""
        os.write(self._hub[0], data)

    def unplug(self) -> None:
        """The hub's USB/RS-485 adapter is pulled: its tty goes away."""
        self.loop.remove_reader(self._hub[0])
        self.loop.remove_reader(self._det[0])
        os.close(self._hub[0])
        os.close(self._hub[1])
        os.unlink(self.port)

    def replug(self) -> None:
        """The adapter comes back (possibly as another tty; the by-id link follows it)."""
        self._hub = _pty()
        os.symlink(os.ttyname(self._hub[1]), self.port)
        self._join()

    def close(self) -> None:
        for fd in (*self._hub, *self._det):
            self.loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)


class GasDetector:
    """pymodbus's RTU server holding a gas detector's registers (unit 3)."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.requests = 0
        self.server: ModbusSerialServer | None = None
        self.registers = list(NORMAL)

    def _trace(self, sending: bool, pdu: Any) -> Any:
        if not sending:
            self.requests += 1
        return pdu

    async def start(self) -> None:
        def block(values: list[Any], datatype: DataType) -> list[SimData]:
            return [SimData(0, values=values, datatype=datatype)]

        device = SimDevice(
            UNIT,
            simdata=(
                block([False] * 8, DataType.BITS),
                block([False] * 8, DataType.BITS),
                block([*self.registers, 0, 0], DataType.REGISTERS),
                block([0] * 4, DataType.REGISTERS),
            ),
        )
        self.server = ModbusSerialServer(
            device, framer=FramerType.RTU, port=self.port, baudrate=9600, trace_pdu=self._trace
        )
        await self.server.serve_forever(background=True)

    async def show(self, registers: list[int]) -> None:
        """What the detector's status and concentration registers now hold."""
        self.registers = list(registers)
        assert self.server is not None
        await self.server.async_setValues(UNIT, 3, 0, registers)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    async def polls(self, more: int) -> None:
        """Wait until the hub has asked `more` further times."""
        target = self.requests + more
        await eventually(lambda: self.requests >= target)


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[Wire]:
    w = Wire(tmp_path)
    yield w
    w.close()


@pytest.fixture
async def detector(wire: Wire) -> AsyncIterator[GasDetector]:
    det = GasDetector(wire.detector_port)
    await det.start()
    yield det
    await det.stop()


async def hub_on(make_hub: HubFactory, broker: Mosquitto, wire: Wire, **bus: Any) -> Hub:
    """A hub polling the wire fast, with the kitchen gas detector paired."""
    modbus = {
        "port": wire.port,
        "poll_s": 0.2,
        "timeout_s": 0.2,
        "retries": 0,
        "offline_after": 3,
        "detectors": [DETECTOR],
        **bus,
    }
    hub = await make_hub(broker.port, modbus=modbus)
    await asyncio.to_thread(
        call,
        hub.cfg.control_socket,
        "pair",
        key=f"modbus:{wire.port}:{UNIT}",
        kind="gas",
        name="燃气探测器",
        room="厨房",
    )
    return hub


async def test_a_gas_alarm_register_reaches_the_centre_as_one_gas_alarm_from_the_kitchen(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    await hub_on(make_hub, broker, wire)
    await detector.polls(3)
    assert collector.events("gas") == []  # "normal" every poll raises nothing
    await detector.show(ALARM)
    [gas] = await collector.wait_event("gas")
    assert gas["priority"] == 0
    assert gas["source"] == {
        "device": f"modbus:{wire.port}:{UNIT}",
        "name": "燃气探测器",
        "room": "厨房",
        "protocol": "modbus",
    }
    await detector.polls(10)  # the register still says alarm: still one alarm
    assert len(collector.events("gas")) == 1
    await detector.show(NORMAL)
    await detector.polls(3)
    await detector.show(ALARM)  # cleared, then alarming again: a new alarm
    await collector.wait_event("gas", count=2)


async def test_a_detector_that_stops_answering_is_offline_once_and_restored_when_back(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    await hub_on(make_hub, broker, wire)
    await detector.polls(3)
    await detector.stop()
    [offline] = await collector.wait_event("sensor_offline")
    assert offline["source"]["device"] == f"modbus:{wire.port}:{UNIT}"
    assert offline["source"]["room"] == "厨房"
    assert offline["data"]["reason"] == "no answer"
    await asyncio.sleep(1.0)  # five more unanswered polls
    assert len(collector.events("sensor_offline")) == 1
    await detector.start()
    [restored] = await collector.wait_event("sensor_restored")
    assert restored["source"]["device"] == f"modbus:{wire.port}:{UNIT}"
    await detector.show(ALARM)  # and it is watched again
    await collector.wait_event("gas")
    assert len(collector.events("sensor_offline")) == 1


async def test_noise_on_the_line_does_not_stop_polling_or_hide_an_alarm(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    hub = await hub_on(make_hub, broker, wire, offline_after=10)
    noise = [
        b"\x00\xff\xfe\x13",
        bytes(range(256)),
        bytes.fromhex("030304000200"),  # a reply cut short
        bytes.fromhex("03030400020039b822"),  # a reply with a bad CRC
        bytes.fromhex("0703020001"),  # a fragment for another unit
        b"\x03" * 40,
    ]
    for _ in range(5):
        for burst in noise:
            wire.noise(burst)
            await asyncio.sleep(0.05)
    await detector.show(ALARM)
    [gas] = await collector.wait_event("gas")
    assert gas["source"]["room"] == "厨房"
    assert collector.events("sensor_offline") == []
    assert (await hub.report.status())["uplink"]["connected"]


async def test_a_detector_fault_and_its_repair_are_reported_once_each(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    await hub_on(make_hub, broker, wire)
    await detector.show(FAULT)
    [fault] = await collector.wait_event("fault")
    assert fault["data"]["state"] == "fault" and fault["source"]["room"] == "厨房"
    await detector.polls(5)
    await detector.show(NORMAL)
    await collector.wait_event("fault", count=2)
    assert [e["data"]["state"] for e in collector.events("fault")] == ["fault", "cleared"]
    assert collector.events("gas") == []


async def test_an_unplugged_adapter_is_reopened_and_its_detector_comes_back(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    await hub_on(make_hub, broker, wire)
    await detector.polls(3)
    wire.unplug()
    [offline] = await collector.wait_event("sensor_offline")
    assert offline["data"]["reason"] in ("port not open", "no answer", "port lost")
    wire.replug()
    await collector.wait_event("sensor_restored", timeout=15)
    await detector.show(ALARM)
    await collector.wait_event("gas")


async def test_an_adapter_that_echoes_its_requests_still_reads_the_detector(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    # pymodbus's RTU framer drops the echoed request (its CRC does not fit a reply's
    # layout) and finds the reply behind it: no adapter option is needed for reads.
    wire.echo = True
    await hub_on(make_hub, broker, wire)
    await detector.show(ALARM)
    [gas] = await collector.wait_event("gas")
    assert gas["source"]["room"] == "厨房"
    assert collector.events("sensor_offline") == []


async def test_a_detector_the_installer_did_not_pair_waits_in_the_inbox_and_raises_nothing(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    wire: Wire,
    detector: GasDetector,
) -> None:
    hub = await make_hub(
        broker.port,
        modbus={"port": wire.port, "poll_s": 0.2, "timeout_s": 0.2, "detectors": [DETECTOR]},
    )
    await detector.show(ALARM)
    await detector.polls(5)
    listing = await asyncio.to_thread(call, hub.cfg.control_socket, "devices")
    assert [h["key"] for h in listing["inbox"]] == [f"modbus:{wire.port}:{UNIT}"]
    assert listing["devices"] == []
    assert collector.events("gas") == []

"""The contract of every paired kind on every source, through the real hub: real bleak on
the mocked BlueZ for BTHome, an RFLink gateway on a pty, pymodbus's RTU server on a pty
wire, the hub's own GPIO buttons; events counted where the alarm centre gets them.

Each row runs one story. What the device says, step by step:

    nothing       a battery-only report                      nothing happens
    alarm         the detector alarms / the contact opens /  one alarm (detectors: their
                  motion is seen / the key is pressed         kind; pendants and bands: SOS)
    alarm         the same again (a detector repeats)        nothing new: the same episode
    other         another measurement (a temperature; a      nothing
                  Modbus detector in fault)
    restart       the hub stops and starts again             the episode and the last state
                                                             are still known
    alarm         the same alarm still going                 nothing new
    resolve       the centre closes the alarms it has        (the operator's side)
    clear         all clear / closed / still / released      no alarm; the episode ends
    nothing       a battery-only report                      nothing
    alarm         it alarms again                            a new alarm: two in all

Door, motion and generic sensors never raise an alarm; a door's and a detector's last
state is kept by the registry across the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.reading import Reading
from hub.sim.broker import Mosquitto
from tests.bluez_mock import MockBlueZ, bluez_fixture  # noqa: F401
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually
from tests.test_modbus_bus import UNIT, GasDetector, Wire
from tests.test_spine import press

# What the centre receives when a device paired as this kind alarms (None: no alarm).
ALARM_EVENT: dict[str, str | None] = {
    "smoke": "smoke",
    "gas": "gas",
    "co": "co",
    "water": "water",
    "button": "sos",
    "wearable": "sos",
    "door": None,
    "motion": None,
    "sensor": None,
}
# Kinds whose last state (alarm/clear) the registry keeps and the table checks.
STATEFUL = ("smoke", "gas", "co", "water", "door", "motion")
STORY = (
    "nothing",
    "alarm",
    "alarm",
    "other",
    "restart",
    "alarm",
    "resolve",
    "clear",
    "nothing",
    "alarm",
)


# -- the sources --------------------------------------------------------------------------


class Source:
    """One source driven by the test: `key` is what the installer types when pairing."""

    key: str = ""
    config: dict[str, Any] = {}  # noqa: RUF012 - each source sets its own

    async def ready(self, hub: Hub) -> None:
        """Wait until the hub listens to this source."""

    async def say(self, hub: Hub, handled: list[Reading], what: str) -> None:
        """The device says `what` (alarm, clear, nothing, other); returns once handled."""
        raise NotImplementedError


async def heard(handled: list[Reading], device: str, before: int, more: int = 1) -> None:
    """Wait until the hub has handled `more` further readings of `device`."""
    await eventually(lambda: sum(r.device == device for r in handled) >= before + more)


BTHOME_BINARY = {  # bthome.io object ids of each kind's on/off sensor
    "smoke": 0x29,
    "gas": 0x1C,
    "co": 0x17,
    "water": 0x20,
    "door": 0x11,
    "motion": 0x21,
    "sensor": 0x0F,  # a generic boolean
}
BTHOME_ADDRESS = "A4:C1:38:8D:18:B2"


@dataclass
class BTHome(Source):
    """A BTHome device advertising through real bleak and the mocked BlueZ."""

    bluez: MockBlueZ
    kind: str
    packet: int = 0
    config: dict[str, Any] = field(default_factory=lambda: {"ble": {"enabled": True}})
    # As printed on the box's label: lower case (the scanner reports upper case).
    key: str = BTHOME_ADDRESS.lower()

    async def ready(self, hub: Hub) -> None:
        assert hub.ble is not None
        await eventually(lambda: hub.ble is not None and hub.ble.source.scanning)
        if BTHOME_ADDRESS not in self.bluez.paths:
            await asyncio.to_thread(self.bluez.add_device, BTHOME_ADDRESS, "SBBT-002C")

    def advert(self, what: str) -> bytes:
        self.packet += 1  # a new advert each time, never a radio repeat of the last one
        objects = b"\x00" + bytes([self.packet]) + b"\x01\x50"  # packet id, battery 80 %
        if what == "other":
            objects += b"\x02\xca\x09"  # 25.06 °C
        elif what in ("alarm", "clear") and self.kind in ("button", "wearable"):
            objects += b"\x3a" + (b"\x01" if what == "alarm" else b"\x00")  # press / none
        elif what in ("alarm", "clear"):
            objects += bytes([BTHOME_BINARY[self.kind], what == "alarm"])
        return b"\x40" + objects

    async def say(self, hub: Hub, handled: list[Reading], what: str) -> None:
        before = sum(r.device == BTHOME_ADDRESS for r in handled)
        await self.bluez.advertise_async(BTHOME_ADDRESS, self.advert(what), rssi=-55)
        await heard(handled, BTHOME_ADDRESS, before)


RFLINK_LINES = {  # per kind: the gateway's line for alarm, clear and a battery report
    "smoke": ("Alecto V4;ID=0003;SMOKEALERT=ON", "Alecto V4;ID=0003;SMOKEALERT=OFF"),
    "motion": ("Eurodomest;ID=000111;PIR=ON", "Eurodomest;ID=000111;PIR=OFF"),
}
RFLINK_CONTACT = ("Chuango;ID=0b2c3d;SWITCH=03;CMD=ON", "Chuango;ID=0b2c3d;SWITCH=03;CMD=OFF")


@dataclass
class RFLink(Source):
    """A 433 MHz device heard through an RFLink gateway on a pseudo-terminal."""

    master: int
    port: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    sent: int = 0

    def __post_init__(self) -> None:
        self.config = {"rflink": {"port": self.port}}
        alarm, _ = RFLINK_LINES.get(self.kind, RFLINK_CONTACT)
        name, ident = alarm.split(";")[:2]
        rest = alarm.split(";")[2]
        switch = rest.split("=")[1] if rest.startswith("SWITCH") else ""
        # Typed as the gateway prints it (mixed case); the decoder reports lower case.
        self.key = f"rflink:{name}:{ident.split('=')[1]}" + (f":{switch}" if switch else "")

    async def ready(self, hub: Hub) -> None:
        await asyncio.sleep(0.5)  # the port is open (pyserial flushes its input on open)

    def line(self, what: str) -> bytes:
        alarm, clear = RFLINK_LINES.get(self.kind, RFLINK_CONTACT)
        base = ";".join(p for p in alarm.split(";") if not p.startswith(("SMOKE", "PIR", "CMD")))
        body = {
            "alarm": alarm,
            "clear": clear,
            "nothing": f"{base};BAT=LOW",
            "other": f"{base};BAT=OK",
        }[what]
        self.sent += 1
        return f"20;{self.sent % 256:02X};{body};\r\n".encode()

    async def say(self, hub: Hub, handled: list[Reading], what: str) -> None:
        device = self.key.lower()
        before = sum(r.device == device for r in handled)
        os.write(self.master, self.line(what))
        await heard(handled, device, before)


MODBUS_REGISTERS = {"alarm": [2, 57], "clear": [0, 11], "nothing": [3, 0], "other": [3, 1]}


@dataclass
class Modbus(Source):
    """A wired detector polled over RS-485: pymodbus's RTU server on a pty wire."""

    wire: Wire
    detector: GasDetector
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    def __post_init__(self) -> None:
        self.key = f"modbus:{self.wire.port}:{UNIT:02d}"  # a unit typed with a leading 0
        detector = {
            "unit": UNIT,
            "kind": self.kind,
            "address": 0,
            "alarm": [2],
            "fault": [3],
            "normal": [0, 1],
            "concentration_address": 1,
        }
        self.config = {
            "modbus": {
                "port": self.wire.port,
                "poll_s": 0.2,
                "timeout_s": 0.2,
                "retries": 0,
                "detectors": [detector],
            }
        }

    async def say(self, hub: Hub, handled: list[Reading], what: str) -> None:
        registers = MODBUS_REGISTERS[what]
        device = f"modbus:{self.wire.port}:{UNIT}"

        def answers() -> int:
            return sum(r.device == device and r.values["raw"] == registers[0] for r in handled)

        before = answers()
        await self.detector.show(registers)
        await eventually(lambda: answers() >= before + 2)  # polled twice with the new status


class Gpio(Source):
    """The hub's own red button (never paired: it is always an SOS)."""

    key = ""

    async def say(self, hub: Hub, handled: list[Reading], what: str) -> None:
        if what == "alarm":
            before = len(handled)
            await press(hub, "sos")
            await eventually(lambda: len(handled) > before)
        # A hub button says only "pressed": no all-clear, no battery.


# -- the story ----------------------------------------------------------------------------


@dataclass
class Story:
    """One row of the table: a hub, its source and device, and what the centre got."""

    make_hub: HubFactory
    broker: Mosquitto
    collector: Collector
    source: Source
    kind: str
    hub: Hub | None = None
    handled: list[Reading] = field(default_factory=list)

    async def start(self) -> Hub:
        hub = await self.make_hub(self.broker.port, **self.source.config)
        self.hub = hub
        for name in ("handle_reading", "handle_button"):  # count what the hub finished
            original = getattr(hub.readings, name)

            async def counted(reading: Reading, original: Any = original) -> None:
                await original(reading)
                self.handled.append(reading)

            setattr(hub.readings, name, counted)
        await self.source.ready(hub)
        return hub

    def device(self, hub: Hub) -> Any:
        return hub.registry.get(self.source.key) if self.source.key else None

    def alarms(self) -> list[str]:
        """Distinct alarm ids the centre received (an unanswered alarm is resent)."""
        ids = [e["id"] for e in self.collector.events() if e["priority"] == 0]
        return list(dict.fromkeys(ids))

    async def committed_alarms(self, hub: Hub) -> int:
        return sum(1 for row in await hub.outbox.recent(1000) if int(row.event.priority) == 0)


# [modbus] maps detectors only: a door or a pendant is not on an RS-485 bus; the hub's
# own buttons are not paired (the red one is always an SOS).
ALL_KINDS = tuple(ALARM_EVENT)
MODBUS_KINDS = ("smoke", "gas", "co", "water")


@pytest.fixture
def gateway() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


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


@dataclass
class Centre:
    """The broker, the alarm centre listening on it, and the hubs the test starts."""

    broker: Mosquitto
    collector: Collector
    make_hub: HubFactory


@pytest.fixture
def centre(broker: Mosquitto, collector: Collector, make_hub: HubFactory) -> Centre:
    return Centre(broker, collector, make_hub)


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_bthome_device_of_each_kind_keeps_the_contract(
    kind: str,
    bluez: MockBlueZ,  # before `centre`: the hub stops before BlueZ goes away
    centre: Centre,
) -> None:
    await tell_the_story(BTHome(bluez, kind), kind, centre)


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_rflink_device_of_each_kind_keeps_the_contract(
    kind: str, gateway: tuple[int, str], centre: Centre
) -> None:
    await tell_the_story(RFLink(*gateway, kind), kind, centre)


@pytest.mark.parametrize("kind", MODBUS_KINDS)
async def test_modbus_detector_of_each_kind_keeps_the_contract(
    kind: str, wire: Wire, detector: GasDetector, centre: Centre
) -> None:
    await tell_the_story(Modbus(wire, detector, kind), kind, centre)


async def test_the_hubs_red_button_keeps_the_contract(centre: Centre) -> None:
    await tell_the_story(Gpio(), "button", centre)


async def tell_the_story(source: Source, kind: str, centre: Centre) -> None:
    """Run STORY for one paired device and check each step (see the module docstring)."""
    collector = centre.collector
    story = Story(centre.make_hub, centre.broker, collector, source, kind)
    hub = await story.start()
    if source.key:
        await hub.devices.pair(source.key, kind, "测试", "家")
    event = ALARM_EVENT[kind]
    expected = 0
    episode = False  # whether the device is alarming now
    for what in STORY:
        if what == "restart":
            before = story.device(hub)
            await hub.stop()
            hub = await story.start()
            after = story.device(hub)
            assert (after.state if after else None) == (before.state if before else None)
            if kind in STATEFUL:
                assert hub.care.engine.hazards.in_alarm(after.key) == (
                    episode and event is not None
                )
            continue
        if what == "resolve":  # the operator closes what the centre has
            for alarm_id in story.alarms():
                await collector.publish(
                    f"pingan/v1/{HUB_ID}/ack", json.dumps({"id": alarm_id, "state": "resolved"})
                )
            await eventually(
                lambda h=hub: not any(a.is_open for a in h.alarms.book.alarms.values())
            )
            continue
        await source.say(hub, story.handled, what)
        if what == "alarm" and not episode and event is not None:
            expected += 1
        if what in ("alarm", "clear"):
            episode = what == "alarm"
        assert await story.committed_alarms(hub) == expected, (what, kind)
        if kind in STATEFUL and what in ("alarm", "clear"):
            device = story.device(hub)
            assert device.state == ("alarm" if what == "alarm" else "clear")
            assert hub.care.engine.hazards.in_alarm(device.key) == (episode and event is not None)
    # At the centre: exactly the alarms the story calls for, of the paired kind.
    if expected:
        await collector.wait_event(event or "", count=expected)
    await hub.events.commit_or_hold(_marker(hub))
    await collector.wait_event("walk_test")  # telemetry after them: every alarm has arrived
    assert len(story.alarms()) == expected
    kinds = {e["kind"] for e in collector.events() if e["priority"] == 0}
    assert kinds == ({event} if expected else set())


def _marker(hub: Hub) -> Any:
    from hub.event import Draft, Priority

    return Draft.create("walk_test", hub.clock, data={"marker": True}, priority=Priority.TELEMETRY)

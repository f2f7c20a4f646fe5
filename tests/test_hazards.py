"""A hazard is an episode: a detector's alarm raises one alarm, its repeats none, its
all-clear ends the episode and a later alarm raises a new one; battery reports and other
measurements change nothing; a restart in the middle changes nothing either. Fed with
readings decoded from real protocol bytes, through the whole care engine."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.care.config import CareConfig
from hub.care.engine import CareEngine
from hub.care.hazards import HazardCheck
from hub.clock import FakeClock
from hub.event import Source
from hub.reading import Reading, State
from hub.sensors import modbus, rflink
from hub.sensors.attribute import attribute
from hub.sensors.bthome import decode_advert
from hub.sim.broker import Mosquitto
from hub.store import riders
from tests.conftest import HubFactory
from tests.fuzzing import examples

ADDRESS = "A4:C1:38:8D:18:B2"
GAS_DETECTOR = modbus.Detector(unit=3, kind="gas", alarm=(2,), fault=(3,), normal=(0, 1))


def bthome(packet: int, *objects: bytes) -> Reading:
    """A smoke detector's advert: packet id, battery, then its objects (bthome.io ids)."""
    data = b"\x44\x00" + bytes([packet % 256]) + b"\x01\x50" + b"".join(objects)
    return decode_advert(data, address=ADDRESS)


# Per source, what the detector sends for each step: the reading it decodes into.
SOURCES: dict[str, tuple[str, dict[str, Callable[[int], Reading]]]] = {
    "bthome smoke detector": (
        "smoke",
        {
            "alarm": lambda n: bthome(n, b"\x29\x01"),
            "clear": lambda n: bthome(n, b"\x29\x00"),
            "battery": bthome,
            "temperature": lambda n: bthome(n, b"\x02\xca\x09"),
        },
    ),
    "rflink contact paired as gas": (
        "gas",
        {
            "alarm": lambda _: rflink.decode(b"20;01;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;"),
            "clear": lambda _: rflink.decode(b"20;02;Chuango;ID=0b2c3d;SWITCH=03;CMD=OFF;"),
            "battery": lambda _: rflink.decode(b"20;03;Chuango;ID=0b2c3d;SWITCH=03;BAT=LOW;"),
            "temperature": lambda _: rflink.decode(b"20;04;Chuango;ID=0b2c3d;SWITCH=03;CMD=UP;"),
        },
    ),
    "modbus gas detector": (
        "gas",
        {
            "alarm": lambda _: modbus.decode(GAS_DETECTOR, "/dev/rs485", [2]),
            "clear": lambda _: modbus.decode(GAS_DETECTOR, "/dev/rs485", [0]),
            "battery": lambda _: modbus.decode(GAS_DETECTOR, "/dev/rs485", [3]),  # fault
            "temperature": lambda _: modbus.decode(GAS_DETECTOR, "/dev/rs485", [1]),  # normal
        },
    ),
}
STEPS = st.lists(st.sampled_from(["alarm", "clear", "battery", "temperature", "restart"]))


@settings(max_examples=examples(300), deadline=None)
@given(source=st.sampled_from(sorted(SOURCES)), steps=STEPS)
def test_alarms_raised_are_the_clear_to_alarm_transitions_never_more_never_fewer(
    source: str, steps: list[str]
) -> None:
    kind, sends = SOURCES[source]
    clock = FakeClock()
    cfg = CareConfig(checkin_enabled=False)
    engine = CareEngine(cfg, clock)
    raised = 0
    expected = 0
    last: State | None = None  # what the detector last said (None: nothing yet)
    for n, step in enumerate(steps):
        clock.advance(7)
        if step == "restart":  # the hub restarts: care state saved and restored, reconciled
            engine = CareEngine.from_dict(cfg, clock, engine.to_dict())
            paired = {reading_key(sends, kind): kind}
            assert engine.hazards.reconcile(paired) == []
            continue
        reading = attribute(sends[step](n), kind)
        out = engine.feed(reading)
        raised += len([d for d in out.drafts if d.kind == kind])
        if reading.state is State.ALARM and last is not State.ALARM:
            expected += 1
        if reading.state is not None:
            last = reading.state
    assert raised == expected


def reading_key(sends: dict[str, Callable[[int], Reading]], kind: str) -> str:
    return attribute(sends["alarm"](0), kind).device


def alarm(device: str, kind: str = "smoke", state: State | None = State.ALARM) -> Reading:
    return Reading(device=device, protocol="bthome", kind=kind, state=state)


def test_a_removed_detector_leaves_no_episode_and_its_next_alarm_raises_again() -> None:
    clock, check = FakeClock(), HazardCheck()
    assert check.feed(alarm(ADDRESS), clock, Source(ADDRESS)).drafts
    assert check.in_alarm(ADDRESS)
    assert check.forget(ADDRESS) == [f"smoke:{ADDRESS}"]  # `devices remove`
    assert not check.in_alarm(ADDRESS)
    assert check.feed(alarm(ADDRESS), clock, Source(ADDRESS)).drafts  # paired again: heard


def test_at_start_only_episodes_of_devices_still_paired_as_that_detector_are_kept() -> None:
    check = HazardCheck()
    check.restore(
        {
            "active": [
                f"smoke:{ADDRESS}",  # still paired as smoke
                "gas:rflink:Chuango:0b2c3d:03",  # saved by an older hub: respelled
                "water:AA:BB:CC:DD:EE:FF",  # removed while in alarm
                "gas:rflink:eurodomest:123456:01",  # re-paired as a door
            ]
        }
    )
    dropped = check.reconcile(
        {
            ADDRESS: "smoke",
            "rflink:chuango:0b2c3d:03": "gas",
            "rflink:eurodomest:123456:01": "door",
        }
    )
    assert dropped == ["gas:rflink:eurodomest:123456:01", "water:AA:BB:CC:DD:EE:FF"]
    assert check.to_dict() == {"active": ["gas:rflink:chuango:0b2c3d:03", f"smoke:{ADDRESS}"]}


def test_a_reading_that_says_nothing_never_starts_or_ends_an_episode() -> None:
    clock, check = FakeClock(), HazardCheck()
    for kind in ("smoke", "gas", "co", "water"):
        assert check.feed(alarm(ADDRESS, kind, None), clock, Source(ADDRESS)).drafts == []
    assert check.to_dict() == {"active": []}
    check.feed(alarm(ADDRESS, "co"), clock, Source(ADDRESS))
    check.feed(alarm(ADDRESS, "co", None), clock, Source(ADDRESS))
    assert check.in_alarm(ADDRESS)


async def test_an_episodes_end_is_on_disk_at_once_so_a_power_cut_cannot_leave_it_deaf(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    # After alarm and all-clear, the power goes (kill -9): what the next boot reads is
    # care state as it is on the card now. Were the clear not in it, the detector
    # would come back "still in alarm" and its next alarm would raise nothing.
    hub = await make_hub(broker.port)
    gas = "rflink:chuango:0b2c3d:03"
    await hub.devices.pair(gas, "gas", "燃气", "厨房")

    async def on_disk() -> list[str]:  # the outbox's file as it is now
        text = await hub.outbox._run(riders.load_state, hub.outbox.sync._db, "care")
        return list(json.loads(text or "{}")["hazards"]["active"])

    await hub.readings.handle_reading(rflink.decode(b"20;01;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;"))
    assert await on_disk() == [f"gas:{gas}"]
    await hub.readings.handle_reading(rflink.decode(b"20;02;Chuango;ID=0b2c3d;SWITCH=03;CMD=OFF;"))
    assert await on_disk() == []

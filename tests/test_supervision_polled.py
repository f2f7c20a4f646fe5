"""Supervision of polled detectors: a detector that does not answer is offline at once (not
after a learned interval), once per outage; tamper and fault are reported when they start,
not on every poll that repeats them."""

from __future__ import annotations

from hub.clock import FakeClock
from hub.reading import Reading
from hub.sensors.supervision import Health, Notice, Supervisor

KEY = "modbus:/dev/ttyUSB0:3"


def gas(**values: object) -> Reading:
    return Reading(
        device=KEY,
        protocol="modbus",
        kind="gas",
        values={"alarm": False, "fault": False, "tamper": False, "raw": 0, **values},
    )


def test_a_detector_that_stops_answering_is_offline_once_and_restored_when_it_answers() -> None:
    clock, sup = FakeClock(), Supervisor()
    sup.observe(gas(), clock.monotonic())
    clock.advance(6)
    assert sup.silent(KEY, "gas", clock.monotonic(), {"reason": "no answer"}) == [
        Notice("sensor_offline", KEY, {"silent_s": 6, "reason": "no answer"})
    ]
    clock.advance(2)
    assert sup.silent(KEY, "gas", clock.monotonic()) == []
    assert sup.health(KEY) is Health.OFFLINE
    clock.advance(30)
    assert sup.observe(gas(), clock.monotonic()) == [
        Notice("sensor_restored", KEY),
        Notice("gas", KEY, {"values": gas().values, "count": 1}),
    ]
    assert sup.health(KEY) is Health.ONLINE


def test_a_detector_dead_since_boot_is_still_reported_offline() -> None:
    clock, sup = FakeClock(), Supervisor()
    assert [n.kind for n in sup.silent(KEY, "gas", clock.monotonic())] == ["sensor_offline"]


def test_an_open_cover_is_one_tamper_event_however_many_polls_repeat_it() -> None:
    clock, sup = FakeClock(), Supervisor()
    out: list[Notice] = []
    for _ in range(10):
        out += sup.observe(gas(tamper=True, raw=4), clock.monotonic())
        clock.advance(2)
    out += sup.observe(gas(), clock.monotonic())
    out += sup.observe(gas(tamper=True, raw=4), clock.monotonic())
    assert [n.kind for n in out if n.kind == "tamper"] == ["tamper", "tamper"]


def test_a_sensor_fault_is_reported_when_it_starts_and_when_it_clears() -> None:
    clock, sup = FakeClock(), Supervisor()
    out: list[Notice] = []
    for reading in [gas(), gas(fault=True, raw=3), gas(fault=True, raw=3), gas(), gas()]:
        out += [n for n in sup.observe(reading, clock.monotonic()) if n.kind == "fault"]
        clock.advance(2)
    assert [n.data["state"] for n in out] == ["fault", "cleared"]
    assert out[0] == Notice(
        "fault",
        KEY,
        {"component": "sensor", "state": "fault", "values": gas(fault=True, raw=3).values},
    )

"""Supervision stories: silent sensors, flat batteries and chattering contacts, on a fake clock."""

from __future__ import annotations

from hub.clock import FakeClock
from hub.event import Draft, Source
from hub.reading import Reading
from hub.sensors.supervision import (
    DEFAULT_FLOOR,
    MARGIN,
    Health,
    Notice,
    Supervisor,
)

DOOR = Reading(
    device="rflink:Eurodomest:123456:01", protocol="rflink", kind="door", values={"command": "on"}
)
SMOKE = Reading(
    device="rflink:Alecto V4:0003", protocol="rflink", kind="smoke", values={"smokealert": "on"}
)
THERMOMETER = Reading(
    device="A4:C1:38:0D:2E:11", protocol="bthome", kind="sensor", values={"temperature": 21.5}
)
FLAT = Reading(
    device="rflink:Chuango:0a1b2c:02",
    protocol="rflink",
    kind="button",
    values={"command": "allon", "battery_low": True},
)


def run_silence(
    sup: Supervisor, clock: FakeClock, seconds: float, step: float = 60.0
) -> list[Notice]:
    """Advance the clock in ticks of `step`, collecting what supervision says."""
    out: list[Notice] = []
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        clock.advance(step)
        out.extend(sup.tick(clock.monotonic()))
    return out


def test_a_thermometer_that_goes_silent_is_reported_offline_exactly_once() -> None:
    clock, sup = FakeClock(), Supervisor()
    sup.observe(THERMOMETER, clock.monotonic())
    notices = run_silence(sup, clock, 6 * 3600)
    assert notices == [Notice("sensor_offline", THERMOMETER.device, {"silent_s": 1380})]
    assert sup.health(THERMOMETER.device) is Health.OFFLINE
    # 15 min floor * 1.5 margin = 22.5 min; the first 1-minute tick past it is at 23 min.
    assert DEFAULT_FLOOR * MARGIN == 1350


def test_an_offline_thermometer_heard_again_is_reported_restored() -> None:
    clock, sup = FakeClock(), Supervisor()
    sup.observe(THERMOMETER, clock.monotonic())
    run_silence(sup, clock, 3600)
    clock.advance(60)
    notices = sup.observe(THERMOMETER, clock.monotonic())
    assert notices[0] == Notice("sensor_restored", THERMOMETER.device)
    assert sup.health(THERMOMETER.device) is Health.ONLINE
    assert run_silence(sup, clock, 10 * 60) == []


def test_a_smoke_detector_that_checks_in_daily_is_not_called_offline_overnight() -> None:
    clock, sup = FakeClock(), Supervisor()
    sup.observe(SMOKE, clock.monotonic())
    assert run_silence(sup, clock, 24 * 3600, step=600) == []


def test_a_front_door_nobody_opens_at_night_is_not_called_offline() -> None:
    # A 433 MHz contact transmits only when the door moves; the elder sleeps 22:00-07:00.
    clock, sup = FakeClock(), Supervisor()
    sup.observe(DOOR, clock.monotonic())
    assert run_silence(sup, clock, 12 * 3600, step=600) == []
    clock.advance(60)
    sup.observe(DOOR, clock.monotonic())
    # Gone for more than a day and a half (a flat battery): then it is reported.
    assert [n.kind for n in run_silence(sup, clock, 40 * 3600, step=600)] == ["sensor_offline"]


def test_the_learned_interval_is_the_longest_of_the_last_16_gaps() -> None:
    clock, sup = FakeClock(), Supervisor()
    for gap in [3600.0] + [60.0] * 16:
        clock.advance(gap)
        sup.observe(THERMOMETER, clock.monotonic())
    # The hour-long gap has left the 16-report history: the 15-minute floor applies again.
    assert sup.interval(THERMOMETER.device) == DEFAULT_FLOOR
    clock.advance(7200)
    sup.observe(THERMOMETER, clock.monotonic())
    assert sup.interval(THERMOMETER.device) == 7200


def test_a_flat_pendant_battery_is_reported_once_a_day_not_on_every_press() -> None:
    clock, sup = FakeClock(), Supervisor()
    first = sup.observe(FLAT, clock.monotonic())
    clock.advance(3 * 3600)
    second = sup.observe(FLAT, clock.monotonic())
    clock.advance(21 * 3600)
    next_day = sup.observe(FLAT, clock.monotonic())
    battery = [n for n in first + second + next_day if n.kind == "battery_low"]
    assert battery == [Notice("battery_low", FLAT.device, {"battery": None})] * 2
    assert [n.kind for n in second] == ["button"]


def test_a_tampered_sensor_is_passed_through() -> None:
    clock, sup = FakeClock(), Supervisor()
    opened = Reading(device="ble:aa", protocol="bthome", kind="door", values={"tamper": True})
    assert Notice("tamper", "ble:aa", {"values": {"tamper": True}}) in sup.observe(
        opened, clock.monotonic()
    )


def test_a_chattering_door_contact_sends_a_few_events_carrying_the_count() -> None:
    clock, sup = FakeClock(), Supervisor()
    out: list[Notice] = []
    for _ in range(100):
        out.extend(sup.observe(DOOR, clock.monotonic()))
        clock.advance(0.1)
    clock.advance(1)
    out.extend(sup.tick(clock.monotonic()))
    assert out == [
        Notice("door", DOOR.device, {"values": {"command": "on"}, "count": 1}),
        Notice("door", DOOR.device, {"values": {"command": "on"}, "count": 99}),
    ]


def test_smoke_during_door_chatter_always_gets_through() -> None:
    clock, sup = FakeClock(), Supervisor()
    out: list[Notice] = []
    for i in range(100):
        out.extend(sup.observe(DOOR, clock.monotonic()))
        if i % 10 == 5:
            out.extend(sup.observe(SMOKE, clock.monotonic()))
        clock.advance(0.1)
    smoke = [n for n in out if n.kind == "smoke"]
    assert (
        smoke == [Notice("smoke", SMOKE.device, {"values": {"smokealert": "on"}, "count": 1})] * 10
    )
    assert len([n for n in out if n.kind == "door"]) <= 2


def test_a_notice_becomes_an_event_draft_with_the_device_as_source() -> None:
    clock = FakeClock()
    notice = Notice("sensor_offline", DOOR.device, {"silent_s": 1400})
    draft = Draft.create(
        notice.kind, clock, data=notice.data, source=Source(notice.device, protocol="rflink")
    )
    assert (draft.kind, draft.data, draft.source) == (
        "sensor_offline",
        {"silent_s": 1400},
        Source(DOOR.device, protocol="rflink"),
    )


def test_a_paired_detector_that_died_while_the_hub_was_off_is_reported_after_boot() -> None:
    # The hub restarts; the door contact's battery went flat while it was down, so the
    # contact is never heard again. Without expect() it would never be reported.
    clock, sup = FakeClock(), Supervisor()
    sup.expect(THERMOMETER.device, "sensor", clock.monotonic())
    notices = run_silence(sup, clock, 6 * 3600)
    assert notices == [Notice("sensor_offline", THERMOMETER.device, {"silent_s": 1380})]


def test_a_paired_detector_heard_after_boot_stays_online() -> None:
    clock, sup = FakeClock(), Supervisor()
    sup.expect(SMOKE.device, "smoke", clock.monotonic())
    clock.advance(3600)
    sup.observe(SMOKE, clock.monotonic())
    assert run_silence(sup, clock, 24 * 3600, step=600) == []
    assert sup.health(SMOKE.device) is Health.ONLINE


def test_a_removed_device_is_not_reported_offline_later() -> None:
    clock, sup = FakeClock(), Supervisor()
    sup.observe(DOOR, clock.monotonic())
    sup.forget(DOOR.device)
    assert run_silence(sup, clock, 6 * 3600) == []
    assert sup.health(DOOR.device) is None


def test_a_chattering_doors_held_back_count_and_last_state_are_handed_over_at_a_clean_stop() -> (
    None
):
    clock, sup = FakeClock(), Supervisor()
    closed = Reading(DOOR.device, "rflink", "door", {"command": "off", "open": False})
    out = sup.observe(DOOR, clock.monotonic())
    clock.advance(2)
    out += sup.observe(closed, clock.monotonic())
    clock.advance(2)  # the hub stops 4 s into the window: the summary is not lost
    out += sup.flush(clock.monotonic())
    assert out == [
        Notice("door", DOOR.device, {"values": {"command": "on"}, "count": 1}),
        Notice("door", DOOR.device, {"values": {"command": "off", "open": False}, "count": 1}),
    ]
    assert sup.flush(clock.monotonic()) == []  # nothing twice


def test_a_smoke_detector_that_goes_quiet_in_alarm_is_still_reported_offline() -> None:
    clock, sup = FakeClock(), Supervisor()
    for _ in range(20):  # in alarm, repeating its alarm every 10 s ...
        sup.observe(SMOKE, clock.monotonic())
        clock.advance(10)
    # ... then nothing: burnt, or its battery gone. Its alarm already went (the care
    # checks' episode is still open), and supervision still reports it once.
    offline = [n for n in run_silence(sup, clock, 40 * 3600, step=600) if n.kind != "smoke"]
    assert [n.kind for n in offline] == ["sensor_offline"]

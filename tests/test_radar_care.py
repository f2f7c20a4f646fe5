"""The care checks with radars, told as stories (tests/scenarios/radar_*.txt) and as
single steps: a radar's movement is a sign of life, its stillness in the bathroom is
watched, its fall is an alarm at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hub.care.config import parse_care_config
from hub.care.engine import CareEngine
from hub.care.rooms import Paired
from hub.care.scenario import explain_at, simulate
from hub.clock import FakeClock
from hub.reading import Reading, State

SCENARIOS = Path(__file__).parent / "scenarios"


def events(name: str) -> list[tuple[int, str, str, int | None]]:
    return [(e.day, e.time, e.kind, e.priority) for e in simulate(SCENARIOS / name)]


def said(name: str) -> list[tuple[int, str, str]]:
    timeline = simulate(SCENARIOS / name, include_actions=True)
    return [(e.day, e.time, e.detail) for e in timeline if e.kind == "say"]


def test_a_night_fall_in_the_bathroom_seen_only_by_its_radar_alarms_after_30_min_and_prealarm() -> (
    None
):
    # Her last movement the radar saw was 02:14; she lies still, which the radar keeps
    # reporting ("someone still"): 30 min later the pre-alarm, 5 min later the alarm.
    assert events("radar_bathroom_fall_night.txt") == [(1, "02:49", "fall_suspected", 0)]
    assert said("radar_bathroom_fall_night.txt") == [
        (1, f"02:4{m}", "prealarm_press_green") for m in range(4, 9)
    ]
    [alarm] = simulate(SCENARIOS / "radar_bathroom_fall_night.txt")
    assert alarm.data["rule"] == "night_visit-30min"
    assert alarm.data["readings"][-1]["device"] == "radar:/dev/ttyAMA0"
    assert alarm.data["readings"][-1]["room"] == "卫生间"


def test_ordinary_days_with_radars_a_shower_a_quiet_toilet_visit_a_night_visit_raise_nothing() -> (
    None
):
    assert simulate(SCENARIOS / "radar_shower.txt", include_actions=True) == []


def test_a_radar_fall_alarms_at_the_second_once_and_lying_still_by_day_is_watched_45_min() -> None:
    timeline = simulate(SCENARIOS / "radar_fall.txt")
    assert [(e.day, e.time, e.kind, e.priority) for e in timeline] == [
        (1, "10:31:15", "fall", 0),  # at once; the repeat at 10:31:20 raises nothing
        (2, "14:50", "fall_suspected", 0),  # still since 14:00 by day: 45 min + 5 min
    ]
    fall, still = timeline
    assert fall.data["room"] == "卫生间" and fall.data["rule"] == "radar_fall"
    assert still.data["rule"] == "bathroom_still-45min"
    assert fall.data["incident"] != still.data["incident"]  # he got up in between


def test_at_night_the_bathroom_radar_seeing_her_leave_does_not_end_the_watch() -> None:
    # She left the bathroom (its radar says empty) and was last seen in the hall: a fall
    # on the way back to bed is watched as the night rule watches the bathroom.
    assert events("radar_left_bathroom_night.txt") == [(1, "02:52", "fall_suspected", 0)]
    state = explain_at(SCENARIOS / "radar_left_bathroom_night.txt", "1 02:30").state
    [line] = [s for s in state if s.startswith("night_visit")]
    assert "its radar has seen it empty since 02:16" in line


# -- single steps ------------------------------------------------------------------------

RADAR = "radar:/dev/ttyAMA0"
BATHROOM = Paired("radar", "卫生间")


def engine_at(hhmm: str) -> tuple[CareEngine, FakeClock]:
    h, m = (int(x) for x in hhmm.split(":"))
    # 2026-11-02 in Asia/Shanghai (UTC+8)
    wall = datetime(2026, 11, 2, (h - 8) % 24, m, tzinfo=UTC)
    clock = FakeClock(wall=wall)
    engine = CareEngine(parse_care_config({"checkin_enabled": False}), clock)
    engine.know({RADAR: BATHROOM})
    return engine, clock


def radar(moving: bool, present: bool) -> Reading:
    state = State.ALARM if moving else State.CLEAR
    values = {"motion": moving, "presence": present}
    return Reading(RADAR, "ld2410", "motion", values, state=state)


def test_radar_movement_is_a_sign_of_life_and_its_stillness_is_not() -> None:
    engine, clock = engine_at("10:00")
    first = engine.last_sign
    clock.advance(60)
    engine.feed(radar(moving=False, present=True), BATHROOM)
    assert engine.last_sign == first
    assert engine.passive == {"radar: someone still": 1}
    engine.feed(radar(moving=True, present=True), BATHROOM)
    assert engine.last_sign != first and engine.last_action is not None
    assert engine.last_action.what == "motion"


def test_a_fall_reading_raises_one_fall_alarm_per_episode_and_survives_a_restart() -> None:
    engine, clock = engine_at("10:00")
    fall = Reading(RADAR, "mr60fda1", "fall", {"fall": True}, state=State.ALARM)
    [alarm] = engine.feed(fall, BATHROOM).drafts
    assert (alarm.kind, alarm.priority, alarm.source and alarm.source.device) == ("fall", 0, RADAR)
    assert engine.feed(fall, BATHROOM).drafts == []
    restored = CareEngine.from_dict(engine.cfg, clock, engine.to_dict())
    assert restored.feed(fall, BATHROOM).drafts == []
    restored.feed(Reading(RADAR, "mr60fda1", "fall", {"fall": False}, state=State.CLEAR))
    assert [d.kind for d in restored.feed(fall, BATHROOM).drafts] == ["fall"]


def test_the_daytime_still_rule_is_off_with_zero_and_a_radar_seeing_an_empty_room_ends_it() -> None:
    engine, clock = engine_at("10:00")
    engine.feed(radar(moving=True, present=True), BATHROOM)
    engine.feed(radar(moving=False, present=True), BATHROOM)
    assert engine.visit.state.value == "visit" and engine.visit.by_day
    engine.feed(radar(moving=False, present=False), BATHROOM)
    assert engine.visit.state.value == "idle"
    off = CareEngine(parse_care_config({"bathroom_still_day_min": 0}), clock)
    off.feed(radar(moving=False, present=True), BATHROOM)
    assert off.visit.state.value == "idle"

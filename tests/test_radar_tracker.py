"""A radar's stream of frames becomes the few readings the hub acts on (pure, fake time)."""

from __future__ import annotations

import pytest

from hub.reading import Reading, State
from hub.sensors import ld2410, mr60fda1
from hub.sensors.radar import (
    KEEPALIVE_S,
    MOTION_REPEAT_S,
    Observation,
    RadarTracker,
    ld2410_observation,
    mr60fda1_observation,
)
from tests.test_radar_decoders import LD2410_BASIC_MOVING, LD2410_ENGINEERING_STILL, MR60_FALL

KEY = "radar:/dev/ttyAMA0"
MOVING = Observation(presence=True, moving=True, distance_cm=120, moving_energy=60, still_energy=30)
STILL = Observation(presence=True, moving=False, distance_cm=90, moving_energy=0, still_energy=55)
EMPTY = Observation(presence=False, moving=False, moving_energy=0, still_energy=0)


def motion(moving: bool, presence: bool, **values: object) -> Reading:
    return Reading(
        KEY,
        "ld2410",
        "motion",
        {"motion": moving, "presence": presence, **values},
        state=State.ALARM if moving else State.CLEAR,
    )


def run(
    tracker: RadarTracker, frames: list[tuple[float, Observation]]
) -> list[tuple[float, Reading]]:
    return [(t, r) for t, obs in frames for r in tracker.observe(obs, t)]


def test_ten_frames_a_second_of_someone_washing_are_one_reading_then_one_every_30_s() -> None:
    tracker = RadarTracker(KEY, "ld2410")
    # 70 s of an LD2410 at 10 Hz flickering between moving and still, as it does.
    frames = [(i / 10, MOVING if (i + 1) % 4 else STILL) for i in range(700)]
    said = run(tracker, frames)
    assert [t for t, _ in said] == [0.0, 30.0, 60.0]
    assert said[0][1] == motion(True, True, distance_cm=120, moving_energy=60, still_energy=30)


def test_stillness_is_said_once_it_lasts_and_then_only_as_a_keepalive() -> None:
    tracker = RadarTracker(KEY, "ld2410")
    frames = [(0.0, MOVING)] + [(1 + i / 10, STILL) for i in range(1300)]
    said = run(tracker, frames)
    assert [t for t, _ in said] == [0.0, 4.0, 4.0 + KEEPALIVE_S, 4.0 + 2 * KEEPALIVE_S]
    assert said[1][1] == motion(False, True, distance_cm=90, moving_energy=0, still_energy=55)


def test_an_empty_room_is_said_at_once() -> None:
    tracker = RadarTracker(KEY, "ld2410")
    said = run(tracker, [(0.0, MOVING), (0.5, EMPTY)])
    assert said[1] == (0.5, motion(False, False))


def test_a_silent_radar_is_reported_once_and_its_next_frame_is_said_whatever_it_says() -> None:
    tracker = RadarTracker(KEY, "ld2410", silent_s=5.0)
    tracker.start(0.0)
    assert tracker.silence(4.9) is None
    assert tracker.silence(5.0) == 5.0  # never heard since the port was tried
    assert tracker.silence(60.0) is None  # once per outage
    assert len(tracker.observe(STILL, 61.0)) == 1
    assert tracker.observe(STILL, 61.1) == []
    assert tracker.silence(65.0) is None
    assert tracker.silence(66.2) == pytest.approx(5.1)
    assert tracker.observe(STILL, 70.0) == [
        motion(False, True, distance_cm=90, moving_energy=0, still_energy=55)
    ]
    assert MOTION_REPEAT_S < KEEPALIVE_S


def test_a_fall_and_its_end_are_said_once_each() -> None:
    tracker = RadarTracker(KEY, "mr60fda1")
    fall = mr60fda1_observation(mr60fda1.decode(MR60_FALL))
    said = [r for t in (0.0, 1.0, 2.0) for r in tracker.observe(fall, t)]
    assert said[0] == Reading(KEY, "mr60fda1", "fall", {"fall": True}, state=State.ALARM)
    assert [r.kind for r in said] == ["fall", "motion"]  # the motion reading: alive, unsaid
    assert said[1].state is None
    assert tracker.observe(Observation(fall=False), 3.0) == [
        Reading(KEY, "mr60fda1", "fall", {"fall": False}, state=State.CLEAR)
    ]


def test_the_modules_frames_in_the_shared_vocabulary() -> None:
    basic = ld2410.decode(LD2410_BASIC_MOVING)
    assert ld2410_observation(basic) == Observation(
        presence=True, moving=True, distance_cm=120, moving_energy=60, still_energy=30
    )
    eng = ld2410.decode(LD2410_ENGINEERING_STILL)
    obs = ld2410_observation(eng)
    assert obs is not None and (obs.presence, obs.moving, obs.distance_cm) == (True, False, 90)
    assert obs.still_gates == (20, 55, 12, 6, 4, 2, 1, 0, 0)
    assert mr60fda1_observation(mr60fda1.Report(mr60fda1.Topic.MOTION, 1)) == Observation(
        presence=True, moving=False
    )
    assert mr60fda1_observation(mr60fda1.Report(mr60fda1.Topic.PRESENCE, 0)) == Observation(
        presence=False, moving=False
    )

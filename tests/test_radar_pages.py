"""The installer's pages and radars: a radar is ticked on the walk test only once the
installer walked in and lay down (or mimicked a fall); its card shows what it reports."""

from __future__ import annotations

from hub.reading import Reading, State
from hub.sensors.radar import Live
from hub.web.radar import RadarWalk, radar_fragment

KEY = "radar:/dev/ttyAMA0"


def radar(moving: bool, present: bool) -> Reading:
    values = {"motion": moving, "presence": present}
    return Reading(KEY, "ld2410", "motion", values, state=State.ALARM if moving else State.CLEAR)


def test_a_radar_is_ticked_after_walking_in_and_lying_down_not_by_being_heard() -> None:
    walk = RadarWalk()
    assert not walk.ticks("radar", radar(moving=False, present=True))  # someone already still
    assert not walk.ticks("radar", radar(moving=True, present=True))  # walks in
    assert not walk.ticks("radar", radar(moving=False, present=False))  # walks out again
    assert walk.ticks("radar", radar(moving=False, present=True))  # lies down
    fall = Reading("radar:/dev/ttyUSB2", "mr60fda1", "fall", {"fall": True}, state=State.ALARM)
    assert RadarWalk().ticks("radar", fall)
    door = Reading("rflink:x:1", "rflink", "door", {}, state=State.CLEAR)
    assert RadarWalk().ticks("door", door)  # other devices: any reading, as before


def test_the_radar_card_shows_presence_distance_energy_and_gates() -> None:
    live = Live(
        presence=True,
        moving=False,
        distance_cm=90,
        moving_energy=0,
        still_energy=55,
        moving_gates=(10, 5),
        still_gates=(20, 55),
        frames=120,
        bad_frames=1,
    )
    html = radar_fragment("zh", {KEY: live}, {KEY: "浴室雷达"})
    assert "浴室雷达" in html and "有人 · 静止" in html
    assert "0.90 m" in html and "0 % / 55 %" in html and "10/20 5/55" in html
    assert "120 / 1" in html
    english = radar_fragment("en", {KEY: Live()}, {})
    assert "no frame yet" in english and KEY in english
    assert radar_fragment("zh", {}, {}) == ""

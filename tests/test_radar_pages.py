"""The installer's pages and radars: a radar is ticked on the walk test only once the
installer walked in and lay down (or mimicked a fall); its card shows what it reports."""

from __future__ import annotations

import pytest

from hub.reading import Reading, State
from hub.sensors import ld2410
from hub.sensors import radar as radar_module
from hub.sensors.ld2410 import Parameters
from hub.sensors.radar import Live, RadarTracker
from hub.web.radar import RadarWalk, radar_fragment, settings_commands
from tests.test_radar_decoders import LD2410_ACK_FAILED, LD2410_PARAMETERS

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


def test_the_settings_form_becomes_the_ld2410_commands_and_refuses_what_it_cannot_set() -> None:
    form = {"max_m": "3", "moving": "30", "still": "40"}
    assert settings_commands(form, None) == ld2410.set_range(4, 4, 5) + ld2410.set_gate(
        0xFFFF, 30, 40
    )
    kept = Parameters(8, 8, 8, (50,) * 9, (40,) * 9, no_one_s=12)
    assert settings_commands({**form, "max_m": "4,5"}, kept)[:4] == ld2410.set_range(6, 6, 12)
    for bad in ("", "abc", "1", "6.5", "nan", "inf", "-3"):
        with pytest.raises(ValueError, match="max_m"):
            settings_commands({**form, "max_m": bad}, None)
    for bad in ("", "101", "-1", "3.5", "三十"):
        with pytest.raises(ValueError, match="moving"):
            settings_commands({**form, "moving": bad}, None)


def test_the_card_shows_what_the_module_read_back_and_a_form_only_for_an_ld2410() -> None:
    tracker = RadarTracker(KEY, ld2410.MODEL)
    tracker.observe(radar_module.ld2410_observation(ld2410.decode(LD2410_PARAMETERS)), 1.0)
    tracker.observe(radar_module.ld2410_observation(ld2410.decode(LD2410_ACK_FAILED)), 2.0)
    html = radar_fragment("zh", {KEY: tracker.live}, {}, settable=frozenset({KEY}), csrf="t")
    assert 'action="/installer/radar"' in html
    assert "6 m · 50 % / 40 %" in html  # gate 8 = 6 m; the weakest gate of each kind
    assert "模块拒绝的设置 1" in html
    assert 'name="max_m" inputmode="decimal" value="6"' in html
    other = radar_fragment("zh", {KEY: tracker.live}, {}, csrf="t")  # an MR60FDA1, say
    assert "/installer/radar" not in other

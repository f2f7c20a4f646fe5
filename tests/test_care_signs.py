"""Which readings are her acting, which only show the band is worn (hub/care/signs.py)."""

from __future__ import annotations

import pytest

from hub.care.config import CareConfig, parse_care_config
from hub.care.signs import SignReader, is_worn
from hub.errors import ConfigError
from hub.reading import Reading, State

CFG = CareConfig()


def reading(kind: str, state: State | None = None, **values: object) -> Reading:
    """A reading of `kind` from device dev:1."""
    return Reading("dev:1", "sim", kind, dict(values), state=state)


def test_motion_counts_only_when_a_pir_saw_someone() -> None:
    signs = SignReader()
    assert signs.action(reading("motion", State.ALARM), CFG, wearable=False) == "motion"
    assert signs.action(reading("motion", State.CLEAR), CFG, wearable=False) is None
    assert signs.action(reading("motion", battery=80), CFG, wearable=False) is None


def test_a_door_counts_when_it_changes_and_a_repeated_report_does_not() -> None:
    signs = SignReader()
    door = [
        (State.CLEAR, None),  # first report of a contact, "closed": a status, not her
        (State.CLEAR, None),
        (State.ALARM, "door"),  # opened
        (State.ALARM, None),  # "open" again: a status report
        (State.CLEAR, "door"),  # closed behind her: a transition, her too
        (None, None),  # a battery report says nothing
        (State.CLEAR, None),
    ]
    seen = [signs.action(reading("door", s), CFG, wearable=False) for s, _ in door]
    assert seen == [want for _, want in door]
    fresh = SignReader()  # a contact whose first report is an opening: that is her
    assert fresh.action(reading("door", State.ALARM), CFG, wearable=False) == "door"


def test_the_bands_movement_counts_only_when_it_says_she_moved() -> None:
    signs = SignReader()
    band = [
        ({"steps": 500}, None),  # the first count is a baseline
        ({"steps": 500}, None),
        ({"steps": 540}, "activity"),
        ({"steps": 12}, None),  # reset at midnight
        ({"moving": False}, None),
        ({"moving": True}, "activity"),
    ]
    got = [signs.action(reading("activity", **v), CFG, wearable=True) for v, _ in band]
    assert got == [want for _, want in band]
    # a pulse from the same band is no movement, and no action at all
    assert signs.action(reading("heart_rate", bpm=70), CFG, wearable=True) is None
    assert signs.action(reading("heart_rate", moving=True), CFG, wearable=False) is None


def test_a_vital_is_worn_only_when_it_measured_her() -> None:
    assert is_worn(reading("heart_rate", bpm=72))
    assert not is_worn(reading("heart_rate", bpm=0))  # off the wrist
    assert not is_worn(reading("heart_rate", bpm=72, sensor_contact=False))
    assert is_worn(reading("spo2", spo2_pct=96))
    assert is_worn(reading("blood_pressure", systolic_mmhg=130, diastolic_mmhg=80))
    assert not is_worn(reading("motion", State.ALARM))


def test_each_kind_of_action_can_be_turned_off_and_a_vital_can_never_be_turned_on() -> None:
    no_doors = parse_care_config({"sign_of_life_kinds": ["motion", "button"]})
    signs = SignReader()
    assert signs.action(reading("door", State.ALARM), no_doors, wearable=False) is None
    excluded = CareConfig(excluded_devices=("dev:1",))
    assert signs.action(reading("motion", State.ALARM), excluded, wearable=False) is None
    with pytest.raises(ConfigError) as err:
        parse_care_config({"sign_of_life_kinds": ["motion", "heart_rate", "sneeze"]})
    assert err.value.problems == [
        "care.sign_of_life_kinds: heart_rate is a passive vital sign: it shows the wearable "
        "is worn, never that she acted; remove it",
        "care.sign_of_life_kinds: 'sneeze' is not one of motion, door, button, voice, activity",
    ]


def test_the_new_care_options_are_checked_and_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_care_config(
            {
                "night_exit": "sometimes",
                "night_start": "",
                "night_visit_rooms": ["attic"],
                "room_kinds": {"小房间": "cupboard"},
                "holiday_until": "next week",
                "vitals": {"spo2_critical_pct": 92},
            }
        )
    assert err.value.problems == [
        "care.vitals.spo2_critical_pct: 92 is above spo2_low_pct (90); the critical level "
        "must be the lower one",
        'care.night_start: give a local time like "22:00"; to turn the night-exit watch off '
        "set night_exit = false, the night visit rule night_visit_min = 0",
        "care.night_exit: must be true, false or \"auto\" (on with a door), got 'sometimes'",
        "care.night_visit_rooms: 'attic' is not a room kind (bathroom, bedroom, kitchen, "
        "living, entrance, other)",
        "care.room_kinds: 'cupboard' is not a room kind (bathroom, bedroom, kitchen, living, "
        "entrance, other)",
        "care.holiday_until: 'next week' is not a local date like \"2026-12-20\" (through "
        'that day) or "2026-12-20 18:00"',
    ]
    cfg = parse_care_config(
        {"night_exit": False, "holiday_until": "2026-12-20", "room_kinds": {"小房间": "bedroom"}}
    )
    assert cfg.night_exit is False
    assert cfg.holiday_until is not None and cfg.holiday_until.isoformat() == "2026-12-21T00:00:00"
    assert cfg.room_table == {"小房间": "bedroom"}

"""Room names as installers type them, placed in the room kinds the care rules use."""

from __future__ import annotations

import pytest

from hub.care.rooms import room_kind


@pytest.mark.parametrize(
    ("room", "kind"),
    [
        ("卫生间", "bathroom"),
        ("主卧卫生间", "bathroom"),  # the en-suite is a bathroom, not a bedroom
        ("洗手間", "bathroom"),
        ("Bathroom", "bathroom"),
        ("主卧", "bedroom"),
        ("睡房", "bedroom"),
        ("Guest bedroom", "bedroom"),
        ("厨房", "kitchen"),
        ("客厅", "living"),
        ("玄关", "entrance"),
        ("阳台", "other"),
        ("", "other"),
    ],
)
def test_room_names_are_placed_by_the_words_they_contain(room: str, kind: str) -> None:
    assert room_kind(room) == kind


def test_the_installers_own_table_wins_over_the_words() -> None:
    assert room_kind("小房间", {"小房间": "bedroom"}) == "bedroom"
    assert room_kind(" 卫生间 ", {"小房间": "bedroom"}) == "bathroom"

"""Rooms: what the registry says about a device (kind, room) and what kind of room that is.

The installer names rooms in free text when pairing (`--room 卫生间`, "bathroom", "主卧").
The care rules are written per room *kind* (a night visit starts in a bathroom and ends
back in a bedroom), so each room name is mapped to a kind: first by the installer's own
table (`care.room_kinds`), then by the words below, else "other". A room the rules
cannot place therefore never starts or ends a night visit; the log of the pairing and
`pingan-hub simulate --explain` show which kind each room was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ROOM_KINDS = ("bathroom", "bedroom", "kitchen", "living", "entrance", "other")

# Words that name a room kind, in the languages installers type (simplified and
# traditional Chinese, English). Checked in this order: "卫生间" must not read as "间".
_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "bathroom",
        (
            "卫生间",
            "衛生間",
            "浴室",
            "洗手间",
            "洗手間",
            "厕所",
            "廁所",
            "冲凉房",
            "沖涼房",
            "bath",
            "toilet",
            "washroom",
            "restroom",
            "shower",
            "wc",
        ),
    ),
    ("bedroom", ("卧室", "臥室", "睡房", "卧房", "臥房", "主卧", "次卧", "bed")),
    ("kitchen", ("厨房", "廚房", "kitchen")),
    ("living", ("客厅", "客廳", "起居", "饭厅", "飯廳", "living", "lounge", "sitting", "dining")),
    ("entrance", ("门口", "門口", "玄关", "玄關", "大门", "大門", "走廊", "hall", "entrance")),
)


@dataclass(frozen=True)
class Paired:
    """What the registry knows of a paired device: the kind it was paired as, and its room."""

    kind: str
    room: str = ""


def room_kind(room: str, overrides: Mapping[str, str] | None = None) -> str:
    """The kind of a room name ("卫生间" -> "bathroom"); "other" when nothing matches."""
    name = room.strip()
    if not name:
        return "other"
    if overrides and name in overrides:
        return overrides[name]
    low = name.lower()
    for kind, words in _WORDS:
        if any(w in low for w in words):
            return kind
    return "other"

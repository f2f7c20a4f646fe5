"""The radars on the installer's pages: each one live, and its walk-test tick (no aiohttp).

A radar reports all the time, so "heard" is not a test of it: the walk test ticks a radar
off only when the installer walks in (the radar sees movement) and then lies down (it
sees someone still there), the two things the care checks rely on; a fall-detection
radar also ticks when it reports the fall the installer mimics. The live card shows
what the module reports now: someone there or not, moving or still, the distance, the
echo energy (and per gate for an LD2410 in engineering mode), frames and bad frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.reading import Reading
from hub.sensors.radar import Live
from hub.web.pages import e

_TEXT = {
    "title": {"zh": "毫米波雷达（实时）", "en": "mmWave radars (live)"},
    "someone": {"zh": "有人", "en": "someone there"},
    "nobody": {"zh": "无人", "en": "nobody"},
    "moving": {"zh": "在动", "en": "moving"},
    "still": {"zh": "静止", "en": "still"},
    "fall": {"zh": "跌倒！", "en": "FALL"},
    "distance": {"zh": "距离", "en": "distance"},
    "energy": {"zh": "能量 动/静", "en": "energy moving/still"},
    "gates": {"zh": "各距离门能量 动/静", "en": "per gate moving/still"},
    "frames": {"zh": "帧 / 坏帧", "en": "frames / bad"},
    "no_frame": {"zh": "未收到数据", "en": "no frame yet"},
}


def _t(lang: str, key: str) -> str:
    return _TEXT[key]["zh" if lang == "zh" else "en"]


@dataclass
class RadarWalk:
    """Per radar on the walk test: movement seen, then someone still -> ticked."""

    moved: set[str] = field(default_factory=set)

    def ticks(self, kind: str, reading: Reading) -> bool:
        """Whether this reading of a device paired as `kind` ticks it off (any reading
        of a device that is not a radar does, as before)."""
        if kind != "radar":
            return True
        if reading.kind == "fall":
            return reading.alarm
        if reading.kind != "motion":
            return False
        if reading.alarm:
            self.moved.add(reading.device)
            return False
        return reading.device in self.moved and reading.values.get("presence") is True


def live_of(sources: Mapping[str, Any]) -> dict[str, Live]:
    """Each radar's live state by device key."""
    return {key: source.tracker.live for key, source in sources.items()}


def radar_fragment(lang: str, radars: Mapping[str, Live], names: Mapping[str, str]) -> str:
    """A card per radar with what it reports now (empty when there is no radar)."""
    if not radars:
        return ""
    cards = [f'<h2 id="radars">{e(_t(lang, "title"))}</h2>']
    for key, live in sorted(radars.items()):
        if live.frames == 0:
            state = _t(lang, "no_frame")
        elif live.presence is None:
            state = "…"
        else:
            state = _t(lang, "someone" if live.presence else "nobody")
            if live.presence:
                state += " · " + _t(lang, "moving" if live.moving else "still")
        if live.fall:
            state += " · " + _t(lang, "fall")
        lines = [f'<p class="meta" data-live="radar">{e(state)}</p>']
        if live.presence and live.distance_cm is not None:
            lines.append(
                f'<p class="meta">{e(_t(lang, "distance"))} {live.distance_cm / 100:.2f} m</p>'
            )
        if live.moving_energy is not None:
            lines.append(
                f'<p class="meta">{e(_t(lang, "energy"))} '
                f"{live.moving_energy} % / {live.still_energy} %</p>"
            )
        if live.moving_gates:
            gates = " ".join(
                f"{m}/{s}" for m, s in zip(live.moving_gates, live.still_gates, strict=False)
            )
            lines.append(f'<p class="meta">{e(_t(lang, "gates"))}: {e(gates)}</p>')
        lines.append(
            f'<p class="meta">{e(_t(lang, "frames"))} {live.frames} / {live.bad_frames}</p>'
        )
        cards.append(
            f'<div class="card" id="radar-{e(key)}"><p class="title">{e(names.get(key) or key)}</p>'
            + "".join(lines)
            + "</div>"
        )
    return "".join(cards)

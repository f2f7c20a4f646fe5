"""The radars on the installer's pages: each one live, and its walk-test tick (no aiohttp).

A radar reports all the time, so "heard" is not a test of it: the walk test ticks a radar
off only when the installer walks in (the radar sees movement) and then lies down (it
sees someone still there), the two things the care checks rely on; a fall-detection
radar also ticks when it reports the fall the installer mimics. The live card shows
what the module reports now: someone there or not, moving or still, the distance, the
echo energy (and per gate for an LD2410 in engineering mode), frames and bad frames.

An LD2410 can be set from its card: how far it watches (its farthest gate, 0.75 m each)
and how strong an echo counts as someone moving or still (the same threshold for every
gate; lower is more sensitive). The module keeps them in its own memory and reads them
back after each change; the card shows what it read back, not what was asked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.reading import Reading
from hub.sensors import ld2410
from hub.sensors.radar import Live
from hub.web.pages import e

GATE_M = 0.75  # the LD2410's gate length at its default resolution
DEFAULT_NO_ONE_S = 5  # the module's factory "no one" delay, kept unless it read back another

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
    "settings": {"zh": "设置", "en": "Settings"},
    "now": {"zh": "模块当前", "en": "module now"},
    "unknown": {"zh": "尚未读到", "en": "not read yet"},
    "max_m": {"zh": "最远距离（米，1.5–6）", "en": "farthest distance (m, 1.5-6)"},
    "moving_pct": {
        "zh": "走动门限 %（越低越灵敏）",
        "en": "moving threshold % (lower = more sensitive)",
    },
    "still_pct": {
        "zh": "静止门限 %（越低越灵敏）",
        "en": "still threshold % (lower = more sensitive)",
    },
    "save": {"zh": "写入雷达", "en": "Write to the radar"},
    "refused": {"zh": "模块拒绝的设置", "en": "settings refused by the module"},
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


def settings_commands(form: Mapping[str, str], now: ld2410.Parameters | None) -> list[bytes]:
    """The LD2410 commands for the card's form: farthest distance `max_m` (metres, to the
    gate), thresholds `moving` and `still` (%) for every gate. ValueError saying which field
    is wrong and what to give."""
    try:
        metres = float(form.get("max_m", "").replace(",", "."))
    except ValueError:
        raise ValueError("max_m: give a distance in metres, 1.5 to 6") from None
    gate = round(metres / GATE_M) if math.isfinite(metres) else -1
    if not 2 <= gate < ld2410.GATES:
        raise ValueError("max_m: give a distance in metres, 1.5 to 6")
    thresholds = []
    for name in ("moving", "still"):
        value = form.get(name, "").strip()
        if not value.isdigit() or not 0 <= int(value) <= ld2410.SENSITIVITY_MAX:
            raise ValueError(f"{name}: give a threshold from 0 to {ld2410.SENSITIVITY_MAX} %")
        thresholds.append(int(value))
    no_one = now.no_one_s if now is not None else DEFAULT_NO_ONE_S
    return ld2410.set_range(gate, gate, no_one) + ld2410.set_gate(0xFFFF, *thresholds)


def _settings_form(lang: str, key: str, live: Live, csrf: str) -> str:
    """The card's form (LD2410 only), filled with what the module last read back."""
    now = live.settings
    if now is None:
        said = _t(lang, "unknown")
        max_m, moving, still = "", "", ""
    else:
        max_m = f"{now.max_moving_gate * GATE_M:g}"
        moving = str(max(now.moving_thresholds[: now.max_moving_gate + 1]))
        still = str(max(now.still_thresholds[: now.max_still_gate + 1]))
        said = f"{max_m} m · {moving} % / {still} %"
    refused = f" · {e(_t(lang, 'refused'))} {live.refused}" if live.refused else ""
    return (
        f'<form method="post" action="/installer/radar" class="radar-settings">'
        f'<p class="meta">{e(_t(lang, "settings"))} ({e(_t(lang, "now"))}: {e(said)}{refused})</p>'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<input type="hidden" name="key" value="{e(key)}">'
        f'<label>{e(_t(lang, "max_m"))} <input name="max_m" inputmode="decimal" '
        f'value="{e(max_m)}" required></label>'
        f'<label>{e(_t(lang, "moving_pct"))} <input name="moving" inputmode="numeric" '
        f'value="{e(moving)}" required></label>'
        f'<label>{e(_t(lang, "still_pct"))} <input name="still" inputmode="numeric" '
        f'value="{e(still)}" required></label>'
        f'<button type="submit">{e(_t(lang, "save"))}</button></form>'
    )


def radar_fragment(
    lang: str,
    radars: Mapping[str, Live],
    names: Mapping[str, str],
    *,
    settable: frozenset[str] = frozenset(),
    csrf: str = "",
) -> str:
    """A card per radar with what it reports now (empty when there is no radar); the
    radars in `settable` (LD2410s on an open port) with their settings form."""
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
        if key in settable and csrf:
            lines.append(_settings_form(lang, key, live, csrf))
        cards.append(
            f'<div class="card" id="radar-{e(key)}"><p class="title">{e(names.get(key) or key)}</p>'
            + "".join(lines)
            + "</div>"
        )
    return "".join(cards)

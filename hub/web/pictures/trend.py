"""The 30-day trend: hours with activity and the sleep window per day, against the learned
routine's band, with the sentence that says them (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from hub.clock import Clock
from hub.web.pictures.common import (
    COLOURS,
    WAKE_EARLIEST,
    WAKE_SAME_MIN,
    WIDTH,
    Picture,
    clock_text,
    svg_element,
    word,
    x,
)

TREND_DAYS = 30
# Below this many learned days there is no band: "usual" is not known yet.
BAND_MIN_DAYS = 5
# A day is said to be less active than usual below the band by more than this, and a
# morning later than usual beyond it by more than WAKE_SAME_MIN: an ordinary day just
# outside a 14-day band is not news for the family.
ACTIVE_MARGIN_H = 1.0
# The sleep panel's hours: 18:00 on top to 12:00 the next day at the bottom.
SLEEP_FROM_MIN, SLEEP_TO_MIN = 18 * 60, 36 * 60


@dataclass(frozen=True)
class DayRoutine:
    """One local day as the routine keeps it: minutes with activity, when she got up (the
    first activity from 04:00) and her last activity, minutes of the day (None: none)."""

    day: date
    active_min: int
    wake_min: int | None
    last_min: int | None


def day_routines(
    profile_days: Mapping[str, Sequence[int]],
    history: Mapping[str, Sequence[int]],
    slot_min: int,
) -> list[DayRoutine]:
    """The days the hub keeps, oldest first: the learned routine's profile (RoutineCheck.days,
    15 days of active slots) and its history (RoutineCheck.history: [active slots, first
    slot from 04:00, last slot] per older day, -1 for none)."""
    earliest = (WAKE_EARLIEST.hour * 60 + WAKE_EARLIEST.minute) // slot_min
    out: dict[date, DayRoutine] = {}
    for text, (count, first, last) in ((k, v[:3]) for k, v in history.items() if len(v) >= 3):
        out[date.fromisoformat(text)] = DayRoutine(
            date.fromisoformat(text),
            count * slot_min,
            first * slot_min if first >= 0 else None,
            last * slot_min if last >= 0 else None,
        )
    for text, slots in profile_days.items():
        morning = [s for s in slots if s >= earliest]
        out[date.fromisoformat(text)] = DayRoutine(
            date.fromisoformat(text),
            len(set(slots)) * slot_min,
            min(morning) * slot_min if morning else None,
            max(slots) * slot_min if slots else None,
        )
    return [out[d] for d in sorted(out)]


def _band(values: Sequence[float]) -> tuple[float, float] | None:
    """The usual range of the learned days: lowest to highest without the odd day at each
    end (the routine's own rule, hub/care/routine.py ROUTINE_ODD_DAYS); None while fewer
    than BAND_MIN_DAYS are learned."""
    if len(values) < BAND_MIN_DAYS:
        return None
    ordered = sorted(values)
    return ordered[1], ordered[-2]


def routine_trend(
    days_kept: Sequence[DayRoutine],
    learned_from: date,
    clock: Clock,
    tz: ZoneInfo,
    *,
    days: int = TREND_DAYS,
    lang: str = "zh",
) -> Picture:
    """The last `days` whole days (today is not over): the hours with activity per day and
    the night's sleep window (last activity of the evening before to getting up), each
    against the learned routine's band (the days from `learned_from` to yesterday, the
    routine's 14, lowest to highest without the odd day). Days the hub does not keep are
    left empty and the summary says how many it has."""
    today = clock.now().astimezone(tz).date()
    shown = [today - timedelta(days=n) for n in range(days, 0, -1)]
    by_day = {d.day: d for d in days_kept}
    learned = [by_day[d] for d in shown if d >= learned_from and d in by_day]
    act_band = _band([d.active_min / 60 for d in learned])
    sleep_pairs = [(by_day.get(d - timedelta(days=1)), by_day.get(d)) for d in shown]
    nights = {
        d: (before.last_min, after.wake_min + 24 * 60)
        for d, (before, after) in zip(shown, sleep_pairs, strict=True)
        if before is not None
        and after is not None
        and before.last_min is not None
        and after.wake_min is not None
        and before.last_min >= SLEEP_FROM_MIN
    }
    learned_nights = [nights[d.day] for d in learned if d.day in nights]
    bed_band = _band([n[0] for n in learned_nights])
    wake_band = _band([n[1] for n in learned_nights])

    left, right = 34, WIDTH - 6
    col_w = (right - left) / days
    bar_w = max(col_w * 0.6, 2)
    top1, h1 = 22, 90  # activity: 0 to 16 h
    top2, h2 = top1 + h1 + 40, 120  # sleep: 18:00 to 12:00
    height = top2 + h2 + 40
    hours_max = max([16.0, *(d.active_min / 60 for d in by_day.values())])

    def y1(hours: float) -> float:
        return top1 + (1 - hours / hours_max) * h1

    def y2(minute: float) -> float:
        clamped = min(max(minute, SLEEP_FROM_MIN), SLEEP_TO_MIN)
        return top2 + (clamped - SLEEP_FROM_MIN) / (SLEEP_TO_MIN - SLEEP_FROM_MIN) * h2

    title = word(lang, "trend_title", n=days)
    parts = [
        f'<text x="4" y="14" font-size="12" font-weight="bold">{x(title)}</text>',
        f'<text x="4" y="{top2 - 8}" font-size="12" font-weight="bold">'
        f"{x(word(lang, 'sleep_title'))}</text>",
        f'<rect x="{left}" y="{top1}" width="{right - left}" height="{h1}" fill="none" '
        f'stroke="{COLOURS["grid"]}" stroke-width="0.5"/>',
        f'<rect x="{left}" y="{top2}" width="{right - left}" height="{h2}" fill="none" '
        f'stroke="{COLOURS["grid"]}" stroke-width="0.5"/>',
    ]
    for hours in (0, hours_max / 2, hours_max):
        parts.append(
            f'<text x="{left - 3}" y="{y1(hours) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{hours:g}h</text>'
        )
    for minute in (SLEEP_FROM_MIN, 24 * 60, 30 * 60, SLEEP_TO_MIN):
        parts.append(
            f'<text x="{left - 3}" y="{y2(minute) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{minute // 60 % 24}</text>'
        )

    edges: list[str] = []  # drawn over the bars, so a band behind a bar is still seen

    def band(kind: str, y_top: float, y_bottom: float) -> None:
        y0, y1_ = min(y_top, y_bottom), max(y_top, y_bottom)
        parts.append(
            f'<rect data-band="{kind}" x="{left}" y="{y0:.1f}" '
            f'width="{right - left}" height="{max(y1_ - y0, 1):.1f}" '
            f'fill="{COLOURS["band"]}" fill-opacity="0.12"/>'
        )
        edges.extend(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
            f'stroke="{COLOURS["band"]}" stroke-width="1" stroke-dasharray="2 2"/>'
            for y in (y0, y1_)
        )

    if act_band is not None:
        band("activity", y1(act_band[1]), y1(act_band[0]))
    if bed_band is not None:
        band("bed", y2(bed_band[0]), y2(bed_band[1]))
    if wake_band is not None:
        band("wake", y2(wake_band[0]), y2(wake_band[1]))
    for i, day in enumerate(shown):
        cx = left + (i + 0.5) * col_w
        if i % 5 == 0 or i == days - 1:
            anchor = "end" if i == days - 1 else "middle"
            lx = right if anchor == "end" else cx
            for y in (top1 + h1 + 14, top2 + h2 + 14):
                parts.append(
                    f'<text x="{lx:.1f}" y="{y}" font-size="10" '
                    f'text-anchor="{anchor}">{day.month}/{day.day}</text>'
                )
        kept = by_day.get(day)
        marks: list[str] = []
        if kept is not None:
            hours = kept.active_min / 60
            marks.append(
                f'<rect data-mark="activity" data-hours="{hours:.1f}" x="{cx - bar_w / 2:.1f}" '
                f'y="{y1(hours):.1f}" width="{bar_w:.1f}" '
                f'height="{max(top1 + h1 - y1(hours), 1):.1f}" '
                f'fill="{COLOURS["activity"]}" fill-opacity="0.7"/>'
            )
        night = nights.get(day)
        if night is not None:
            marks.append(
                f'<rect data-mark="sleep" data-bed="{clock_text(night[0] % 1440)}" '
                f'data-wake="{clock_text(night[1] % 1440)}" x="{cx - bar_w / 2:.1f}" '
                f'y="{y2(night[0]):.1f}" width="{bar_w:.1f}" '
                f'height="{max(y2(night[1]) - y2(night[0]), 1):.1f}" '
                f'fill="{COLOURS["night_visit"]}" fill-opacity="0.6"/>'
            )
        if marks:
            parts.append(f'<g data-day="{day.isoformat()}">{"".join(marks)}</g>')
    parts += edges
    ly = height - 8
    legend = [("activity", COLOURS["activity"]), ("sleep", COLOURS["night_visit"])]
    legend += [("usual", COLOURS["band"])] if act_band or bed_band or wake_band else []
    for k, (kind, colour) in enumerate(legend):
        lx = 4 + k * 110
        opacity = ' fill-opacity="0.25"' if kind == "usual" else ""
        parts.append(
            f'<rect data-legend="{kind}" x="{lx}" y="{ly - 8}" width="10" height="8" '
            f'fill="{colour}"{opacity}/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="11">{x(word(lang, "legend_" + kind))}</text>'
        )
    kept_days = [by_day[d] for d in shown if d in by_day]
    summary = _trend_summary(
        lang,
        days=days,
        kept=kept_days,
        nights=[nights[d] for d in shown if d in nights],
        act_band=act_band,
        wake_band=wake_band,
    )
    return Picture(svg_element(title, summary, WIDTH, height, "".join(parts)), summary)


def _trend_summary(
    lang: str,
    *,
    days: int,
    kept: Sequence[DayRoutine],
    nights: Sequence[tuple[int, int]],
    act_band: tuple[float, float] | None,
    wake_band: tuple[float, float] | None,
) -> str:
    if not kept:
        return word(lang, "trend_none", n=days) + word(lang, "end")
    sentences = []
    if len(kept) < days:
        sentences.append(word(lang, "trend_kept", n=days, k=len(kept)))
    hours = statistics.fmean(d.active_min for d in kept) / 60
    sentences.append(word(lang, "trend_active", h=f"{hours:.1f}"))
    if act_band is not None:
        fewer = sum(1 for d in kept if d.active_min / 60 < act_band[0] - ACTIVE_MARGIN_H)
        sentences.append(word(lang, "trend_fewer", d=fewer) if fewer else word(lang, "trend_usual"))
    if nights:
        bed = statistics.median(n[0] for n in nights)
        wake = statistics.median(n[1] for n in nights)
        sentences.append(
            word(lang, "trend_sleep", bed=clock_text(bed % 1440), wake=clock_text(wake % 1440))
        )
        if wake_band is not None:
            late = sum(1 for n in nights if n[1] > wake_band[1] + WAKE_SAME_MIN)
            if late:
                sentences.append(word(lang, "trend_late", d=late))
    return word(lang, "sep").join(sentences) + word(lang, "end")

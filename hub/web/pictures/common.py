"""What every picture of the family page shares: sizes, colours, words in both languages,
the data types the pictures are drawn from, and the outer SVG element."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

WIDTH = 390
LABEL_W = 52  # the day labels' column
GRID_W = WIDTH - LABEL_W - 8  # 24 h across, a little margin on the right
CELL_MIN = 30  # shading resolution: the half hour
CELLS = 24 * 60 // CELL_MIN
ROW_H = 30
TOP = 34  # the title and the hour axis
STRIP_DAYS = 7
VITAL_DAYS = 7  # the family page's vital-sign charts: her week
# Shading levels by signs of life in a half hour; fixed, so one week compares with another.
LEVEL_FLOORS = (1, 3, 6)
LEVEL_OPACITY = (0.25, 0.5, 0.85)
# "Got up": the first sign of life at or after this time (a night visit is earlier).
WAKE_EARLIEST = time(4, 0)
# Signs this long after a night visit's start belong to the visit (the night-visit check
# ends one with motion back in bed or elsewhere, usually within minutes).
VISIT_SPAN_MIN = 30
# A week's usual wake-up time is "as usual" within this many minutes of the routine's.
WAKE_SAME_MIN = 30

COLOURS = {
    "activity": "#2e7d32",
    "away": "#1565c0",
    "night_visit": "#6a1b9a",
    "checkin": "#00695c",  # darker than the shading, and ringed in white on it
    "no_checkin": "#e65100",
    "alarm": "#c62828",
    "grid": "#cccccc",
    "text": "#333333",
    "band": "#1565c0",
    "threshold": "#c62828",
    "diastolic": "#ef6c00",
}

WORDS: dict[str, dict[str, str]] = {
    "strip_title": {"zh": "近 7 天活动", "en": "Activity, last 7 days"},
    "activity": {"zh": "活动", "en": "activity"},
    "away": {"zh": "外出", "en": "out"},
    "night_visit": {"zh": "起夜", "en": "night visit"},
    "checkin": {"zh": "报平安", "en": "check-in"},
    "no_checkin": {"zh": "未报平安", "en": "no check-in"},
    "alarm": {"zh": "报警", "en": "alarm"},
    "weekdays": {"zh": "一二三四五六日", "en": "MTWTFSS"},
    "wake_same": {
        "zh": "本周起床时间与平常一致（约 {t}）",
        "en": "Up at her usual time this week (about {t})",
    },
    "wake_later": {
        "zh": "本周起床比平常晚（约 {t}，平常 {usual}）",
        "en": "Up later than usual this week (about {t}, usually {usual})",
    },
    "wake_earlier": {
        "zh": "本周起床比平常早（约 {t}，平常 {usual}）",
        "en": "Up earlier than usual this week (about {t}, usually {usual})",
    },
    "wake_only": {"zh": "本周约 {t} 起床", "en": "Up at about {t} this week"},
    "wake_none": {"zh": "本周没有起床记录", "en": "No getting up seen this week"},
    "night_visits": {"zh": "夜间起夜 {n} 次", "en": "{n} night visits"},
    "away_days": {"zh": "{n} 天外出", "en": "out on {n} days"},
    "no_checkin_days": {"zh": "{days} 未报平安", "en": "no check-in on {days}"},
    "all_checked_in": {"zh": "每天都报了平安", "en": "checked in every day"},
    "alarms": {"zh": "报警 {n} 次", "en": "{n} alarms"},
    "sep": {"zh": "，", "en": "; "},
    "end": {"zh": "。", "en": "."},
    "list_sep": {"zh": "、", "en": ", "},
    "heart_rate": {"zh": "心率", "en": "Heart rate"},
    "spo2": {"zh": "血氧", "en": "SpO2"},
    "unit_heart_rate": {"zh": "次/分", "en": "bpm"},
    "unit_spo2": {"zh": "%", "en": "%"},
    "blood_pressure": {"zh": "血压", "en": "Blood pressure"},
    "trend_title": {"zh": "近 {n} 天每天活动（小时）", "en": "Hours with activity, last {n} days"},
    "sleep_title": {
        "zh": "睡眠（前晚最后活动到起床）",
        "en": "Sleep (last activity to getting up)",
    },
    "legend_activity": {"zh": "活动", "en": "activity"},
    "legend_sleep": {"zh": "睡眠", "en": "sleep"},
    "legend_usual": {"zh": "平常范围", "en": "usual range"},
    "trend_none": {"zh": "近 {n} 天没有活动记录", "en": "No activity kept for the last {n} days"},
    "trend_kept": {
        "zh": "近 {n} 天中集线器有 {k} 天的记录",
        "en": "the hub keeps {k} of the last {n} days",
    },
    "trend_active": {"zh": "每天活动约 {h} 小时", "en": "about {h} h with activity a day"},
    "trend_usual": {"zh": "都在平常范围内", "en": "all within her usual range"},
    "trend_fewer": {"zh": "{d} 天比平常少", "en": "less than usual on {d} days"},
    "trend_sleep": {"zh": "通常 {bed} 睡、{wake} 起", "en": "usually asleep {bed} to {wake}"},
    "trend_late": {"zh": "{d} 天起床比平常晚", "en": "up later than usual on {d} days"},
    "systolic": {"zh": "收缩压", "en": "systolic"},
    "diastolic": {"zh": "舒张压", "en": "diastolic"},
    "unit_blood_pressure": {"zh": "mmHg", "en": "mmHg"},
    "series_range": {"zh": "{what} {low}–{high}", "en": "{what} {low}–{high}"},
    "multi_range": {
        "zh": "近 {n} 天{what}：{ranges} {unit}",
        "en": "{what} over {n} days: {ranges} {unit}",
    },
    "series_clause": {"zh": "{what}有 {clause}", "en": "{what} {clause}"},
    "vital_title": {"zh": "近 {n} 天{what}", "en": "{what}, last {n} days"},
    "vital_range": {
        "zh": "近 {n} 天{what} {low}–{high} {unit}，平均 {mean}",
        "en": "{what} over {n} days {low}–{high} {unit}, mean {mean}",
    },
    "vital_none": {"zh": "近 {n} 天没有{what}数据", "en": "No {what} readings in {n} days"},
    "vital_in_band": {"zh": "都在正常范围内", "en": "all within the set limits"},
    "vital_below": {"zh": "{d} 天低于 {limit}", "en": "below {limit} on {d} days"},
    "vital_above": {"zh": "{d} 天高于 {limit}", "en": "above {limit} on {d} days"},
    "vital_gaps": {"zh": "{d} 天没有数据", "en": "no readings on {d} days"},
}


def word(lang: str, key: str, **values: object) -> str:
    """A label in `lang` (Mandarin when unknown), with {values} filled in."""
    texts = WORDS[key]
    text = texts.get(lang, texts["zh"])
    return text.format(**values) if values else text


# Local, not html.escape: importing `html` loads html.entities (~0.7 MiB), which the hub
# keeps out of memory until a page needs it.
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def x(value: object) -> str:
    """Escape for SVG (XML) text and attribute values."""
    return str(value).translate(_XML_ESCAPES)


@dataclass(frozen=True)
class Picture:
    """An SVG and the sentence that says what it shows."""

    svg: str
    summary: str


@dataclass(frozen=True)
class Span:
    """A stretch of time (out of home), timezone-aware ends."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class WeekActivity:
    """What the activity strip shows; every time timezone-aware. None: the hub has no
    record of that kind for the week, so it is neither drawn nor said (an empty list would
    say "0 night visits" or mark every day as without check-in)."""

    signs: Sequence[datetime] = ()  # signs of life (motion, doors, presses)
    away: Sequence[Span] = ()  # out of home (presence history)
    night_visits: Sequence[datetime] | None = None  # the start of each night bathroom visit
    checkins: Sequence[datetime] | None = None
    alarms: Sequence[datetime] | None = None


@dataclass(frozen=True)
class DailyVital:
    """One measure over one local day: the low, mean and high of its readings."""

    day: date
    low: float
    mean: float
    high: float


@dataclass(frozen=True)
class VitalLimits:
    """The configured thresholds drawn on a vital chart (from care.vitals)."""

    low: float | None = None
    high: float | None = None
    extra_lines: tuple[float, ...] = field(default=())  # e.g. SpO2's critical level


def cell_of(local: datetime) -> int:
    return (local.hour * 60 + local.minute) // CELL_MIN


def level_of(count: int) -> int:
    """0 for no sign, else 1..len(LEVEL_FLOORS)."""
    return sum(1 for floor in LEVEL_FLOORS if count >= floor)


def clock_text(minutes: float) -> str:
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def day_label(lang: str, day: date) -> str:
    return f"{day.month}/{day.day} {word(lang, 'weekdays')[day.weekday()]}"


def days_text(lang: str, days: Sequence[date]) -> str:
    return word(lang, "list_sep").join(f"{d.month}/{d.day}" for d in days)


def svg_element(title: str, summary: str, width: int, height: float, body: str) -> str:
    """The outer element: scales to its box; the summary is its accessible name."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
        f'width="100%" role="img" aria-label="{x(summary)}" font-family="sans-serif" '
        f'fill="{COLOURS["text"]}"><title>{x(title)}</title><desc>{x(summary)}</desc>'
        f"{body}</svg>"
    )

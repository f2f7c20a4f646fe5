"""Pictures of her week for the family page: inline SVG drawn on the hub, with a sentence.

Pure: no IO, no aiohttp. The inputs are plain data built from the stores (signs of life,
presence history, check-ins, alarms, the health archive's 5-minute buckets) and a clock;
the output is an SVG string (no script, no external href, system fonts only: the page
must work on an offline LAN) and a one-line summary in words, which is also the
picture's accessible name, so a screen reader says what the picture shows.

Drawn for a 390 px wide phone: the SVG's viewBox is 390 wide and it scales to its box.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.care.config import VitalThresholds
from hub.clock import Clock

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


def _cell(local: datetime) -> int:
    return (local.hour * 60 + local.minute) // CELL_MIN


def _level(count: int) -> int:
    """0 for no sign, else 1..len(LEVEL_FLOORS)."""
    return sum(1 for floor in LEVEL_FLOORS if count >= floor)


def _clock_text(minutes: float) -> str:
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def _day_label(lang: str, day: date) -> str:
    return f"{day.month}/{day.day} {word(lang, 'weekdays')[day.weekday()]}"


def _days_text(lang: str, days: Sequence[date]) -> str:
    return word(lang, "list_sep").join(f"{d.month}/{d.day}" for d in days)


def wake_minutes(
    signs: Iterable[datetime], tz: ZoneInfo, night_visits: Sequence[datetime] = ()
) -> dict[date, int]:
    """Per local day, the minute of the day of the first sign of life from WAKE_EARLIEST
    that is not part of a night visit (a 04:30 trip to the bathroom and back to bed is
    not getting up: signs within VISIT_SPAN_MIN of a visit's start are skipped)."""
    visit_span = timedelta(minutes=VISIT_SPAN_MIN)
    first: dict[date, int] = {}
    for sign in signs:
        local = sign.astimezone(tz)
        if local.time() < WAKE_EARLIEST:
            continue
        if any(v <= sign < v + visit_span for v in night_visits):
            continue
        minute = local.hour * 60 + local.minute
        day = local.date()
        if day not in first or minute < first[day]:
            first[day] = minute
    return first


def signs_from_routine(
    profile_days: Mapping[str, Sequence[int]], slot_min: int, tz: ZoneInfo
) -> list[datetime]:
    """Signs of life from the learned routine's profile (RoutineCheck.days: local date ->
    5-minute slots with a sign), one at the start of each active slot: the hub already
    keeps 15 days of these, so the strip needs no new writes. A half hour then holds 0-6,
    which LEVEL_FLOORS shade as some, much, all of it active."""
    signs: list[datetime] = []
    for day_text, slots in profile_days.items():
        midnight = datetime.combine(date.fromisoformat(day_text), time(0), tz)
        # Wall-clock minutes, not elapsed ones: a DST day keeps its slots at their hours.
        signs += [
            midnight.replace(hour=s * slot_min // 60, minute=s * slot_min % 60)
            for s in sorted(set(slots))
            if 0 <= s * slot_min < 24 * 60
        ]
    return signs


def routine_strip(
    profile_days: Mapping[str, Sequence[int]],
    slot_min: int,
    clock: Clock,
    tz: ZoneInfo,
    *,
    lang: str = "zh",
    night_visits: Sequence[datetime] | None = None,
    checkins: Sequence[datetime] | None = None,
    alarms: Sequence[datetime] | None = None,
    checkin_by: time | None = None,
    away: Sequence[Span] = (),
) -> Picture:
    """The strip from what the care engine keeps in memory (the learned routine's 15 days
    of active slots, and its week of marks when they cover the week: None is unknown):
    her activity this week, the wake-up time against the days before it, night visits,
    check-ins and alarms; and her outings (`away`, from the presence history)."""
    week_start = (clock.now().astimezone(tz).date() - timedelta(days=STRIP_DAYS - 1)).isoformat()
    before = {day: slots for day, slots in profile_days.items() if day < week_start}
    # Only the week's days become signs (the profile's older days would be drawn nowhere:
    # a third of the drawing's time with 15 days kept).
    week = {day: slots for day, slots in profile_days.items() if day >= week_start}
    return activity_strip(
        WeekActivity(
            signs=signs_from_routine(week, slot_min, tz),
            away=away,
            night_visits=night_visits,
            checkins=checkins,
            alarms=alarms,
        ),
        clock,
        tz,
        lang=lang,
        checkin_by=checkin_by,
        usual_wake_min=usual_wake_from_routine(before, slot_min),
    )


def strip_start(clock: Clock, tz: ZoneInfo) -> datetime:
    """Local midnight of the strip's first day (its marks are needed from then)."""
    first = clock.now().astimezone(tz).date() - timedelta(days=STRIP_DAYS - 1)
    return datetime.combine(first, time(0), tz)


def usual_wake_from_routine(profile_days: Mapping[str, Sequence[int]], slot_min: int) -> int | None:
    """The usual wake-up minute from the learned routine's profile (RoutineCheck.days:
    local date -> active slots): the median of each day's first slot from WAKE_EARLIEST."""
    earliest = (WAKE_EARLIEST.hour * 60 + WAKE_EARLIEST.minute) // slot_min
    firsts = [
        min(s for s in slots if s >= earliest) * slot_min
        for slots in profile_days.values()
        if any(s >= earliest for s in slots)
    ]
    return round(statistics.median(firsts)) if firsts else None


def away_spans(transitions: Sequence[Mapping[str, object]], now: datetime) -> list[Span]:
    """Out-of-home spans from presence-history rows (hub/store/presence.py, oldest first):
    from a row saying away to the next saying near; one still open ends now."""
    spans: list[Span] = []
    left: datetime | None = None
    for row in transitions:
        ts = row["ts"]
        if not isinstance(ts, (int, float)):
            continue
        at = datetime.fromtimestamp(ts, now.tzinfo)
        if not row["present"] and left is None:
            left = at
        elif row["present"] and left is not None:
            spans.append(Span(left, at))
            left = None
    if left is not None:
        spans.append(Span(left, now))
    return spans


def activity_strip(
    week: WeekActivity,
    clock: Clock,
    tz: ZoneInfo,
    *,
    lang: str = "zh",
    checkin_by: time | None = None,
    usual_wake_min: int | None = None,
) -> Picture:
    """The 7-day strip: a row per local day (oldest on top), 24 h across, half hours shaded
    by signs of life, out of home as a band, marks for night visits, check-ins, alarms, and
    a mark at the row's end for a day without check-in (`checkin_by` None: check-in off;
    today counts only once that time is past)."""
    now = clock.now().astimezone(tz)
    today = now.date()
    days = [today - timedelta(days=n) for n in range(STRIP_DAYS - 1, -1, -1)]
    row_of = {d: i for i, d in enumerate(days)}
    cell_w = GRID_W / CELLS
    minute_w = GRID_W / (24 * 60)

    def xpos(local: datetime) -> float:
        return LABEL_W + (local.hour * 60 + local.minute + local.second / 60) * minute_w

    def ypos(day: date) -> float:
        return TOP + row_of[day] * ROW_H

    counts: dict[tuple[date, int], int] = {}
    for sign in week.signs:
        local = sign.astimezone(tz)
        if local.date() in row_of and local <= now:
            key = (local.date(), _cell(local))
            counts[key] = counts.get(key, 0) + 1

    height = TOP + STRIP_DAYS * ROW_H + 44
    title = word(lang, "strip_title")
    parts = [f'<text x="4" y="14" font-size="12" font-weight="bold">{x(title)}</text>']
    # Hour axis.
    for hour in range(0, 25, 6):
        hx = LABEL_W + hour * 60 * minute_w
        parts.append(
            f'<line x1="{hx:.1f}" y1="{TOP}" x2="{hx:.1f}" y2="{TOP + STRIP_DAYS * ROW_H}" '
            f'stroke="{COLOURS["grid"]}" stroke-width="0.5"/>'
            f'<text x="{hx:.1f}" y="{TOP - 5}" font-size="10" text-anchor="middle">{hour}</text>'
        )
    checked_days = {c.astimezone(tz).date() for c in week.checkins or ()}
    # Without a record of check-ins nothing can be said to be missing.
    checkin_by = checkin_by if week.checkins is not None else None
    # Each day's drawing goes into its row's group, so the row says what it holds.
    rows: dict[date, list[str]] = {day: [] for day in days}
    for day in days:
        y = ypos(day)
        row = rows[day]
        row += [
            f'<text x="2" y="{y + ROW_H / 2 + 4:.1f}" font-size="11">{x(_day_label(lang, day))}'
            "</text>",
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{GRID_W}" height="{ROW_H - 4}" '
            f'fill="none" stroke="{COLOURS["grid"]}" stroke-width="0.5"/>',
        ]
        for cell in range(CELLS):
            level = _level(counts.get((day, cell), 0))
            if level:
                row.append(
                    f'<rect data-level="{level}" x="{LABEL_W + cell * cell_w:.1f}" y="{y + 6}" '
                    f'width="{cell_w:.1f}" height="{ROW_H - 12}" fill="{COLOURS["activity"]}" '
                    f'fill-opacity="{LEVEL_OPACITY[level - 1]}"/>'
                )
        missing = (
            checkin_by is not None
            and day not in checked_days
            and (day < today or now.time() >= checkin_by)
        )
        if missing:
            # An orange ring at the row's end: the missing check-in is seen without reading.
            row.append(
                f'<circle data-mark="no_checkin" cx="{WIDTH - 4}" cy="{y + ROW_H / 2}" r="3" '
                f'fill="none" stroke="{COLOURS["no_checkin"]}" stroke-width="1.5"/>'
            )

    # Out of home: a band along the bottom of each row it covers, split at midnight.
    for span in week.away:
        start, end = span.start.astimezone(tz), min(span.end.astimezone(tz), now)
        while start < end:
            midnight = datetime.combine(start.date() + timedelta(days=1), time(0), tz)
            piece_end = min(end, midnight)
            if start.date() in row_of:
                x0 = xpos(start)
                x1 = LABEL_W + GRID_W if piece_end == midnight else xpos(piece_end)
                rows[start.date()].append(
                    f'<rect data-mark="away" x="{x0:.1f}" y="{ypos(start.date()) + ROW_H - 6}" '
                    f'width="{max(x1 - x0, 1):.1f}" height="4" fill="{COLOURS["away"]}"/>'
                )
            start = piece_end

    def point_marks(times: Sequence[datetime] | None, kind: str, shape: str) -> None:
        for at in times or ():
            local = at.astimezone(tz)
            if local.date() not in row_of or local > now:
                continue
            px, py = xpos(local), ypos(local.date())
            rows[local.date()].append(shape.format(kind=kind, x=f"{px:.1f}", y=py, c=COLOURS[kind]))

    # Night visits: a small triangle inside the top of the row (at its edge it looked like
    # the row above's, a screenshot showed); check-in: a dot; alarm: a red diamond.
    point_marks(
        week.night_visits,
        "night_visit",
        '<path data-mark="{kind}" d="M{x} {y} l-3 0 l3 5 l3 -5 z" transform="translate(0 4)" '
        'fill="{c}"/>',
    )
    point_marks(
        week.checkins,
        "checkin",
        '<circle data-mark="{kind}" cx="{x}" cy="{y}" r="3.5" fill="{c}" stroke="#ffffff" '
        'stroke-width="1.5" transform="translate(0 15)"/>',
    )
    point_marks(
        week.alarms,
        "alarm",
        '<path data-mark="{kind}" d="M{x} {y} l4 4 l-4 4 l-4 -4 z" transform="translate(0 11)" '
        'fill="{c}"/>',
    )

    parts += (f'<g data-day="{day.isoformat()}">{"".join(rows[day])}</g>' for day in days)
    # Legend: only what this picture can show (no key for a kind the hub has no record of).
    legend = ["activity"]
    legend += ["away"] if week.away else []
    legend += ["night_visit"] if week.night_visits is not None else []
    legend += ["checkin"] if week.checkins is not None else []
    legend += ["no_checkin"] if checkin_by is not None else []
    legend += ["alarm"] if week.alarms is not None else []
    for i, kind in enumerate(legend):
        lx, ly = 4 + i % 4 * 80, TOP + STRIP_DAYS * ROW_H + 22 + i // 4 * 14
        opacity = f' fill-opacity="{LEVEL_OPACITY[1]}"' if kind == "activity" else ""
        parts.append(
            f'<rect data-legend="{kind}" x="{lx}" y="{ly - 8}" width="10" height="8" '
            f'fill="{COLOURS[kind]}"{opacity}/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="11">{x(word(lang, kind))}</text>'
        )

    summary = _strip_summary(
        lang,
        week,
        tz=tz,
        now=now,
        days=days,
        checked_days=checked_days,
        checkin_by=checkin_by,
        usual_wake_min=usual_wake_min,
    )
    return Picture(_svg(title, summary, WIDTH, height + 8, "".join(parts)), summary)


def _strip_summary(
    lang: str,
    week: WeekActivity,
    *,
    tz: ZoneInfo,
    now: datetime,
    days: Sequence[date],
    checked_days: set[date],
    checkin_by: time | None,
    usual_wake_min: int | None,
) -> str:
    in_week = set(days)

    def count(times: Iterable[datetime]) -> int:
        return sum(1 for t in times if t.astimezone(tz).date() in in_week and t <= now)

    sentences: list[str] = []
    wakes = [
        m for d, m in wake_minutes(week.signs, tz, week.night_visits or ()).items() if d in in_week
    ]
    if not wakes:
        sentences.append(word(lang, "wake_none"))
    else:
        typical = statistics.median(wakes)
        if usual_wake_min is None:
            sentences.append(word(lang, "wake_only", t=_clock_text(typical)))
        else:
            key = (
                "wake_same"
                if abs(typical - usual_wake_min) <= WAKE_SAME_MIN
                else "wake_later"
                if typical > usual_wake_min
                else "wake_earlier"
            )
            sentences.append(
                word(lang, key, t=_clock_text(typical), usual=_clock_text(usual_wake_min))
            )
    if week.night_visits is not None:
        sentences.append(word(lang, "night_visits", n=count(week.night_visits)))
    away_days = {
        d
        for span in week.away
        for d in days
        if span.start.astimezone(tz).date() <= d <= span.end.astimezone(tz).date()
    }
    if away_days:
        sentences.append(word(lang, "away_days", n=len(away_days)))
    if checkin_by is not None:
        missing = [
            d
            for d in days
            if d not in checked_days and (d < now.date() or now.time() >= checkin_by)
        ]
        sentences.append(
            word(lang, "no_checkin_days", days=_days_text(lang, missing))
            if missing
            else word(lang, "all_checked_in")
        )
    alarms = count(week.alarms or ())
    if alarms:
        sentences.append(word(lang, "alarms", n=alarms))
    return word(lang, "sep").join(sentences) + word(lang, "end")


def daily_vitals(
    buckets: Iterable[Mapping[str, object]], measure: str | Sequence[str], tz: ZoneInfo
) -> list[DailyVital]:
    """Per local day, one measure's low / mean / high from health-archive buckets
    (hub/store/health.py query or hourly rows: bucket, device, measure, n, mean, min, max);
    the mean weighted by each bucket's reading count; all devices together (and, given
    several measure names, those together: a wristband's `bpm` and an oximeter's
    `pulse_bpm` are both her heart rate), oldest day first."""
    measures = {measure} if isinstance(measure, str) else set(measure)
    per_day: dict[date, list[float]] = {}  # day -> [n, total, low, high]
    for row in buckets:
        if row["measure"] not in measures:
            continue
        start, n, mean = row["bucket"], row["n"], row["mean"]
        low, high = row["min"], row["max"]
        if not (
            isinstance(start, int)
            and isinstance(n, int)
            and isinstance(mean, (int, float))
            and isinstance(low, (int, float))
            and isinstance(high, (int, float))
        ):
            continue
        day = datetime.fromtimestamp(start, tz).date()
        acc = per_day.setdefault(day, [0.0, 0.0, float("inf"), float("-inf")])
        acc[0] += n
        acc[1] += mean * n
        acc[2] = min(acc[2], low)
        acc[3] = max(acc[3], high)
    return [
        DailyVital(day, acc[2], round(acc[1] / acc[0], 1), acc[3])
        for day, acc in sorted(per_day.items())
        if acc[0] > 0
    ]


# The y range drawn per measure; widened when a reading falls outside.
VITAL_RANGE = {
    "heart_rate": (40.0, 140.0),
    "spo2": (85.0, 100.0),
    "blood_pressure": (50.0, 190.0),
}
# Which archive measures (hub/store/health.py VITAL_MEASURES) each chart draws.
CHART_MEASURES: dict[str, tuple[str, ...]] = {
    "heart_rate": ("bpm", "pulse_bpm"),
    "spo2": ("spo2_pct",),
    "systolic": ("systolic_mmhg",),
    "diastolic": ("diastolic_mmhg",),
}


@dataclass(frozen=True)
class Series:
    """One measure drawn on a range chart: its days, its limits, its colour."""

    name: str  # a WORDS key: heart_rate, spo2, systolic, diastolic
    daily: Sequence[DailyVital]
    limits: VitalLimits
    colour: str = COLOURS["band"]


def vital_chart(
    measure: str,
    daily: Sequence[DailyVital],
    limits: VitalLimits,
    clock: Clock,
    tz: ZoneInfo,
    *,
    days: int = 7,
    lang: str = "zh",
) -> Picture:
    """A chart of one vital sign over the last `days` local days: for each day a bar from
    low to high with the mean as a dot, the configured limits as dashed red lines."""
    return range_chart(measure, [Series(measure, daily, limits)], clock, tz, days=days, lang=lang)


def blood_pressure_chart(
    systolic: Sequence[DailyVital],
    diastolic: Sequence[DailyVital],
    clock: Clock,
    tz: ZoneInfo,
    *,
    systolic_limits: VitalLimits,
    diastolic_limits: VitalLimits,
    days: int = 7,
    lang: str = "zh",
) -> Picture:
    """Blood pressure over the last `days` days: per day a systolic and a diastolic bar
    side by side (low to high, the mean a dot), each with its configured limits."""
    return range_chart(
        "blood_pressure",
        [
            Series("systolic", systolic, systolic_limits, COLOURS["band"]),
            Series("diastolic", diastolic, diastolic_limits, COLOURS["diastolic"]),
        ],
        clock,
        tz,
        days=days,
        lang=lang,
    )


def range_chart(
    measure: str,
    series: Sequence[Series],
    clock: Clock,
    tz: ZoneInfo,
    *,
    days: int = 7,
    lang: str = "zh",
) -> Picture:
    """Daily low-mean-high bars of one or more series over the last `days` local days,
    with every series' limits as dashed red lines; a legend when there are several."""
    today = clock.now().astimezone(tz).date()
    shown_days = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    shown_set = set(shown_days)
    by_day = [{d.day: d for d in s.daily if d.day in shown_set} for s in series]
    lo, hi = VITAL_RANGE.get(measure, (0.0, 100.0))
    values = [v for days_of in by_day for d in days_of.values() for v in (d.low, d.high)]
    limit_lines = sorted(
        {
            v
            for s in series
            for v in (s.limits.low, s.limits.high, *s.limits.extra_lines)
            if v is not None
        }
    )
    values += limit_lines
    lo, hi = min([lo, *values]), max([hi, *values])
    left, right, top, plot_h = 34, WIDTH - 6, 22, 150
    legend_h = 16 if len(series) > 1 else 0
    height = top + plot_h + 24 + legend_h
    col_w = (right - left) / days

    def ypos(value: float) -> float:
        return top + (hi - value) / (hi - lo) * plot_h

    what, unit = word(lang, measure), word(lang, f"unit_{measure}")
    parts = [
        f'<text x="4" y="14" font-size="12" font-weight="bold">'
        f"{x(word(lang, 'vital_title', n=days, what=what))} ({x(unit)})</text>",
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{plot_h}" fill="none" '
        f'stroke="{COLOURS["grid"]}" stroke-width="0.5"/>',
    ]
    for tick in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text x="{left - 3}" y="{ypos(tick) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{tick:g}</text>'
        )
    for limit in limit_lines:
        parts.append(
            f'<line data-limit="{limit:g}" x1="{left}" y1="{ypos(limit):.1f}" x2="{right}" '
            f'y2="{ypos(limit):.1f}" stroke="{COLOURS["threshold"]}" stroke-width="1" '
            'stroke-dasharray="4 3"/>'
        )
    label_every = 1 if days <= 7 else 5
    n_series = len(series)
    bar_w = max(min(col_w * 0.4 / n_series, 12), 2)
    for i, day in enumerate(shown_days):
        cx = left + (i + 0.5) * col_w
        if i % label_every == 0 or i == days - 1:
            # The last label ends at the right edge: centred, it would be cut off.
            anchor = "end" if i == days - 1 and days > 7 else "middle"
            lx = right if anchor == "end" else cx
            parts.append(
                f'<text x="{lx:.1f}" y="{top + plot_h + 14}" font-size="10" '
                f'text-anchor="{anchor}">{day.month}/{day.day}</text>'
            )
        bars: list[str] = []
        for k, (s, days_of) in enumerate(zip(series, by_day, strict=True)):
            vital = days_of.get(day)
            if vital is None:
                continue
            bx = cx + (k - (n_series - 1) / 2) * (bar_w + 1)
            data = f' data-series="{s.name}"' if n_series > 1 else ""
            bars.append(
                f'<rect{data} x="{bx - bar_w / 2:.1f}" y="{ypos(vital.high):.1f}" '
                f'width="{bar_w:.1f}" height="{max(ypos(vital.low) - ypos(vital.high), 1):.1f}" '
                f'fill="{s.colour}" fill-opacity="0.35"/>'
                f'<circle cx="{bx:.1f}" cy="{ypos(vital.mean):.1f}" '
                f'r="{min(bar_w / 2, 3):.1f}" fill="{s.colour}"/>'
            )
        if bars:
            parts.append(f'<g data-day="{day.isoformat()}">{"".join(bars)}</g>')
    if n_series > 1:
        for k, s in enumerate(series):
            lx, ly = left + k * 110, height - 6
            parts.append(
                f'<rect data-legend="{s.name}" x="{lx}" y="{ly - 8}" width="10" height="8" '
                f'fill="{s.colour}"/>'
                f'<text x="{lx + 14}" y="{ly}" font-size="11">{x(word(lang, s.name))}</text>'
            )
    if n_series == 1:
        summary = _vital_summary(
            lang,
            what=what,
            unit=unit,
            days=days,
            shown=list(by_day[0].values()),
            limits=series[0].limits,
        )
    else:
        summary = _multi_summary(
            lang, what=what, unit=unit, days=days, series=series, by_day=by_day
        )
    return Picture(_svg(what, summary, WIDTH, height, "".join(parts)), summary)


def _limit_clauses(lang: str, shown: Sequence[DailyVital], limits: VitalLimits) -> list[str]:
    """Days beyond the limits, or that all were within them (nothing without limits)."""
    clauses: list[str] = []
    below = sum(1 for d in shown if limits.low is not None and d.low < limits.low)
    above = sum(1 for d in shown if limits.high is not None and d.high > limits.high)
    if below:
        clauses.append(word(lang, "vital_below", d=below, limit=f"{limits.low:g}"))
    if above:
        clauses.append(word(lang, "vital_above", d=above, limit=f"{limits.high:g}"))
    if not below and not above and (limits.low is not None or limits.high is not None):
        clauses.append(word(lang, "vital_in_band"))
    return clauses


def _vital_summary(
    lang: str,
    *,
    what: str,
    unit: str,
    days: int,
    shown: Sequence[DailyVital],
    limits: VitalLimits,
) -> str:
    if not shown:
        return word(lang, "vital_none", n=days, what=what) + word(lang, "end")
    mean = statistics.fmean(d.mean for d in shown)
    sentences = [
        word(
            lang,
            "vital_range",
            n=days,
            what=what,
            low=f"{min(d.low for d in shown):g}",
            high=f"{max(d.high for d in shown):g}",
            unit=unit,
            mean=f"{mean:.0f}",
        )
    ]
    sentences += _limit_clauses(lang, shown, limits)
    if len(shown) < days:
        sentences.append(word(lang, "vital_gaps", d=days - len(shown)))
    return word(lang, "sep").join(sentences) + word(lang, "end")


def _multi_summary(
    lang: str,
    *,
    what: str,
    unit: str,
    days: int,
    series: Sequence[Series],
    by_day: Sequence[Mapping[date, DailyVital]],
) -> str:
    """The ranges of every series in one sentence, then the days beyond each one's limits
    (or that all were within them), e.g. for blood pressure in Mandarin: "near 7 days'
    blood pressure: systolic 112-150, diastolic 70-96 mmHg, all within the set limits"."""
    shown = [list(d.values()) for d in by_day]
    if not any(shown):
        return word(lang, "vital_none", n=days, what=what) + word(lang, "end")
    ranges = [
        word(
            lang,
            "series_range",
            what=word(lang, s.name),
            low=f"{min(d.low for d in days_of):g}",
            high=f"{max(d.high for d in days_of):g}",
        )
        for s, days_of in zip(series, shown, strict=True)
        if days_of
    ]
    sentences = [
        word(
            lang, "multi_range", n=days, what=what, ranges=word(lang, "sep").join(ranges), unit=unit
        )
    ]
    outside: list[str] = []
    for s, days_of in zip(series, shown, strict=True):
        clauses = [
            c for c in _limit_clauses(lang, days_of, s.limits) if c != word(lang, "vital_in_band")
        ]
        outside += [word(lang, "series_clause", what=word(lang, s.name), clause=c) for c in clauses]
    if outside:
        sentences += outside
    elif any(s.limits.low is not None or s.limits.high is not None for s in series):
        sentences.append(word(lang, "vital_in_band"))
    with_data = len(set().union(*(d.keys() for d in by_day)))
    if with_data < days:
        sentences.append(word(lang, "vital_gaps", d=days - with_data))
    return word(lang, "sep").join(sentences) + word(lang, "end")


def vital_pictures(
    rows: Sequence[Mapping[str, object]],
    thresholds: VitalThresholds,
    clock: Clock,
    tz: ZoneInfo,
    *,
    days: int = 7,
    lang: str = "zh",
) -> list[Picture]:
    """Heart rate, SpO2 and blood pressure charts from the archive's rows (query or hourly)
    with the care checks' configured thresholds (hub/care/vitals.py) drawn."""
    t = thresholds

    def daily(chart: str) -> list[DailyVital]:
        return daily_vitals(rows, CHART_MEASURES[chart], tz)

    return [
        vital_chart(
            "heart_rate",
            daily("heart_rate"),
            VitalLimits(low=t.hr_low_bpm, high=t.hr_high_bpm),
            clock,
            tz,
            days=days,
            lang=lang,
        ),
        vital_chart(
            "spo2",
            daily("spo2"),
            VitalLimits(low=t.spo2_low_pct, extra_lines=(t.spo2_critical_pct,)),
            clock,
            tz,
            days=days,
            lang=lang,
        ),
        blood_pressure_chart(
            daily("systolic"),
            daily("diastolic"),
            clock,
            tz,
            systolic_limits=VitalLimits(low=t.systolic_low_mmhg, high=t.systolic_high_mmhg),
            diastolic_limits=VitalLimits(high=t.diastolic_high_mmhg),
            days=days,
            lang=lang,
        ),
    ]


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
                f'<rect data-mark="sleep" data-bed="{_clock_text(night[0] % 1440)}" '
                f'data-wake="{_clock_text(night[1] % 1440)}" x="{cx - bar_w / 2:.1f}" '
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
    return Picture(_svg(title, summary, WIDTH, height, "".join(parts)), summary)


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
            word(lang, "trend_sleep", bed=_clock_text(bed % 1440), wake=_clock_text(wake % 1440))
        )
        if wake_band is not None:
            late = sum(1 for n in nights if n[1] > wake_band[1] + WAKE_SAME_MIN)
            if late:
                sentences.append(word(lang, "trend_late", d=late))
    return word(lang, "sep").join(sentences) + word(lang, "end")


def _svg(title: str, summary: str, width: int, height: float, body: str) -> str:
    """The outer element: scales to its box; the summary is its accessible name."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
        f'width="100%" role="img" aria-label="{x(summary)}" font-family="sans-serif" '
        f'fill="{COLOURS["text"]}"><title>{x(title)}</title><desc>{x(summary)}</desc>'
        f"{body}</svg>"
    )


__all__ = [
    "DailyVital",
    "DayRoutine",
    "Picture",
    "Series",
    "Span",
    "VitalLimits",
    "WeekActivity",
    "activity_strip",
    "away_spans",
    "blood_pressure_chart",
    "daily_vitals",
    "day_routines",
    "range_chart",
    "routine_strip",
    "routine_trend",
    "signs_from_routine",
    "strip_start",
    "usual_wake_from_routine",
    "vital_chart",
    "vital_pictures",
    "wake_minutes",
]

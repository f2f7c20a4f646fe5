"""The 7-day activity strip: half hours shaded by signs of life, outings, night visits,
check-ins and alarms, and the sentence that says the week (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.clock import Clock
from hub.web.pictures.common import (
    CELLS,
    COLOURS,
    GRID_W,
    LABEL_W,
    LEVEL_OPACITY,
    ROW_H,
    STRIP_DAYS,
    TOP,
    VISIT_SPAN_MIN,
    WAKE_EARLIEST,
    WAKE_SAME_MIN,
    WIDTH,
    Picture,
    Span,
    WeekActivity,
    cell_of,
    clock_text,
    day_label,
    days_text,
    level_of,
    svg_element,
    word,
    x,
)


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
            key = (local.date(), cell_of(local))
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
            f'<text x="2" y="{y + ROW_H / 2 + 4:.1f}" font-size="11">{x(day_label(lang, day))}'
            "</text>",
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{GRID_W}" height="{ROW_H - 4}" '
            f'fill="none" stroke="{COLOURS["grid"]}" stroke-width="0.5"/>',
        ]
        for cell in range(CELLS):
            level = level_of(counts.get((day, cell), 0))
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
    return Picture(svg_element(title, summary, WIDTH, height + 8, "".join(parts)), summary)


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
            sentences.append(word(lang, "wake_only", t=clock_text(typical)))
        else:
            key = (
                "wake_same"
                if abs(typical - usual_wake_min) <= WAKE_SAME_MIN
                else "wake_later"
                if typical > usual_wake_min
                else "wake_earlier"
            )
            sentences.append(
                word(lang, key, t=clock_text(typical), usual=clock_text(usual_wake_min))
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
            word(lang, "no_checkin_days", days=days_text(lang, missing))
            if missing
            else word(lang, "all_checked_in")
        )
    alarms = count(week.alarms or ())
    if alarms:
        sentences.append(word(lang, "alarms", n=alarms))
    return word(lang, "sep").join(sentences) + word(lang, "end")

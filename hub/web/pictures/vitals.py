"""Heart rate, SpO2 and blood pressure per day: low, mean and high against the configured
limits, with the sentence that says them (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.care.config import VitalThresholds
from hub.clock import Clock
from hub.web.pictures.common import (
    COLOURS,
    WIDTH,
    DailyVital,
    Picture,
    VitalLimits,
    svg_element,
    word,
    x,
)


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
    return Picture(svg_element(what, summary, WIDTH, height, "".join(parts)), summary)


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

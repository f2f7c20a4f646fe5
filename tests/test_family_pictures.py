"""The family page's pictures (hub/web/pictures/): the SVG is well-formed and offline-safe,
shows the rows and marks of the data it is given, and its sentence says what the data says."""

from __future__ import annotations

import json
import random
import statistics
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.clock import FakeClock
from hub.web.pictures import (
    CELLS,
    GRID_W,
    LABEL_W,
    WORDS,
    DailyVital,
    Picture,
    Span,
    VitalLimits,
    WeekActivity,
    activity_strip,
    away_spans,
    blood_pressure_chart,
    daily_vitals,
    day_routines,
    routine_strip,
    routine_trend,
    signs_from_routine,
    usual_wake_from_routine,
    vital_chart,
    vital_pictures,
)

TZ = ZoneInfo("Asia/Shanghai")
SVG = "{http://www.w3.org/2000/svg}"
SEED = 20261203
# Wednesday 3 Dec 2026, 21:00 in Shanghai: the check-in time (09:00) is past today.
NOW = datetime(2026, 12, 3, 21, 0, tzinfo=TZ)
TODAY = NOW.date()
WEEK = [TODAY - timedelta(days=n) for n in range(6, -1, -1)]


def clock_at(local: datetime) -> FakeClock:
    return FakeClock(wall=local.astimezone(UTC))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), TZ)


@dataclass
class GeneratedWeek:
    """A week of an ordinary life, and what it holds (to compare the words against)."""

    activity: WeekActivity
    wake: dict[date, datetime] = field(default_factory=dict)


def generate_week(
    rng: random.Random,
    *,
    night_visits: dict[date, int],
    no_checkin: set[date],
    out: dict[date, tuple[int, int]],
    alarms: list[datetime],
    wake_hh: int = 6,
) -> GeneratedWeek:
    """Signs of life from waking (around wake_hh:30) to bed (around 21:30), none while out."""
    signs: list[datetime] = []
    visits: list[datetime] = []
    checkins: list[datetime] = []
    spans: list[Span] = []
    wakes: dict[date, datetime] = {}
    for day in WEEK:
        wake = at(day, wake_hh, 20 + rng.randrange(20))
        wakes[day] = wake
        bed = at(day, 21, rng.randrange(50))
        away = out.get(day)
        t = wake
        while t < min(bed, NOW):
            if not (away and at(day, away[0]) <= t < at(day, away[1])):
                signs.append(t)
            t += timedelta(minutes=rng.randrange(3, 25))
        for _ in range(night_visits.get(day, 0)):
            visit = at(day, 1 + rng.randrange(3), rng.randrange(60))
            visits.append(visit)
            signs.append(visit)
        if day not in no_checkin:
            checkins.append(at(day, 8, rng.randrange(60)))
        if away:
            spans.append(Span(at(day, away[0]), at(day, away[1])))
    return GeneratedWeek(
        WeekActivity(
            signs=signs, away=spans, night_visits=visits, checkins=checkins, alarms=alarms
        ),
        wakes,
    )


def parse(picture: Picture) -> ET.Element:
    root = ET.fromstring(picture.svg)
    assert root.tag == f"{SVG}svg"
    return root


def marks(root: ET.Element, kind: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("data-mark") == kind]


def assert_offline_safe(picture: Picture) -> None:
    root = parse(picture)
    for el in root.iter():
        assert el.tag != f"{SVG}script"
        assert not el.tag.endswith("foreignObject")
        for name, value in el.attrib.items():
            assert not name.endswith("href"), (el.tag, name, value)
            assert not name.startswith("on"), (el.tag, name)  # no inline handlers
            # Nothing fetched: no url() paint or style (the accessible name is only words).
            assert name == "aria-label" or "url(" not in value, (el.tag, name, value)
    # Any "<script" in the text is escaped, never an element.
    assert "<script" not in picture.svg.lower()
    # The accessible name is the summary, and the summary is there as text too.
    assert root.get("role") == "img"
    assert root.get("aria-label") == picture.summary
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text == picture.summary


@pytest.fixture
def week() -> GeneratedWeek:
    return generate_week(
        random.Random(SEED),
        night_visits={WEEK[1]: 1, WEEK[4]: 2},
        no_checkin={WEEK[2]},
        out={WEEK[3]: (9, 12), WEEK[5]: (14, 17)},
        alarms=[at(WEEK[6], 15, 10)],
    )


def test_strip_has_a_row_per_day_and_the_marks_of_the_data(week: GeneratedWeek) -> None:
    picture = activity_strip(week.activity, clock_at(NOW), TZ, checkin_by=time(9, 0))
    assert_offline_safe(picture)
    root = parse(picture)
    rows = [el.get("data-day") for el in root.iter() if el.tag == f"{SVG}g" and el.get("data-day")]
    assert rows == [d.isoformat() for d in WEEK]
    assert len(marks(root, "night_visit")) == 3
    assert len(marks(root, "checkin")) == 6
    assert len(marks(root, "alarm")) == 1
    assert len(marks(root, "away")) == 2
    missing = marks(root, "no_checkin")
    assert len(missing) == 1
    # The missing check-in's ring sits in that day's row.
    row = next(el for el in root.iter() if el.get("data-day") == WEEK[2].isoformat())
    assert marks(row, "no_checkin") == missing


def test_strip_shades_the_half_hours_by_how_many_signs_and_leaves_the_rest_blank() -> None:
    signs = [at(TODAY, 7, 5), at(TODAY, 7, 10)]  # 2 signs: level 1
    signs += [at(TODAY, 9, m) for m in range(0, 30, 5)]  # 6: level 3
    signs += [at(TODAY, 13, 40)]  # 1: level 1
    signs += [at(TODAY, 15, 1), at(TODAY, 15, 2), at(TODAY, 15, 29)]  # 3: level 2
    picture = activity_strip(WeekActivity(signs=signs), clock_at(NOW), TZ)
    row = next(el for el in parse(picture).iter() if el.get("data-day") == TODAY.isoformat())
    cells = [el for el in row if el.get("data-level")]
    assert [el.get("data-level") for el in cells] == ["1", "3", "1", "2"]
    xs = [float(el.get("x", "0")) for el in cells]
    cell_w = GRID_W / CELLS
    assert xs == pytest.approx([LABEL_W + n * cell_w for n in (14, 18, 27, 30)], abs=0.06)
    other_days = [
        el
        for el in parse(picture).iter()
        if el.get("data-day") not in (None, TODAY.isoformat())
        and any(c.get("data-level") for c in el)
    ]
    assert other_days == []


def test_strip_summary_counts_what_the_week_holds(week: GeneratedWeek) -> None:
    picture = activity_strip(
        week.activity, clock_at(NOW), TZ, checkin_by=time(9, 0), usual_wake_min=6 * 60 + 30
    )
    # The week's wake-up time is the median of its days' first signs from 04:00.
    usual = sorted(week.wake.values(), key=lambda w: w.time())[3]
    assert picture.summary == (
        f"本周起床时间与平常一致（约 {usual:%H:%M}），夜间起夜 3 次，2 天外出，"
        f"{WEEK[2].month}/{WEEK[2].day} 未报平安，报警 1 次。"
    )


def test_strip_summary_in_english(week: GeneratedWeek) -> None:
    picture = activity_strip(
        week.activity, clock_at(NOW), TZ, lang="en", checkin_by=time(9, 0), usual_wake_min=390
    )
    assert "3 night visits" in picture.summary
    assert f"no check-in on {WEEK[2].month}/{WEEK[2].day}" in picture.summary
    assert "out on 2 days" in picture.summary
    assert "1 alarms" in picture.summary
    assert picture.summary.startswith("Up at her usual time")
    assert "近 7 天" not in picture.svg and "Activity, last 7 days" in picture.svg


def test_a_later_week_is_said_to_be_later() -> None:
    later = generate_week(
        random.Random(SEED), night_visits={}, no_checkin=set(), out={}, alarms=[], wake_hh=8
    )
    picture = activity_strip(
        later.activity, clock_at(NOW), TZ, checkin_by=time(9, 0), usual_wake_min=6 * 60 + 30
    )
    assert picture.summary.startswith("本周起床比平常晚（约 08:")
    assert "平常 06:30" in picture.summary
    assert "夜间起夜 0 次" in picture.summary
    assert "每天都报了平安" in picture.summary
    assert "报警" not in picture.summary and "外出" not in picture.summary


def test_a_night_visit_after_four_is_not_getting_up() -> None:
    visit = at(TODAY, 4, 30)
    signs = [visit, at(TODAY, 4, 35), at(TODAY, 4, 40), at(TODAY, 6, 45), at(TODAY, 7, 0)]
    picture = activity_strip(WeekActivity(signs=signs, night_visits=[visit]), clock_at(NOW), TZ)
    assert picture.summary == "本周约 06:45 起床，夜间起夜 1 次。"


def test_today_without_checkin_is_marked_only_once_its_time_is_past() -> None:
    morning = at(TODAY, 8, 0)
    checked = WeekActivity(checkins=[at(d, 8, 30) for d in WEEK[:-1]])
    early = activity_strip(checked, clock_at(morning), TZ, checkin_by=time(9, 0))
    assert marks(parse(early), "no_checkin") == []
    assert "每天都报了平安" in early.summary
    late = activity_strip(checked, clock_at(at(TODAY, 9, 30)), TZ, checkin_by=time(9, 0))
    assert len(marks(parse(late), "no_checkin")) == 1
    assert f"{TODAY.month}/{TODAY.day} 未报平安" in late.summary
    off = activity_strip(WeekActivity(), clock_at(NOW), TZ, checkin_by=None)
    assert marks(parse(off), "no_checkin") == [] and "报平安" not in off.summary


def test_an_outing_over_midnight_is_split_between_the_two_rows() -> None:
    outing = Span(at(WEEK[4], 22, 0), at(WEEK[5], 2, 0))
    root = parse(activity_strip(WeekActivity(away=[outing]), clock_at(NOW), TZ))
    rows = {el.get("data-day"): len(marks(el, "away")) for el in root.iter() if el.get("data-day")}
    assert rows[WEEK[4].isoformat()] == 1 and rows[WEEK[5].isoformat()] == 1
    assert sum(rows.values()) == 2


def test_marks_outside_the_week_or_in_the_future_are_not_drawn() -> None:
    activity = WeekActivity(
        night_visits=[at(WEEK[0] - timedelta(days=1), 2, 0), at(TODAY, 23, 30)],
        alarms=[at(TODAY, 22, 0)],
    )
    picture = activity_strip(activity, clock_at(NOW), TZ)
    root = parse(picture)
    assert marks(root, "night_visit") == [] and marks(root, "alarm") == []
    assert "夜间起夜 0 次" in picture.summary


def test_an_unknown_language_falls_back_to_mandarin() -> None:
    picture = activity_strip(WeekActivity(night_visits=[]), clock_at(NOW), TZ, lang="<x>")
    assert_offline_safe(picture)
    assert picture.summary == "本周没有起床记录，夜间起夜 0 次。"


def test_what_the_hub_has_no_record_of_is_neither_drawn_nor_said() -> None:
    signs = [at(d, 6, 30) for d in WEEK]
    unknown = activity_strip(WeekActivity(signs=signs), clock_at(NOW), TZ, checkin_by=time(9))
    assert unknown.summary == "本周约 06:30 起床。"
    assert marks(parse(unknown), "no_checkin") == []
    legend = [el.get("data-legend") for el in parse(unknown).iter() if el.get("data-legend")]
    assert legend == ["activity"]
    none_pressed = WeekActivity(signs=signs, night_visits=[], checkins=[], alarms=[])
    known = activity_strip(none_pressed, clock_at(NOW), TZ, checkin_by=time(9))
    assert len(marks(parse(known), "no_checkin")) == 7
    legend = [el.get("data-legend") for el in parse(known).iter() if el.get("data-legend")]
    assert legend == ["activity", "night_visit", "checkin", "no_checkin", "alarm"]
    assert known.summary.startswith("本周约 06:30 起床，夜间起夜 0 次，")


def test_text_put_into_the_svg_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Labels are the hub's own today; a translation holding markup must still be text.
    hostile = '<script>alert("x")</script> & <a href="http://x">'
    monkeypatch.setitem(WORDS["strip_title"], "zh", hostile)
    monkeypatch.setitem(WORDS["night_visits"], "zh", hostile + " {n}")
    monkeypatch.setitem(WORDS["heart_rate"], "zh", hostile)
    strip = activity_strip(WeekActivity(night_visits=[]), clock_at(NOW), TZ)
    chart = vital_chart("heart_rate", [], VitalLimits(), clock_at(NOW), TZ)
    for picture in (strip, chart):
        assert_offline_safe(picture)
        texts = "".join(parse(picture).itertext())
        assert hostile in texts and hostile in picture.summary


def test_presence_rows_become_outings() -> None:
    t0 = int(at(TODAY, 9).timestamp())
    rows = [
        {"ts": t0, "present": True},
        {"ts": t0 + 600, "present": False},
        {"ts": t0 + 3600, "present": True},
        {"ts": t0 + 7200, "present": False},
    ]
    spans = away_spans(rows, NOW)
    assert [(s.start, s.end) for s in spans] == [
        (at(TODAY, 9, 10), at(TODAY, 10, 0)),
        (at(TODAY, 11, 0), NOW),
    ]


def test_the_routine_profile_shades_the_strip() -> None:
    # 07:00-07:30 fully active (6 slots of 5 min), 12:00 one slot; out-of-range slots ignored.
    profile = {TODAY.isoformat(): [84, 85, 86, 87, 88, 89, 144, 144, 400]}
    signs = signs_from_routine(profile, 5, TZ)
    assert signs[0] == at(TODAY, 7, 0) and signs[-1] == at(TODAY, 12, 0) and len(signs) == 7
    picture = activity_strip(WeekActivity(signs=signs), clock_at(NOW), TZ)
    row = next(el for el in parse(picture).iter() if el.get("data-day") == TODAY.isoformat())
    assert [el.get("data-level") for el in row if el.get("data-level")] == ["3", "1"]
    assert picture.summary.startswith("本周约 07:00 起床")


def test_the_routine_strip_compares_this_week_with_the_days_before() -> None:
    # 15 learned days: up at 06:30 (slot 78) the 8 days before the week, 08:00 in it.
    profile = {
        (TODAY - timedelta(days=n)).isoformat(): [24, 96 if n < 7 else 78, 200] for n in range(15)
    }
    picture = routine_strip(profile, 5, clock_at(NOW), TZ)
    assert picture.summary == "本周起床比平常晚（约 08:00，平常 06:30）。"
    root = parse(picture)
    assert [el.get("data-day") for el in root if el.get("data-day")] == [
        d.isoformat() for d in WEEK
    ]
    assert marks(root, "no_checkin") == [] and marks(root, "night_visit") == []
    short = {TODAY.isoformat(): [96]}  # nothing learned before the week: no "usual"
    assert routine_strip(short, 5, clock_at(NOW), TZ).summary == "本周约 08:00 起床。"


def test_usual_wake_comes_from_the_routine_profile() -> None:
    # Slots of 5 min: a 02:00 night visit (slot 24) is not getting up; 06:30 is slot 78.
    profile = {f"2026-11-{n:02d}": [24, 78 + n % 3, 200] for n in range(1, 15)}
    assert usual_wake_from_routine(profile, 5) == 79 * 5
    assert usual_wake_from_routine({}, 5) is None


def generate_buckets(
    rng: random.Random, days: int, *, low_day: date | None
) -> list[dict[str, object]]:
    """Health-archive rows (5-minute buckets) of heart rate and SpO2, one per 15 minutes."""
    rows: list[dict[str, object]] = []
    for n in range(days):
        day = TODAY - timedelta(days=n)
        for quarter in range(96):
            start = int(at(day, 0).timestamp()) + quarter * 900
            hr = 68 + rng.uniform(-8, 8)
            rows.append(
                {
                    "bucket": start,
                    "device": "band",
                    "measure": "heart_rate",
                    "n": 60,
                    "mean": round(hr, 2),
                    "min": round(hr - 5, 1),
                    "max": round(hr + 6, 1),
                }
            )
            spo2 = 96 + rng.uniform(-1.5, 1.5)
            dip = day == low_day and quarter == 10
            rows.append(
                {
                    "bucket": start,
                    "device": "band",
                    "measure": "spo2_pct",
                    "n": 60,
                    "mean": round(spo2, 2),
                    "min": 87.0 if dip else round(spo2 - 1, 1),
                    "max": round(spo2 + 1, 1),
                }
            )
    return rows


def test_daily_vitals_fold_buckets_per_local_day() -> None:
    midnight = int(at(TODAY, 0).timestamp())
    rows: list[dict[str, object]] = [
        {"bucket": midnight - 300, "measure": "bpm", "n": 1, "mean": 50.0, "min": 50, "max": 50},
        {"bucket": midnight, "measure": "bpm", "n": 1, "mean": 60.0, "min": 55, "max": 65},
        {"bucket": midnight + 300, "measure": "bpm", "n": 3, "mean": 80.0, "min": 70, "max": 90},
        {"bucket": midnight, "measure": "spo2_pct", "n": 1, "mean": 97.0, "min": 97, "max": 97},
    ]
    daily = daily_vitals(rows, "bpm", TZ)
    assert daily == [
        DailyVital(TODAY - timedelta(days=1), 50, 50.0, 50),
        DailyVital(TODAY, 55, 75.0, 90),  # (60 + 3 * 80) / 4
    ]


def test_heart_rate_chart_draws_each_day_and_the_limits() -> None:
    daily = daily_vitals(generate_buckets(random.Random(SEED), 7, low_day=None), "heart_rate", TZ)
    assert len(daily) == 7
    picture = vital_chart("heart_rate", daily, VitalLimits(low=40, high=130), clock_at(NOW), TZ)
    assert_offline_safe(picture)
    root = parse(picture)
    days = [el.get("data-day") for el in root.iter() if el.get("data-day")]
    assert days == [d.isoformat() for d in WEEK]
    assert sorted(el.get("data-limit") for el in root.iter() if el.get("data-limit")) == [
        "130",
        "40",
    ]
    low = min(d.low for d in daily)
    high = max(d.high for d in daily)
    assert picture.summary.startswith(f"近 7 天心率 {low:g}–{high:g} 次/分，平均 ")
    assert picture.summary.endswith("都在正常范围内。")


def test_spo2_chart_says_how_many_days_went_below_and_which_had_no_data() -> None:
    buckets = generate_buckets(random.Random(SEED), 30, low_day=WEEK[3])
    daily = [d for d in daily_vitals(buckets, "spo2_pct", TZ) if d.day != WEEK[5]]
    picture = vital_chart(
        "spo2",
        daily,
        VitalLimits(low=90, extra_lines=(88,)),
        clock_at(NOW),
        TZ,
        days=7,
    )
    root = parse(picture)
    days = [el.get("data-day") for el in root.iter() if el.get("data-day")]
    assert WEEK[5].isoformat() not in days and len(days) == 6
    assert "1 天低于 90" in picture.summary
    assert "1 天没有数据" in picture.summary
    assert "87" in picture.summary  # the lowest reading is said
    assert {el.get("data-limit") for el in root.iter() if el.get("data-limit")} == {"90", "88"}


def test_thirty_days_of_spo2_draw_thirty_bars() -> None:
    buckets = generate_buckets(random.Random(SEED), 30, low_day=None)
    picture = vital_chart(
        "spo2",
        daily_vitals(buckets, "spo2_pct", TZ),
        VitalLimits(low=90),
        clock_at(NOW),
        TZ,
        days=30,
        lang="en",
    )
    root = parse(picture)
    assert len([el for el in root.iter() if el.get("data-day")]) == 30
    assert picture.summary.startswith("SpO2 over 30 days ")
    assert picture.summary.endswith("all within the set limits.")


def test_a_chart_without_readings_says_so() -> None:
    picture = vital_chart("heart_rate", [], VitalLimits(low=40, high=130), clock_at(NOW), TZ)
    assert_offline_safe(picture)
    assert picture.summary == "近 7 天没有心率数据。"
    assert [el for el in parse(picture).iter() if el.get("data-day")] == []


def test_the_archive_folded_per_hour_gives_the_same_days_as_its_buckets() -> None:
    import sqlite3

    from bench.family_data import generate
    from hub.store import health

    data = generate(10, NOW, TZ)
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(health.SCHEMA)
    health.store_buckets(db, data.buckets, keep_before=0)
    since = int(at(TODAY - timedelta(days=7), 0).timestamp())
    raw, hourly = health.query(db, since), health.hourly(db, since)
    assert len(hourly) < len(raw) / 10  # what the page carries: a few rows an hour
    for measure in ("bpm", "spo2_pct", "systolic_mmhg"):
        by_bucket, by_hour = daily_vitals(raw, measure, TZ), daily_vitals(hourly, measure, TZ)
        assert [(d.day, d.low, d.high) for d in by_hour] == [
            (d.day, d.low, d.high) for d in by_bucket
        ]
        assert [d.mean for d in by_hour] == pytest.approx([d.mean for d in by_bucket], abs=0.11)
    assert [d.low for d in daily_vitals(hourly, "bpm", TZ)] == [
        data.hr_by_day[d][0] for d in sorted(data.hr_by_day) if d >= TODAY - timedelta(days=7)
    ]


def test_heart_rate_counts_an_oximeter_pulse_as_well_as_a_band() -> None:
    midnight = int(at(TODAY, 0).timestamp())
    rows: list[dict[str, object]] = [
        {"bucket": midnight, "measure": "bpm", "n": 1, "mean": 70.0, "min": 70, "max": 70},
        {"bucket": midnight, "measure": "pulse_bpm", "n": 1, "mean": 90.0, "min": 90, "max": 90},
    ]
    assert daily_vitals(rows, ("bpm", "pulse_bpm"), TZ) == [DailyVital(TODAY, 70, 80.0, 90)]


def test_blood_pressure_chart_draws_both_pressures_and_says_which_went_high() -> None:
    systolic = [DailyVital(d, 120, 130, 150 if d != WEEK[2] else 185) for d in WEEK]
    diastolic = [DailyVital(d, 70, 80, 95) for d in WEEK if d != WEEK[6]]
    picture = blood_pressure_chart(
        systolic,
        diastolic,
        clock_at(NOW),
        TZ,
        systolic_limits=VitalLimits(low=90, high=180),
        diastolic_limits=VitalLimits(high=110),
    )
    assert_offline_safe(picture)
    root = parse(picture)
    bars = [el for el in root.iter() if el.get("data-series")]
    assert [el.get("data-series") for el in bars].count("systolic") == 7
    assert [el.get("data-series") for el in bars].count("diastolic") == 6
    assert {el.get("data-limit") for el in root.iter() if el.get("data-limit")} == {
        "90",
        "110",
        "180",
    }
    assert picture.summary == (
        "近 7 天血压：收缩压 120–185，舒张压 70–95 mmHg，收缩压有 1 天高于 180。"
    )


def test_vital_pictures_use_the_configured_thresholds() -> None:
    from hub.care.config import VitalThresholds

    pictures = vital_pictures([], VitalThresholds(hr_high_bpm=120), clock_at(NOW), TZ)
    assert [p.summary for p in pictures] == [
        "近 7 天没有心率数据。",
        "近 7 天没有血氧数据。",
        "近 7 天没有血压数据。",
    ]
    limits = {el.get("data-limit") for el in parse(pictures[0]).iter() if el.get("data-limit")}
    assert limits == {"40", "120"}


def split_as_the_hub_keeps(profile: dict[str, list[int]]) -> tuple[dict, dict]:
    """The routine's 15-day profile and, for older days, its history of day summaries."""
    from hub.care.routine import day_summary

    cutoff = (TODAY - timedelta(days=15)).isoformat()
    days = {k: v for k, v in profile.items() if k >= cutoff}
    history = {k: day_summary(v) for k, v in profile.items() if k < cutoff}
    return days, history


def test_trend_draws_thirty_days_and_says_a_late_morning_against_her_usual_band() -> None:
    from bench.family_data import generate

    data = generate(32, NOW, TZ, late_days=2)  # yesterday and today about 08:00
    days, history = split_as_the_hub_keeps(data.profile)
    kept = day_routines(days, history, 5)
    picture = routine_trend(kept, TODAY - timedelta(days=14), clock_at(NOW), TZ)
    assert_offline_safe(picture)
    root = parse(picture)
    shown = [TODAY - timedelta(days=n) for n in range(30, 0, -1)]  # today is not over
    assert [el.get("data-day") for el in root.iter() if el.get("data-day")] == [
        d.isoformat() for d in shown
    ]
    assert {el.get("data-band") for el in root.iter() if el.get("data-band")} == {
        "activity",
        "bed",
        "wake",
    }
    sleeps = [el for el in root.iter() if el.get("data-mark") == "sleep"]
    assert len(sleeps) == 30
    yesterday = shown[-1]
    assert sleeps[-1].get("data-wake") == _hhmm(data.wake_min[yesterday] // 5 * 5)
    # Only one day is beyond the band: the odd day the band leaves out is the other.
    assert "1 天起床比平常晚" in picture.summary
    hours = statistics.fmean(len(set(data.profile[d.isoformat()])) * 5 for d in shown) / 60
    assert f"每天活动约 {hours:.1f} 小时" in picture.summary
    assert "集线器有" not in picture.summary  # all 30 days are kept


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def test_trend_says_how_many_days_the_hub_has_and_draws_no_more() -> None:
    from bench.family_data import generate

    data = generate(10, NOW, TZ)
    picture = routine_trend(
        day_routines(data.profile, {}, 5), TODAY - timedelta(days=14), clock_at(NOW), TZ
    )
    root = parse(picture)
    assert len([el for el in root.iter() if el.get("data-mark") == "activity"]) == 9
    assert picture.summary.startswith("近 30 天中集线器有 9 天的记录，每天活动约 ")
    assert "都在平常范围内" in picture.summary  # 9 learned days: a band exists


def test_trend_without_days_says_so() -> None:
    picture = routine_trend([], TODAY - timedelta(days=14), clock_at(NOW), TZ, lang="en")
    assert picture.summary == "No activity kept for the last 30 days."
    assert [el for el in parse(picture).iter() if el.get("data-band")] == []


def test_the_routine_keeps_a_summary_of_each_day_it_forgets_for_thirty_days() -> None:
    from hub.care.config import CareConfig
    from hub.care.routine import HISTORY_DAYS, RoutineCheck

    routine = RoutineCheck(CareConfig())
    for n in range(45, -1, -1):
        day = TODAY - timedelta(days=n)
        for hh, mm in ((2, 10), (6, 30), (6, 35), (21, 40)):
            routine.on_sign(at(day, hh, mm))
    assert len(routine.days) == 16
    assert min(routine.history) == (TODAY - timedelta(days=HISTORY_DAYS)).isoformat()
    assert max(routine.history) == (TODAY - timedelta(days=16)).isoformat()
    # 4 active slots; up at 06:30 (slot 78: the 02:10 visit is before 04:00); last 21:40.
    assert set(map(tuple, routine.history.values())) == {(4, 78, 260)}
    again = RoutineCheck(CareConfig())
    again.restore(json.loads(json.dumps(routine.to_dict())))
    assert again.history == routine.history


def test_trend_says_less_active_only_an_hour_below_her_usual_band() -> None:
    from hub.web.pictures import DayRoutine

    days = [TODAY - timedelta(days=n) for n in range(20, 0, -1)]
    active = {d: 600 + (n % 3) * 10 for n, d in enumerate(days)}  # 10:00-10:20 a day
    active[days[-1]] = 400  # yesterday: 6:40, more than an hour below
    active[days[-2]] = 560  # the day before: 9:20, just below the band: ordinary
    kept = [DayRoutine(d, active[d], 6 * 60 + 30, 21 * 60 + 30) for d in days]
    picture = routine_trend(kept, TODAY - timedelta(days=14), clock_at(NOW), TZ)
    assert "1 天比平常少" in picture.summary
    assert picture.summary.startswith("近 30 天中集线器有 20 天的记录，")
    assert "通常 21:30 睡、06:30 起" in picture.summary

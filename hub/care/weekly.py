"""The weekly summary (周报): a few words on how her week went, composed from what the hub
keeps. Pure: no IO, no clock of its own.

The same facts make the family page's card, the `weekly_summary` telemetry event (the
centre forwards it by WeChat or however it likes) and, when the family opted in, one SMS a
week. Facts the hub has no record of are left out, never said as zero: night visits are
not kept, so the words speak of activity in the night (00:00-04:00, from the learned
routine's profile), which is what the hub saw.

The weekly schedule: the summary of a calendar week (Monday to Sunday) is due from
Monday 09:00 local (`SEND_WEEKDAY`, `SEND_AT`: the family at work with a phone at hand,
not woken by it); which week was last sent is kept in a small state file written once a
week, so a restart neither sends twice nor forgets.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.care.config import CareConfig

SEND_WEEKDAY = 0  # Monday
SEND_AT = time(9, 0)
# TS 23.040: one SMS carries 70 UCS2 characters; a longer one is sent in parts of 67.
# The weekly SMS is kept to one part (hub/sos/sms.py UCS2_SINGLE).
SMS_MAX_CHARS = 70
SMS_HEAD = "【平安通周报】"
# "As usual" when the week's usual wake-up time is within this of the learned one.
SAME_WAKE_MIN = 30
# Night: activity from midnight to 04:00 (a sign before 04:00 is not getting up); signs
# less than this apart are one time up.
NIGHT_END_MIN = 4 * 60
NIGHT_EPISODE_GAP_MIN = 30
HEART_MEASURES = ("bpm", "pulse_bpm")


@dataclass(frozen=True)
class WeekFacts:
    """What the week's words say; None: the hub has no record of it."""

    start: date  # the first day (7 days from it)
    days_kept: int  # days of the week the routine has
    wake_min: float | None = None  # her usual (median) getting up this week, minute of day
    usual_wake_min: float | None = None  # the same over the learned days before the week
    night_activity: int | None = None  # times up between 00:00 and 04:00
    active_hours: float | None = None  # mean hours with activity a day
    heart_rate: tuple[float, float] | None = None  # lowest, highest bpm
    spo2_low: float | None = None  # lowest SpO2 %
    pressure_high: tuple[float, float] | None = None  # highest systolic, highest diastolic
    night_visits: int | None = None  # night visits to the bathroom (the night-visit check)
    checkins_missed: tuple[date, ...] | None = None  # days past their deadline without one
    alarms: int | None = None  # alarms raised (not tests)

    @property
    def end(self) -> date:
        """The last day."""
        return self.start + timedelta(days=6)

    def to_dict(self) -> dict[str, object]:
        """JSON-able (the telemetry event's `facts`)."""
        raw = asdict(self)
        raw["start"] = self.start.isoformat()
        if self.checkins_missed is not None:
            raw["checkins_missed"] = [d.isoformat() for d in self.checkins_missed]
        return raw


def checkin_deadline(cfg: CareConfig) -> time | None:
    """The time of day after which a day without check-in counts as missed (the reminder
    plus its grace, as the check-in check raises checkin_missed); None: check-in is off."""
    if not cfg.checkin_enabled or cfg.checkin_reminder is None:
        return None
    at = datetime.combine(date(2000, 1, 1), cfg.checkin_reminder)
    end = at + timedelta(minutes=cfg.checkin_grace_min)
    return end.time() if end.date() == at.date() else time(23, 59)


@dataclass(frozen=True)
class WeekMarks:
    """The care engine's marks (hub/care/marks.py) for the week; None: not recorded."""

    night_visits: Sequence[datetime] | None = None
    checkins: Sequence[datetime] | None = None
    alarms: Sequence[datetime] | None = None
    checkin_by: time | None = None  # checkin_deadline; None: check-in is off
    now: datetime | None = None  # today's deadline counts only once it is past


def _episodes(minutes: Sequence[int]) -> int:
    count, last = 0, None
    for m in sorted(minutes):
        if last is None or m - last > NIGHT_EPISODE_GAP_MIN:
            count += 1
        last = m
    return count


def week_facts(
    start: date,
    profile_days: Mapping[str, Sequence[int]],
    rows: Iterable[Mapping[str, object]],
    tz: ZoneInfo,
    *,
    slot_min: int,
    marks: WeekMarks | None = None,
) -> WeekFacts:
    """The facts of the 7 days from `start`: getting up, night activity and hours with
    activity from the learned routine's profile (local date -> active slots); the usual
    getting up from its days before `start`; vitals from health-archive rows (query or
    hourly: bucket, measure, n, mean, min, max) whose bucket falls in the week; night
    visits, check-ins and alarms from the care engine's marks (None: unknown)."""
    days = [start + timedelta(days=n) for n in range(7)]
    texts = {d.isoformat() for d in days}
    kept = {k: v for k, v in profile_days.items() if k in texts}

    def wake(slots: Sequence[int]) -> int | None:
        morning = [s * slot_min for s in slots if s * slot_min >= NIGHT_END_MIN]
        return min(morning) if morning else None

    wakes = [w for s in kept.values() if (w := wake(s)) is not None]
    before = [
        w for k, s in profile_days.items() if k < start.isoformat() and (w := wake(s)) is not None
    ]
    night = sum(
        _episodes([s * slot_min for s in slots if s * slot_min < NIGHT_END_MIN])
        for slots in kept.values()
    )
    lo = datetime.combine(start, time(0), tz).timestamp()
    hi = datetime.combine(start + timedelta(days=7), time(0), tz).timestamp()
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for row in rows:
        bucket, measure, low, high = row["bucket"], row["measure"], row["min"], row["max"]
        if not (
            isinstance(bucket, int)
            and isinstance(measure, str)
            and isinstance(low, (int, float))
            and isinstance(high, (int, float))
            and lo <= bucket < hi
        ):
            continue
        key = "heart" if measure in HEART_MEASURES else measure
        lows[key] = min(lows.get(key, low), low)
        highs[key] = max(highs.get(key, high), high)
    marks = marks or WeekMarks()

    def in_week(times: Sequence[datetime] | None) -> list[datetime] | None:
        return None if times is None else [t for t in times if lo <= t.timestamp() < hi]

    visits, checkins, alarms = (
        in_week(marks.night_visits),
        in_week(marks.checkins),
        in_week(marks.alarms),
    )
    missed: tuple[date, ...] | None = None
    if checkins is not None and marks.checkin_by is not None and marks.now is not None:
        now = marks.now.astimezone(tz)
        checked = {t.astimezone(tz).date() for t in checkins}
        missed = tuple(
            d
            for d in days
            if d not in checked
            and (d < now.date() or (d == now.date() and now.time() >= marks.checkin_by))
        )
    return WeekFacts(
        start=start,
        night_visits=None if visits is None else len(visits),
        checkins_missed=missed,
        alarms=None if alarms is None else len(alarms),
        days_kept=len(kept),
        wake_min=statistics.median(wakes) if wakes else None,
        usual_wake_min=statistics.median(before) if before else None,
        night_activity=night if kept else None,
        active_hours=(
            round(statistics.fmean(len(set(s)) * slot_min for s in kept.values()) / 60, 1)
            if kept
            else None
        ),
        heart_rate=(lows["heart"], highs["heart"]) if "heart" in lows else None,
        spo2_low=lows.get("spo2_pct"),
        pressure_high=(
            (highs["systolic_mmhg"], highs["diastolic_mmhg"])
            if "systolic_mmhg" in highs and "diastolic_mmhg" in highs
            else None
        ),
    )


def _hhmm(minute: float) -> str:
    m = round(minute)
    return f"{m // 60:02d}:{m % 60:02d}"


def _n(value: float) -> str:
    return f"{value:g}"


def _wake_clause(f: WeekFacts, *, short: bool) -> str | None:
    if f.wake_min is None:
        return None
    t = _hhmm(f.wake_min)
    if f.usual_wake_min is None:
        return f"约 {t} 起床" if not short else f"约{t}起床"
    usual = _hhmm(f.usual_wake_min)
    diff = f.wake_min - f.usual_wake_min
    if abs(diff) <= SAME_WAKE_MIN:
        return f"起床时间与平常一致（约 {t}）" if not short else "起床与平常一致"
    how = "晚" if diff > 0 else "早"
    return f"起床比平常{how}（约 {t}，平常 {usual}）" if not short else f"起床比平常{how}（约{t}）"


def _clauses(f: WeekFacts, *, short: bool) -> list[str]:
    """The week's clauses, most important first."""
    sp = "" if short else " "
    clauses = [_wake_clause(f, short=short)]
    if f.alarms:
        clauses.append(f"报警{sp}{f.alarms}{sp}次")
    if f.checkins_missed is not None:
        n = len(f.checkins_missed)
        clauses.append(f"{n}{sp}天未报平安" if n else "每天都报了平安")
    if f.night_visits is not None:
        clauses.append(f"夜间起夜{sp}{f.night_visits}{sp}次")
    elif f.night_activity is not None:
        clauses.append(
            f"夜里（0–4 点）有活动 {f.night_activity} 次"
            if not short
            else f"夜里活动{f.night_activity}次"
        )
    if f.heart_rate is not None:
        clauses.append(f"心率{sp}{_n(f.heart_rate[0])}-{_n(f.heart_rate[1])}")
    if f.spo2_low is not None:
        clauses.append(f"血氧最低{sp}{_n(f.spo2_low)}%")
    if f.pressure_high is not None:
        clauses.append(f"血压最高{sp}{_n(f.pressure_high[0])}/{_n(f.pressure_high[1])}")
    if f.active_hours is not None and not short:
        clauses.append(f"每天活动约 {f.active_hours:g} 小时")
    return [c for c in clauses if c]


def period_text(f: WeekFacts, today: date | None = None) -> str:
    """The period's words: the last 7 days when they end `today`, else the dates."""
    if today is not None and f.end == today:
        return "近 7 天"
    return f"{f.start.month}/{f.start.day}–{f.end.month}/{f.end.day}"


def weekly_text(f: WeekFacts, today: date | None = None) -> str:
    """The page's (and the event's) words: the period, getting up against her usual time,
    activity in the night, heart rate, SpO2, blood pressure, hours with activity (see
    tests/test_weekly.py for whole sentences); days the hub does not have are said first."""
    period = period_text(f, today)
    known = (f.heart_rate, f.spo2_low, f.pressure_high, f.night_visits, f.checkins_missed, f.alarms)
    if f.days_kept == 0 and all(v is None for v in known):
        return f"{period}：集线器没有记录。"
    clauses = _clauses(f, short=False)
    if f.days_kept < 7:
        clauses.insert(0, f"只有 {f.days_kept} 天的活动记录" if f.days_kept else "没有活动记录")
    return f"{period}：" + "，".join(clauses) + "。"


def weekly_sms(f: WeekFacts) -> str:
    """The family's SMS: at most SMS_MAX_CHARS characters (one UCS2 part), the period
    and the short clauses, dropping the least important that do not fit."""
    head = f"{SMS_HEAD}{period_text(f)} "
    clauses = _clauses(f, short=True)
    if not clauses:
        clauses = ["集线器本周没有记录"]
    while True:
        text = head + "，".join(clauses) + "。"
        if len(text) <= SMS_MAX_CHARS or len(clauses) == 1:
            return text[:SMS_MAX_CHARS]
        clauses.pop()


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def due_week(local_now: datetime, last_sent: date | None) -> date | None:
    """The start (Monday) of the last whole week when its summary is due (from Monday
    SEND_AT after it) and not yet sent; else None."""
    this_monday = week_start(local_now.date())
    send_from = datetime.combine(
        this_monday + timedelta(days=SEND_WEEKDAY), SEND_AT, local_now.tzinfo
    )
    week = (
        this_monday - timedelta(days=7)
        if local_now >= send_from
        else this_monday - timedelta(days=14)
    )
    if last_sent is not None and last_sent >= week:
        return None
    return week


__all__ = [
    "SEND_AT",
    "SMS_MAX_CHARS",
    "WeekFacts",
    "WeekMarks",
    "checkin_deadline",
    "due_week",
    "period_text",
    "week_facts",
    "week_start",
    "weekly_sms",
    "weekly_text",
]

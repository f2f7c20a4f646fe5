"""The week of marks the family's strip and the weekly words draw on (hub/care/marks.py):
check-ins, night visits to the bathroom and alarms, kept with the care state; a week the
record does not cover is unknown, never "no check-in" or "0 night visits"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.care.config import CareConfig
from hub.care.engine import CareEngine
from hub.care.marks import MARK_DAYS, DayMarks
from hub.care.rooms import Paired
from hub.care.weekly import WeekMarks, checkin_deadline, week_facts, weekly_sms, weekly_text
from hub.clock import FakeClock
from hub.reading import Reading, State

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 3, 21, 0, tzinfo=TZ)
TODAY = NOW.date()


def at(days_ago: int, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hh, mm), TZ)


def test_marks_forget_old_days_and_say_unknown_before_the_record_began() -> None:
    marks = DayMarks(since=at(12, 0))
    marks.add("checkin", at(11, 8))
    marks.add("checkin", at(3, 8))
    marks.add("checkin", at(3, 8) + timedelta(seconds=20))  # pressed twice: one
    marks.add("alarm", at(1, 15))
    assert marks.times["checkin"] == [at(3, 8)]  # 11 days old: forgotten
    week = at(6, 0)
    assert marks.since_start("checkin", week, NOW) == [at(3, 8)]
    assert marks.since_start("night_visit", week, NOW) == []  # recorded: none
    later = DayMarks(since=at(2, 12))  # a hub upgraded two days ago
    assert later.since_start("checkin", week, NOW) is None
    assert marks.since_start("checkin", NOW - timedelta(days=MARK_DAYS + 1), NOW) is None
    again = DayMarks.from_dict(json.loads(json.dumps(marks.to_dict())), NOW)
    assert again.since == marks.since and again.times == marks.times
    assert DayMarks.from_dict(None, NOW).since == NOW  # a state from before issue 22
    assert DayMarks.from_dict({"since": "garbage"}, NOW).since == NOW


def bathroom_motion() -> Reading:
    return Reading("pir:bath", "sim", "motion", {"motion": True}, state=State.ALARM)


def test_the_engine_marks_check_ins_night_visits_and_keeps_them_across_a_restart() -> None:
    clock = FakeClock(wall=at(0, 2, 10).astimezone(UTC))
    engine = CareEngine(CareConfig(), clock)
    assert not engine.sees_night_visits  # no sensor in a bathroom: unknown, not 0
    engine.know({"pir:bath": Paired("motion", "卫生间"), "pir:hall": Paired("motion", "客厅")})
    assert engine.sees_night_visits
    engine.feed(bathroom_motion())  # 02:10: a night visit begins
    engine.feed(Reading("pir:hall", "sim", "motion", {"motion": True}, state=State.ALARM))
    clock.wall = at(0, 2, 40).astimezone(UTC)
    engine.feed(bathroom_motion())  # another one
    clock.wall = at(0, 14, 0).astimezone(UTC)
    engine.feed(bathroom_motion())  # by day: not a night visit
    clock.wall = at(0, 8, 30).astimezone(UTC)
    engine.feed(Reading("gpio:ok", "gpio", "button", {"action": "press"}, state=State.ALARM))
    assert engine.marks.times["night_visit"] == [at(0, 2, 10), at(0, 2, 40)]
    assert engine.marks.times["checkin"] == [at(0, 8, 30)]
    restored = CareEngine.from_dict(CareConfig(), clock, json.loads(json.dumps(engine.to_dict())))
    assert restored.marks.times == engine.marks.times


def test_the_week_words_say_night_visits_missed_check_ins_and_alarms() -> None:
    start = TODAY - timedelta(days=6)
    marks = WeekMarks(
        night_visits=[at(5, 2), at(3, 1, 30), at(3, 3)],
        checkins=[at(n, 8) for n in (6, 5, 4, 2, 1, 0)],  # none 3 days ago
        alarms=[at(2, 15)],
        checkin_by=checkin_deadline(CareConfig()),
        now=NOW,
    )
    assert marks.checkin_by == time(12, 0)  # the 10:00 reminder and its 120 min of grace
    facts = week_facts(start, {}, [], TZ, slot_min=5, marks=marks)
    assert facts.night_visits == 3 and facts.alarms == 1
    assert facts.checkins_missed == (TODAY - timedelta(days=3),)
    text = weekly_text(facts, TODAY)
    assert text == "近 7 天：没有活动记录，报警 1 次，1 天未报平安，夜间起夜 3 次。"
    assert weekly_sms(facts).endswith("报警1次，1天未报平安，夜间起夜3次。")
    all_in = WeekMarks(
        night_visits=[],
        checkins=[at(n, 8) for n in range(7)],
        alarms=[],
        checkin_by=time(12, 0),
        now=NOW,
    )
    text = weekly_text(week_facts(start, {}, [], TZ, slot_min=5, marks=all_in), TODAY)
    assert text == "近 7 天：没有活动记录，每天都报了平安，夜间起夜 0 次。"
    # Today's check-in is not missed before its deadline.
    morning = WeekMarks(
        checkins=[at(n, 8) for n in range(1, 7)], checkin_by=time(12, 0), now=at(0, 9)
    )
    assert week_facts(start, {}, [], TZ, slot_min=5, marks=morning).checkins_missed == ()

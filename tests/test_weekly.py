"""The weekly summary (周报): its words say what the week's data says, the SMS fits one
part, it is due once a week from Monday 09:00 and a restart neither repeats nor forgets it;
the hub commits it as `weekly_summary` and texts the family only when they opted in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.family_data import generate
from hub.app import Hub
from hub.care.weekly import (
    SMS_MAX_CHARS,
    WeekFacts,
    due_week,
    week_facts,
    weekly_sms,
    weekly_text,
)
from hub.config import parse_config
from hub.errors import ConfigError
from hub.services.weekly import WeeklySummary
from hub.sim.broker import Mosquitto
from hub.sos.escalation import parse_escalation
from hub.sos.sms import Encoding, decode_submit, encode_submit, mask_number
from hub.store.health import Bucket
from tests.conftest import HubFactory, hub_raw

TZ = ZoneInfo("Asia/Shanghai")
# Wednesday 3 Dec 2026, 21:00 in Shanghai.
NOW = datetime(2026, 12, 3, 21, 0, tzinfo=TZ)
TODAY = NOW.date()
LAST_MONDAY = date(2026, 11, 23)  # the last whole week: 23-29 November
CONTACTS = [
    {"name": "王小红", "number": "+8613800138000", "relation": "女儿"},
    {"name": "王小明", "number": "+8613900139000", "relation": "儿子"},
]


def rows(buckets: list[Bucket]) -> list[dict[str, object]]:
    return [b.summary() for b in buckets]


def test_the_week_words_say_when_she_got_up_her_vitals_and_the_night() -> None:
    data = generate(20, NOW, TZ, late_days=3)  # the last 3 days about 08:00
    start = TODAY - timedelta(days=6)
    facts = week_facts(start, data.profile, rows(data.buckets), TZ, slot_min=5)
    week = [start + timedelta(days=n) for n in range(7)]
    assert facts.days_kept == 7
    assert facts.heart_rate == (
        min(data.hr_by_day[d][0] for d in week),
        max(data.hr_by_day[d][1] for d in week),
    )
    # The generator's days have no activity between 00:00 and 04:00.
    assert facts.night_activity == 0
    text = weekly_text(facts, TODAY)
    lo, hi = facts.heart_rate
    assert text.startswith("近 7 天：起床时间与平常一致（约 ")  # 4 of 7 days as usual
    assert f"心率 {lo:g}-{hi:g}" in text
    assert "夜里（0–4 点）有活动 0 次" in text
    # Four late days of seven: her usual getting up this week is later than the learned.
    late = generate(20, NOW, TZ, late_days=4)
    text = weekly_text(week_facts(start, late.profile, [], TZ, slot_min=5), TODAY)
    assert text.startswith("近 7 天：起床比平常晚（约 0"), text
    assert "平常 06:" in text and "心率" not in text  # no readings: nothing said of them


def test_night_activity_counts_times_up_not_slots() -> None:
    start = TODAY - timedelta(days=6)
    # 02:00-02:10 (three slots: one time up) and 03:30 on one day; 01:00 on another.
    profile = {start.isoformat(): [24, 25, 26, 42, 80], TODAY.isoformat(): [12, 80]}
    facts = week_facts(start, profile, [], TZ, slot_min=5)
    assert facts.night_activity == 3
    assert facts.days_kept == 2
    assert weekly_text(facts, TODAY).startswith("近 7 天：只有 2 天的活动记录，")


def test_the_sms_is_one_part_of_at_most_70_characters() -> None:
    data = generate(20, NOW, TZ)
    facts = week_facts(LAST_MONDAY, data.profile, rows(data.buckets), TZ, slot_min=5)
    sms = weekly_sms(facts)
    lo, hi = facts.heart_rate or (0, 0)
    assert facts.pressure_high is not None and facts.spo2_low is not None
    sys_, dia = facts.pressure_high
    assert sms == (
        f"【平安通周报】11/23–11/29 起床与平常一致，夜里活动0次，心率{lo:g}-{hi:g}，"
        f"血氧最低{facts.spo2_low:g}%，血压最高{sys_:g}/{dia:g}。"
    )
    assert len(sms) == 61  # counted: one UCS2 part holds 70
    # The longest week the words can say: every clause at its widest.
    widest = WeekFacts(
        start=LAST_MONDAY,
        days_kept=7,
        wake_min=11 * 60 + 55,
        usual_wake_min=6 * 60,
        night_activity=28,
        active_hours=14.5,
        heart_rate=(38.5, 188.5),
        spo2_low=79.5,
        pressure_high=(230.5, 140.5),
        alarms=12,
        checkins_missed=tuple(LAST_MONDAY + timedelta(days=n) for n in range(7)),
        night_visits=14,
    )
    longest = weekly_sms(widest)
    assert len(longest) <= SMS_MAX_CHARS
    assert (
        longest
        == "【平安通周报】11/23–11/29 起床比平常晚（约11:55），报警12次，7天未报平安，夜间起夜14次，心率38.5-188.5。"
    )
    parts = encode_submit("+8613800138000", longest)
    assert len(parts) == 1
    for facts_of in (facts, widest):
        pdu = decode_submit(encode_submit("+8613800138000", weekly_sms(facts_of))[0].pdu)
        assert pdu.encoding is Encoding.UCS2 and pdu.concat is None


def test_a_week_is_due_from_monday_nine_and_only_once() -> None:
    monday = datetime(2026, 11, 30, 8, 59, tzinfo=TZ)
    assert due_week(monday, LAST_MONDAY - timedelta(days=7)) is None  # not yet 09:00
    at_nine = monday.replace(hour=9, minute=0)
    assert due_week(at_nine, LAST_MONDAY - timedelta(days=7)) == LAST_MONDAY
    assert due_week(at_nine, LAST_MONDAY) is None  # sent
    # Off over the Monday, back on Thursday: the week is still due.
    assert due_week(datetime(2026, 12, 3, 10, 0, tzinfo=TZ), date(2026, 11, 16)) == LAST_MONDAY
    assert due_week(NOW, None) == LAST_MONDAY


def test_weekly_sms_is_an_opt_in_that_needs_a_modem_and_contacts() -> None:
    assert parse_escalation({}).weekly_sms is False
    cfg = parse_escalation({"weekly_sms": True, "modem_port": "sim", "contacts": CONTACTS})
    assert cfg.weekly_sms is True
    with pytest.raises(ConfigError) as err:
        parse_escalation({"weekly_sms": True})
    assert "escalation.weekly_sms: the weekly summary SMS needs a modem" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_escalation({"weekly_sms": "yes", "modem_port": "sim", "contacts": CONTACTS})
    assert "escalation.weekly_sms: must be true or false" in str(err.value)


@pytest.fixture
async def texting_hub(broker: Mosquitto, make_hub: HubFactory) -> AsyncIterator[Hub]:
    hub = await make_hub(
        broker.port,
        escalation={"modem_port": "sim", "weekly_sms": True, "contacts": CONTACTS},
    )
    yield hub


async def test_the_hub_texts_the_family_and_commits_the_week_once(texting_hub: Hub) -> None:
    hub = texting_hub
    tz = hub.care.engine.tz
    data = generate(20, hub.clock.now(), tz)
    hub.care.engine.routine.days = data.profile
    await hub.outbox.store_vitals(data.buckets, keep_before=0)
    state = hub.cfg.data_path / "weekly.json"
    # A new hub claims the last whole week: nothing is sent about days it never saw.
    assert state.exists()
    assert await hub.weekly.send_due() is False
    week = hub.weekly.last_sent
    assert week is not None and week.weekday() == 0
    # A week later (as if): the week before is due again once the claim is a week older.
    hub.weekly.last_sent = week - timedelta(days=7)
    assert await hub.weekly.send_due() is True
    sim = hub.family.sim_modem
    assert sim is not None
    texts = [decode_submit(s.pdu) for s in sim.sms if s.accepted]
    assert sorted(t.number for t in texts) == sorted(c["number"] for c in CONTACTS)
    assert len({t.text for t in texts}) == 1 and texts[0].concat is None
    assert len(texts[0].text) <= SMS_MAX_CHARS
    events = [e for e in await hub.outbox.recent(20) if e.event.kind == "weekly_summary"]
    assert len(events) == 1
    event = events[0].event
    assert event.priority == 2
    assert event.data["week_start"] == week.isoformat()
    assert event.data["sms_text"] == texts[0].text
    assert event.data["sms_sent"] == [mask_number(c["number"]) for c in CONTACTS]
    lo, hi = event.data["facts"]["heart_rate"]
    assert f"心率 {lo:g}-{hi:g}" in event.data["text"]
    # Sent once: checking again, or a restarted summary reading its state, sends nothing.
    assert await hub.weekly.send_due() is False
    again = WeeklySummary(
        hub.running,
        hub.clock,
        care=hub.care,
        archive=hub.archive,
        family=hub.family,
        events=hub.events,
    )
    await again.start()
    assert again.last_sent == week
    assert await again.send_due() is False
    assert len([s for s in sim.sms if s.accepted]) == 2


async def test_without_the_opt_in_the_week_goes_to_the_centre_only(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, escalation={"modem_port": "sim", "contacts": CONTACTS})
    assert hub.weekly.last_sent is not None
    hub.weekly.last_sent -= timedelta(days=7)
    assert await hub.weekly.send_due() is True
    assert hub.family.sim_modem is not None and hub.family.sim_modem.sms == []
    events = [e for e in await hub.outbox.recent(20) if e.event.kind == "weekly_summary"]
    assert len(events) == 1 and events[0].event.data["sms_sent"] == []
    assert events[0].event.data["text"].endswith("集线器没有记录。")


def test_hub_config_accepts_the_opt_in(tmp_path: Path) -> None:
    raw = hub_raw(
        tmp_path, 1883, escalation={"modem_port": "sim", "weekly_sms": True, "contacts": CONTACTS}
    )
    assert parse_config(raw).escalation.weekly_sms is True


async def test_before_the_clock_is_set_no_week_is_claimed_nor_sent(tmp_path: Path) -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from hub.clock import FakeClock
    from hub.config import RunningConfig

    clock = FakeClock(wall=datetime(1970, 1, 2, tzinfo=TZ), is_synced=False)
    # It reads nothing else of the hub before it sends: the other rooms are left out.
    nothing = cast(Any, SimpleNamespace())
    weekly = WeeklySummary(
        RunningConfig(parse_config(hub_raw(tmp_path, 1883))),
        clock,
        care=cast(Any, SimpleNamespace(engine=SimpleNamespace(tz=TZ))),
        archive=nothing,
        family=nothing,
        events=nothing,
    )
    await weekly.start()
    assert weekly.last_sent is None and not weekly._state_path.exists()
    assert await weekly.send_due() is False
    # NTP sets the clock: the hub claims the last whole week, it does not send it.
    clock.wall, clock.is_synced = NOW, True
    assert await weekly.send_due() is False
    assert weekly.last_sent == LAST_MONDAY and weekly._state_path.exists()

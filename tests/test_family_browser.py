"""The family page's pictures in headless Chromium on a 390 x 844 phone, with 30 generated
days of data kept as the hub keeps them (the routine's 15 days of slots and its history of
older days, the health archive's 5-minute buckets): every picture is drawn with a size,
fits the phone, and its words say what the data says. Screenshots go to
test-artifacts/web/ (gitignored) for a person to look at."""

from __future__ import annotations

import asyncio
import statistics
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from bench.family_data import generate
from hub.app import Hub
from hub.care.marks import DayMarks
from hub.care.routine import ROUTINE_DAYS, day_summary
from hub.config import parse_config
from hub.sim.broker import Mosquitto, free_port
from tests.conftest import hub_raw
from tests.test_web_browser import CHROMEDRIVER, CHROMIUM, PHONE, Phone

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed (./dev installs them)",
)

PICTURES = """
return Array.from(document.querySelectorAll('.card.picture svg')).map(function (svg) {
  var box = svg.getBoundingClientRect();
  var title = svg.querySelector('title');
  return {title: title ? title.textContent : '', label: svg.getAttribute('aria-label'),
          width: box.width, height: box.height, right: box.right,
          marks: svg.querySelectorAll('[data-day]').length};
});
"""


async def test_family_page_draws_thirty_days_on_a_phone(broker: Mosquitto, tmp_path: Path) -> None:
    web_port = free_port()
    raw = hub_raw(
        tmp_path / "data",
        broker.port,
        web={"enabled": True, "listen": "127.0.0.1", "port": web_port},
    )
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    tz = hub.care.engine.tz
    now = hub.clock.now()
    today = now.astimezone(tz).date()
    # 31 days: the first night of the 30-day trend needs the evening before it.
    data = generate(31, now, tz, late_days=0)
    cutoff = (today - timedelta(days=ROUTINE_DAYS + 1)).isoformat()
    routine = hub.care.engine.routine
    routine.days = {k: v for k, v in data.profile.items() if k >= cutoff}
    routine.history = {k: day_summary(v) for k, v in data.profile.items() if k < cutoff}
    await hub.outbox.store_vitals(data.buckets, keep_before=0)
    # A week of marks: check-ins but 3 days ago, night visits 5 and 2 days ago.
    await hub.devices.pair("rflink:pir:bath", "motion", "卫生间人体", "卫生间")

    def at(days_ago: int, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hh, mm), tz)

    marks = hub.care.engine.marks = DayMarks(since=at(9, 0))
    for n in (6, 5, 4, 2, 1):
        marks.add("checkin", at(n, 8, 30))
    for n in (5, 2):
        marks.add("night_visit", at(n, 2, 15))
    phone = await asyncio.to_thread(Phone, f"http://127.0.0.1:{web_port}")
    try:
        assert hub.web is not None
        pin = (await hub.web.pin_op(family=True, new=False))["pin"]
        await phone.get("/")
        await phone.type("#pin", pin)
        await phone.click("form[action='/login'] button")
        await phone.wait_text("main", "最近一次活动")
        await phone.get("/family")
        await phone.wait_text("#weekly", "周报")
        pictures: list[dict[str, Any]] = await phone.run(phone.driver.execute_script, PICTURES)
        titles = [p["title"] for p in pictures]
        assert titles == ["近 7 天活动", "近 30 天每天活动（小时）", "心率", "血氧", "血压"]
        for picture in pictures:
            # Drawn, with a size, inside the phone's width (no sideways scrolling).
            assert picture["width"] > 300 and picture["height"] > 150, picture
            assert picture["right"] <= PHONE["width"], picture
            assert picture["marks"] > 0, picture
        assert await phone.width_overflow() <= 0
        by_title = {p["title"]: p for p in pictures}
        week = [today - timedelta(days=n) for n in range(6, -1, -1)]

        # The strip: she got up at her usual time (the median of the week's days).
        # Only days she has already got up on: before her wake-up (after midnight in the
        # hub's zone, i.e. from 16:00 UTC for Beijing time) today has no wake time yet.
        local_now = now.astimezone(tz)
        woken = [
            d
            for d in week
            if datetime.combine(d, time(0), tz) + timedelta(minutes=data.wake_min[d]) <= local_now
        ]
        wake = round(statistics.median(data.wake_min[d] // 5 * 5 for d in woken))
        strip = by_title["近 7 天活动"]["label"]
        assert strip.startswith(
            f"本周起床时间与平常一致（约 {wake // 60:02d}:{wake % 60:02d}），夜间起夜 2 次，"
        ), strip
        day3 = today - timedelta(days=3)
        assert f"{day3.month}/{day3.day}" in strip and "未报平安" in strip
        # The trend: all 30 whole days are kept; the mean hours with activity.
        shown = [today - timedelta(days=n) for n in range(30, 0, -1)]
        hours = statistics.fmean(len(set(data.profile[d.isoformat()])) * 5 for d in shown) / 60
        trend = by_title["近 30 天每天活动（小时）"]
        assert trend["marks"] == 30
        assert trend["label"].startswith(f"每天活动约 {hours:.1f} 小时，")
        # Heart rate: the week's lowest and highest.
        low = min(data.hr_by_day[d][0] for d in week)
        high = max(data.hr_by_day[d][1] for d in week)
        assert by_title["心率"]["label"].startswith(f"近 7 天心率 {low:g}–{high:g} 次/分")
        assert by_title["血压"]["label"].startswith("近 7 天血压：收缩压 ")
        weekly = await phone.text("#weekly")
        assert f"心率 {low:g}-{high:g}" in weekly
        assert "起床时间与平常一致" in weekly and "夜间起夜 2 次" in weekly
        await phone.shot("family-30-days")

        # The same page in English (the pictures' words follow the language).
        await phone.click("header a.link")
        await phone.wait_text("main", "Last sign of life")
        english = await phone.run(phone.driver.execute_script, PICTURES)
        assert [p["title"] for p in english][:2] == [
            "Activity, last 7 days",
            "Hours with activity, last 30 days",
        ]
        assert all(p["width"] > 300 and p["height"] > 150 for p in english)
        await phone.shot("family-30-days-en")
    finally:
        await asyncio.to_thread(phone.close)
        await hub.stop()

"""The family page shows the activity strip drawn from the care engine's learned routine,
to a family session only (the page's existing session check)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bench.family_data import generate
from hub.app import Hub
from hub.care.marks import DayMarks
from hub.sim.broker import Mosquitto
from hub.web.server import WebServer
from tests.conftest import HubFactory
from tests.test_spine import press
from tests.test_web_api import client_for, login


@pytest.fixture
async def web(
    broker: Mosquitto, make_hub: HubFactory, tmp_path: Path
) -> AsyncIterator[tuple[Hub, WebServer, TestClient[Any, Any]]]:
    hub = await make_hub(broker.port, web={"wireless_path": str(tmp_path / "none")})
    async for server, client in client_for(hub):
        yield hub, server, client


async def test_the_family_page_draws_the_week_from_the_learned_routine(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    engine = hub.care.engine
    today = hub.clock.now().astimezone(engine.tz).date()
    # Up at 06:30 (slot 78) on the 8 learned days before the week, at 08:00 (96) in it.
    engine.routine.days = {
        (today - timedelta(days=n)).isoformat(): [96 if n < 7 else 78, 100, 200] for n in range(15)
    }
    anonymous = await client.get("/family", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"] == "/login"
    assert "<svg" not in await anonymous.text()
    status, _ = await login(client, server.access.family_pin)
    assert status == 200
    page = await client.get("/family")
    html = await page.text()
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    svg = ET.fromstring(html[start:end])
    rows = [el.get("data-day") for el in svg if el.get("data-day")]
    assert rows == [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    assert svg.get("aria-label") == "本周起床比平常晚（约 08:00，平常 06:30）。"
    assert "<script" not in html[start:end]
    # The 30-day trend draws the days the hub keeps (today is not over) and says so.
    trend = titled(svgs(html), "近 30 天每天活动（小时）")
    assert (trend.get("aria-label") or "").startswith("近 30 天中集线器有 14 天的记录，")


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of a page, parsed."""
    found: list[ET.Element] = []
    start = html.find("<svg")
    while start >= 0:
        end = html.index("</svg>", start) + len("</svg>")
        found.append(ET.fromstring(html[start:end]))
        start = html.find("<svg", end)
    return found


def titled(pictures: list[ET.Element], title: str) -> ET.Element:
    """The picture whose <title> is `title`."""
    for svg in pictures:
        el = svg.find("{http://www.w3.org/2000/svg}title")
        if el is not None and el.text == title:
            return svg
    raise AssertionError(f"no picture titled {title}")


async def test_the_family_page_charts_her_vital_signs_of_the_week_with_the_limits(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    tz = hub.care.engine.tz
    data = generate(30, hub.clock.now(), tz)
    await hub.outbox.store_vitals(data.buckets, keep_before=0)
    await login(client, server.access.family_pin)
    db = hub.outbox.sync._db
    changes = db.total_changes
    html = await (await client.get("/family")).text()
    assert db.total_changes == changes  # nothing written to the disk for a view
    pictures = svgs(html)
    today = hub.clock.now().astimezone(tz).date()
    week = [today - timedelta(days=n) for n in range(6, -1, -1)]
    heart = titled(pictures, "心率")
    assert [el.get("data-day") for el in heart.iter() if el.get("data-day")] == [
        d.isoformat() for d in week
    ]
    low = min(data.hr_by_day[d][0] for d in week)
    high = max(data.hr_by_day[d][1] for d in week)
    label = heart.get("aria-label") or ""
    assert label.startswith(f"近 7 天心率 {low:g}–{high:g} 次/分，平均 "), label
    assert label.endswith("都在正常范围内。")
    assert {el.get("data-limit") for el in heart.iter() if el.get("data-limit")} == {"40", "130"}
    spo2 = titled(pictures, "血氧")
    assert {el.get("data-limit") for el in spo2.iter() if el.get("data-limit")} == {"90", "88"}
    pressure = titled(pictures, "血压")
    assert {el.get("data-limit") for el in pressure.iter() if el.get("data-limit")} == {
        "90",
        "110",
        "180",
    }
    series = {el.get("data-series") for el in pressure.iter() if el.get("data-series")}
    assert series == {"systolic", "diastolic"}
    assert (pressure.get("aria-label") or "").startswith("近 7 天血压：收缩压 ")
    # The week's words (周报) above the pictures say the same heart rate.
    weekly = html[html.index('id="weekly"') :]
    weekly = weekly[: weekly.index("</div>")]
    assert "周报" in weekly
    assert f"近 7 天：没有活动记录，心率 {low:g}-{high:g}，血氧最低 " in weekly


async def test_the_strip_marks_her_check_ins_night_visits_and_an_sos_of_the_week(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    engine = hub.care.engine
    tz = engine.tz
    now = hub.clock.now().astimezone(tz)
    today = now.date()

    def at(days_ago: int, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hh, mm), tz)

    await hub.devices.pair("rflink:pir:bath", "motion", "卫生间人体", "卫生间")
    # As if the hub had kept its marks for 9 days: check-ins on all days but 3 days ago,
    # night visits 5 and 2 days ago.
    engine.marks = DayMarks(since=at(9, 0))
    for n in (6, 5, 4, 2, 1):
        engine.marks.add("checkin", at(n, 8, 30))
    for n in (5, 2):
        engine.marks.add("night_visit", at(n, 2, 15))
    # Out from 09:00 to 12:00 four days ago (the wearable's presence history).
    out, back = int(at(4, 9).timestamp()), int(at(4, 12).timestamp())
    await hub.outbox.store_presence(
        [(out, "ble:band", False, "", None), (back, "ble:band", True, "客厅", -60)], 0
    )
    await press(hub, "sos")  # a real SOS: committed, then a mark
    for _ in range(100):
        if engine.marks.times["alarm"]:
            break
        await asyncio.sleep(0.05)
    assert len(engine.marks.times["alarm"]) == 1
    await login(client, server.access.family_pin)
    html = await (await client.get("/family")).text()
    strip = titled(svgs(html), "近 7 天活动")

    def marked(kind: str) -> list[str | None]:
        return [
            g.get("data-day")
            for g in strip
            if g.get("data-day")
            for el in g
            if el.get("data-mark") == kind
        ]

    iso = [(today - timedelta(days=n)).isoformat() for n in range(7)]
    assert marked("night_visit") == [iso[5], iso[2]]
    assert marked("checkin") == [iso[6], iso[5], iso[4], iso[2], iso[1]]
    assert marked("alarm") == [iso[0]]
    assert marked("away") == [iso[4]]
    # A missed check-in ring for 3 days ago, and today once its deadline (12:00) is past.
    missed = [iso[3]] + ([iso[0]] if now.time() >= time(12, 0) else [])
    assert sorted(marked("no_checkin")) == sorted(missed)
    label = strip.get("aria-label") or ""
    assert "夜间起夜 2 次" in label and "报警 1 次" in label and "1 天外出" in label
    day3 = today - timedelta(days=3)
    assert f"{day3.month}/{day3.day}" in label and "未报平安" in label
    weekly = html[html.index('id="weekly"') :]
    assert "夜间起夜 2 次" in weekly[: weekly.index("</div>")]

"""The family page shows the activity strip drawn from the care engine's learned routine,
to a family session only (the page's existing session check)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import Hub
from hub.sim.broker import Mosquitto
from hub.web.server import WebServer
from tests.conftest import HubFactory
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

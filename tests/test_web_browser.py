"""The installer's visit, end to end, in headless Chromium on a phone-sized screen.

Debian's chromium driven by selenium through Debian's chromedriver (no browser download).
The hub runs for real in this process: its pages on 127.0.0.1, an RFLink gateway on a
pseudo-terminal, a real mosquitto with a simulated alarm centre, the simulated modem.
Screenshots go to test-artifacts/web/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto, free_port
from tests.conftest import HUB_ID, hub_raw
from tests.helpers import Collector
from tests.test_spine import press

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "web"
DOOR_LINE = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
DOOR = "rflink:eurodomest:123456:01"  # as the decoder prints it
WIRELESS = """Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
 face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
 wlan0: 0000   56.  -54.  -256        0      0      0      3      0        0
"""
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed (./dev installs them)",
)


@pytest.fixture
def gateway() -> Iterator[tuple[int, str]]:
    """The RFLink gateway's side of a pty pair and the port name the hub opens."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


class Phone:
    """A headless Chromium with a 390x844 screen; each call runs off the event loop."""

    def __init__(self, base: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.base = base
        self.profile = tempfile.mkdtemp(prefix="pingan-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile}",
        ):
            options.add_argument(flag)
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
        # Chromium's start-up under chromedriver now and then fails on a loaded 2-core
        # machine (WebDriverException a few seconds in, on clean main too): that is the
        # browser's start, not the pages, so it gets two more tries.
        from selenium.common.exceptions import WebDriverException

        for attempt in range(3):
            try:
                self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
                break
            except WebDriverException:
                if attempt == 2:
                    raise
        self.driver.set_page_load_timeout(30)

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def get(self, path: str) -> None:
        await self.run(self.driver.get, self.base + path)

    async def click(self, css: str) -> None:
        def click() -> None:
            from selenium.common.exceptions import StaleElementReferenceException
            from selenium.webdriver.common.by import By

            # A page that is still replacing the previous one (after a link or a form) or
            # re-rendering a live part can swap the element between finding and clicking it;
            # selenium then raises before any click reached the page, so finding it again
            # is safe.
            for attempt in range(20):
                try:
                    element = self.driver.find_element(By.CSS_SELECTOR, css)
                    self.driver.execute_script(
                        "arguments[0].scrollIntoView({block:'center'})", element
                    )
                    element.click()
                    return
                except StaleElementReferenceException:
                    if attempt == 19:
                        raise
                    time.sleep(0.25)

        await self.run(click)

    async def type(self, css: str, text: str) -> None:
        def type_() -> None:
            from selenium.common.exceptions import StaleElementReferenceException
            from selenium.webdriver.common.by import By

            for attempt in range(20):  # as in click: the page may swap the field
                try:
                    element = self.driver.find_element(By.CSS_SELECTOR, css)
                    element.clear()
                    element.send_keys(text)
                    return
                except StaleElementReferenceException:
                    if attempt == 19:
                        raise
                    time.sleep(0.25)

        await self.run(type_)

    async def choose(self, css: str, value: str) -> None:
        def choose() -> None:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import Select

            Select(self.driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)

        await self.run(choose)

    async def wait_text(self, css: str, text: str, timeout: float = 20) -> str:
        def wait() -> str:
            from selenium.common.exceptions import WebDriverException
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait

            def shown(driver: Any) -> str | None:
                try:
                    found = str(driver.find_element(By.CSS_SELECTOR, css).text)
                except WebDriverException:  # the page is being replaced (a form's redirect)
                    return None
                return found if text in found else None

            return str(WebDriverWait(self.driver, timeout).until(shown))

        return str(await self.run(wait))

    async def text(self, css: str = "main") -> str:
        def read() -> str:
            from selenium.webdriver.common.by import By

            return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

        return str(await self.run(read))

    async def width_overflow(self) -> int:
        """How many CSS pixels the page is wider than the phone (0: no sideways scrolling)."""
        script = "return document.documentElement.scrollWidth - window.innerWidth"
        return int(await self.run(self.driver.execute_script, script))

    async def shot(self, name: str) -> Path:
        """A full-page screenshot in test-artifacts/web/."""

        def capture() -> Path:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            png = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {
                        "x": 0,
                        "y": 0,
                        "width": PHONE["width"],
                        "height": max(PHONE["height"], size["height"]),
                        "scale": 1,
                    },
                },
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            path = ARTIFACTS / f"{name}.png"
            path.write_bytes(base64.b64decode(png["data"]))
            return path

        path: Path = await self.run(capture)
        return path


async def test_installer_pairs_walk_tests_and_surveys_on_a_phone(
    broker: Mosquitto, collector: Collector, tmp_path: Path, gateway: tuple[int, str]
) -> None:
    master, port = gateway
    (tmp_path / "wireless").write_text(WIRELESS)
    web_port = free_port()
    raw = hub_raw(
        tmp_path / "data",
        broker.port,
        web={
            "enabled": True,
            "listen": "127.0.0.1",
            "port": web_port,
            "wireless_path": str(tmp_path / "wireless"),
        },
        rflink={"port": port},
        escalation={"modem_port": "sim"},
    )
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    phone = await asyncio.to_thread(Phone, f"http://127.0.0.1:{web_port}")
    try:
        await asyncio.sleep(0.5)  # the serial port is open (pyserial flushes input on open)
        # unlock with the one-time PIN (as `pingan-hub pin` shows it)
        assert hub.web is not None
        pin = (await hub.web.pin_op(family=False, new=False))["pin"]
        await phone.get("/")
        await phone.wait_text("h1", "请输入密码")
        await phone.shot("01-login")
        await phone.type("#pin", "000000" if pin != "000000" else "111111")
        await phone.click("form[action='/login'] button")
        await phone.wait_text("main", "密码不对，还可以再试 4 次")
        await phone.shot("01b-wrong-pin")
        await phone.type("#pin", pin)
        await phone.click("form[action='/login'] button")
        await phone.wait_text("h1", "配对")
        assert await phone.width_overflow() <= 0

        # permit join; the door contact is triggered and appears live, decoded
        await phone.click("form[action='/installer/permit-join'] button")
        await phone.wait_text("#join", "正在等待新设备")
        os.write(master, DOOR_LINE)
        await phone.wait_text("#candidates", DOOR)
        assert "开关类（门磁/按钮）" in await phone.text("#candidates .title")
        await phone.shot("02-permit-join-heard")

        # name it and put it in a room
        await phone.type("#candidates input[name='name']", "大门")
        await phone.type("#candidates input[name='room']", "门口")
        await phone.choose("#candidates select[name='kind']", "door")
        await phone.click("#candidates button[type='submit']")
        await phone.wait_text("main", "已添加 大门")
        assert "大门" in await phone.text("#paired")
        device = hub.registry.get(DOOR)
        assert device is not None and (device.kind, device.room) == ("door", "门口")
        await phone.shot("03-paired")

        # walk test: the door ticks itself when it is triggered again
        await phone.click("a[href='/installer/walk']")
        await phone.click("form[action='/installer/walk/start'] button")
        await phone.wait_text("#walk", "已确认 0 / 3")  # the door, the hub's red and green
        os.write(master, DOOR_LINE)
        await phone.wait_text("#walk", "已确认 1 / 3")
        await phone.click("form[action='/installer/walk/test-alarm'] button")
        [sos] = await collector.wait_event("sos")
        assert sos["data"]["test"] is True
        await collector.publish(
            f"pingan/v1/{HUB_ID}/ack", json.dumps({"id": sos["id"], "state": "received"})
        )
        await phone.wait_text("#walk", "服务中心已收到")
        await press(hub, "ok")
        await press(hub, "sos")  # the test SOS is open: a second press raises nothing new
        await phone.wait_text("#walk", "已确认 3 / 3")
        await phone.shot("04-walk-test")
        await phone.click("form[action='/installer/walk/finish'] button")
        await phone.wait_text("main", "巡检报告已保存并发送")
        await phone.shot("04b-walk-report")
        [report] = await collector.wait_event("walk_test")
        assert report["data"]["complete"] is True and report["data"]["passed"] == 3
        assert len(collector.events("sos")) == 1

        # signal survey: figures and verdicts
        await phone.click("a[href='/installer/survey']")
        await phone.wait_text("main", "无线网络")
        survey = await phone.text()
        assert "-54 dBm" in survey and "-73 dBm" in survey and " ms" in survey
        assert "良好" in survey
        assert await phone.width_overflow() <= 0
        await phone.shot("05-survey")

        # the family's page, and the same in English
        await phone.click("a[href='/family']")
        await phone.wait_text("main", "最近一次活动")
        await phone.shot("06-family")
        await phone.click("header a.link")
        await phone.wait_text("main", "Last sign of life")
        await phone.shot("07-family-en")
    finally:
        await asyncio.to_thread(phone.close)
        await hub.stop()

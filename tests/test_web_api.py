"""The installer and family pages, through aiohttp's test client against a real hub on a
real mosquitto: who gets in, what a bad form does (nothing, and says why), pairing, the
walk test, the survey and the family page."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from hub.app import Hub
from hub.control import call
from hub.reading import Reading, State
from hub.sensors.gpio import OK_BUTTON, SOS_BUTTON
from hub.sim.broker import Mosquitto, free_port
from hub.web.server import WebServer
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually

# Device keys as the sources print them (hub.sensors.keys).
DOOR = "rflink:eurodomest:123456:01"
PENDANT = "A4:C1:38:00:11:22"
# /proc/net/wireless of a Raspberry Pi 3 on a weak-ish link (recorded), and its route table.
WIRELESS = """Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
 face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
 wlan0: 0000   38.  -72.  -256        0      0      0     12      0        0
"""
ROUTE = """Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t303\t00000000\t0\t0\t0
"""


def door_reading(**values: Any) -> Reading:
    """What the RFLink decoder makes of the door contact's line."""
    return Reading(DOOR, "rflink", "door", {"state": "on", **values}, state=State.ALARM)


async def client_for(hub: Hub) -> AsyncIterator[tuple[WebServer, TestClient[Any, Any]]]:
    server = WebServer(hub)
    async with TestClient(TestServer(server.app)) as client:
        yield server, client


@pytest.fixture
async def web(
    broker: Mosquitto, make_hub: HubFactory, tmp_path: Path
) -> AsyncIterator[tuple[Hub, WebServer, TestClient[Any, Any]]]:
    """A hub, its pages on aiohttp's test server, and a phone (the test client)."""
    (tmp_path / "wireless").write_text(WIRELESS)
    hub = await make_hub(
        broker.port,
        web={"max_attempts": 3, "lockout_s": 60, "wireless_path": str(tmp_path / "wireless")},
        escalation={"modem_port": "sim"},
    )
    async for server, client in client_for(hub):
        yield hub, server, client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def login(client: TestClient[Any, Any], pin: str) -> tuple[int, str]:
    page = await client.get("/login")
    token = csrf_of(await page.text())
    resp = await client.post("/login", data={"csrf": token, "pin": pin})
    return resp.status, await resp.text()


async def installer(server: WebServer, client: TestClient[Any, Any]) -> str:
    """Unlock as the installer; returns the session's CSRF token."""
    pin, _ = server.access.installer_pin(server.monotonic())
    status, html = await login(client, pin)
    assert status == 200, html
    return csrf_of(html)


async def test_the_installer_pin_unlocks_once_and_cannot_be_used_again(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    _, server, client = web
    pin, left = server.access.installer_pin(server.monotonic())
    assert re.fullmatch(r"\d{6}", pin) and left > 0
    status, html = await login(client, pin)
    assert status == 200 and "允许配对" in html  # the pairing page, in Mandarin
    assert any(c.key == "pingan_session" for c in client.session.cookie_jar)
    client.session.cookie_jar.clear()
    status, html = await login(client, pin)
    assert status == 403 and "密码不对" in html


async def test_the_session_cookie_is_httponly_and_samesite_strict(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    _, server, client = web
    page = await client.get("/login")
    token = csrf_of(await page.text())
    pin, _ = server.access.installer_pin(server.monotonic())
    resp = await client.post("/login", data={"csrf": token, "pin": pin}, allow_redirects=False)
    assert resp.status == 303
    cookie = resp.cookies["pingan_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_wrong_pins_lock_every_pin_out_and_burn_the_installer_pin(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    _, server, client = web
    pin, _ = server.access.installer_pin(server.monotonic())
    wrong = "000000" if pin != "000000" else "111111"
    assert (await login(client, wrong))[0] == 403
    status, html = await login(client, wrong)
    assert status == 403 and "还可以再试 1 次" in html
    status, html = await login(client, wrong)
    assert status == 429 and "请 60 秒后再试" in html
    status, html = await login(client, server.access.family_pin)  # right PIN, but locked
    assert status == 429 and "pingan_session" not in {c.key for c in client.session.cookie_jar}
    start = server.monotonic()
    server.monotonic = lambda: start + 61  # the lockout has run out
    status, html = await login(client, pin)  # the old installer PIN died with the lockout
    assert status == 403 and "密码不对" in html


async def test_a_form_without_its_csrf_token_changes_nothing(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    token = await installer(server, client)
    for form in (
        {"key": DOOR},
        {"key": DOOR, "csrf": ""},
        {"key": DOOR, "csrf": token[:-2] + "xx"},
    ):
        resp = await client.post("/installer/remove", data=form)
        assert resp.status == 403
        assert "页面已过期，请刷新后再试（没有做任何更改）" in await resp.text()
    resp = await client.post("/installer/permit-join", data={})
    assert resp.status == 403 and server.join.remaining(server.monotonic()) == 0
    assert hub.registry.get(DOOR) is not None
    # and the login form's own token: no cookie, no unlock
    client.session.cookie_jar.clear()
    pin, _ = server.access.installer_pin(server.monotonic())
    resp = await client.post("/login", data={"csrf": "made-up", "pin": pin})
    assert resp.status == 403 and "pingan_session" not in {c.key for c in client.session.cookie_jar}


async def test_an_oversized_body_is_refused_and_changes_nothing(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    token = await installer(server, client)
    resp = await client.post(
        "/installer/rename", data={"csrf": token, "key": DOOR, "name": "门" * 20_000}
    )
    assert resp.status == 413
    assert "提交的内容太大（没有做任何更改）" in await resp.text()
    device = hub.registry.get(DOOR)
    assert device is not None and device.name == "大门"


async def test_malformed_fields_get_a_clear_error_and_change_nothing(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    token = await installer(server, client)
    await client.post("/installer/permit-join", data={"csrf": token})
    stranger = Reading("rflink:kaku:00beef:1", "rflink", "door", {"state": "on"}, rssi=-60)
    await hub.readings.handle_reading(stranger)
    upload = FormData()
    upload.add_field("csrf", token)
    upload.add_field("key", DOOR)
    upload.add_field("name", b"x", filename="name.txt")
    cases: list[tuple[str, Any, str]] = [
        (
            "/installer/pair",
            {"key": stranger.device, "kind": "bomb", "name": "x"},
            "请选择设备种类",
        ),
        ("/installer/pair", {"key": stranger.device, "kind": "door", "name": "a\x07b"}, "最多 40"),
        ("/installer/pair", {"key": stranger.device, "kind": "door", "name": "长" * 41}, "最多 40"),
        ("/installer/pair", {"key": "rflink:nobody:1", "kind": "door"}, "不是在允许配对期间"),
        (
            "/installer/pair",
            {"key": stranger.device, "kind": "door", "replaces": "rflink:gone"},
            "没有这个设备",
        ),
        ("/installer/rename", {"key": "rflink:gone", "name": "x"}, "没有这个设备"),
        ("/installer/remove", {"key": "rflink:gone"}, "没有这个设备"),
        ("/installer/rename", upload, "最多 40"),
    ]
    for path, fields, message in cases:
        form = {"csrf": token, **fields} if isinstance(fields, dict) else fields
        resp = await client.post(path, data=form)
        html = await resp.text()
        assert resp.status == 400, (path, form)
        assert message in html and "没有做任何更改" in html
    assert [d.key for d in hub.registry.devices()] == [DOOR]
    device = hub.registry.get(DOOR)
    assert device is not None and (device.name, device.room) == ("大门", "门口")


async def test_the_family_pin_only_looks(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    _, server, client = web
    status, html = await login(client, server.access.family_pin)
    assert status == 200 and "最近一次活动" in html
    assert "/installer/devices" not in html  # no installer tabs
    token = csrf_of(html)
    resp = await client.get("/installer/devices")
    assert resp.status == 403 and "家属密码只能查看" in await resp.text()
    resp = await client.post("/installer/permit-join", data={"csrf": token})
    assert resp.status == 403 and server.join.remaining(server.monotonic()) == 0


async def test_pages_switch_to_english(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    _, _, client = web
    resp = await client.get("/lang/en?next=/login")
    html = await resp.text()
    assert "Enter your PIN" in html and 'lang="en"' in html
    resp = await client.get("/lang/en?next=//evil.example/")
    assert resp.url.path == "/login"  # "/" -> login: never an off-site redirect


async def test_the_language_switch_never_sends_the_phone_to_another_site(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    _, _, client = web
    # A tab or a line break is dropped from a URL (WHATWG, and yarl for the Location
    # header): "/<tab>/evil.example" would become "//evil.example", another site.
    for target in ("/%09/evil.example/", "/%0a/evil.example/", "/%0d%0a/evil.example/"):
        resp = await client.get(f"/lang/en?next={target}", allow_redirects=False)
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == "/"


async def test_a_device_heard_during_permit_join_is_named_and_paired(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    token = await installer(server, client)
    await hub.readings.handle_reading(door_reading())  # heard before the window: not offered
    assert DOOR not in server.join.candidates
    resp = await client.post(
        "/installer/pair", data={"csrf": token, "key": DOOR, "kind": "door", "name": "大门"}
    )
    assert resp.status == 400 and hub.registry.get(DOOR) is None
    html = await (await client.post("/installer/permit-join", data={"csrf": token})).text()
    assert "正在等待新设备" in html
    await hub.readings.handle_reading(door_reading())
    html = await (await client.get("/installer/devices")).text()
    assert DOOR in html and "门磁" in html  # decoded type shown
    resp = await client.post(
        "/installer/pair",
        data={"csrf": token, "key": DOOR, "kind": "door", "name": "大门", "room": "门口"},
    )
    html = await resp.text()
    assert resp.status == 200 and "已添加 大门" in html
    device = hub.registry.get(DOOR)
    assert device is not None and (device.kind, device.name, device.room) == (
        "door",
        "大门",
        "门口",
    )
    # rename and remove through the same page
    await client.post(
        "/installer/rename", data={"csrf": token, "key": DOOR, "name": "前门", "room": "门口"}
    )
    assert hub.registry.get(DOOR).name == "前门"  # type: ignore[union-attr]
    await client.post("/installer/remove", data={"csrf": token, "key": DOOR})
    assert hub.registry.get(DOOR) is None


async def test_a_new_device_replaces_a_broken_one(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    token = await installer(server, client)
    await client.post("/installer/permit-join", data={"csrf": token})
    new = "rflink:eurodomest:654321:01"
    await hub.readings.handle_reading(
        Reading(new, "rflink", "door", {"state": "on"}, state=State.ALARM)
    )
    resp = await client.post(
        "/installer/pair",
        data={"csrf": token, "key": new, "kind": "door", "name": "大门", "replaces": DOOR},
    )
    assert resp.status == 200 and "已用新设备替换 大门" in await resp.text()
    assert [d.key for d in hub.registry.devices()] == [new]


async def test_live_updates_show_a_device_as_it_is_heard(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    token = await installer(server, client)
    await client.post("/installer/permit-join", data={"csrf": token})
    resp = await client.get("/live/devices")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    await hub.readings.handle_reading(door_reading())
    seen = b""
    while DOOR.encode() not in seen:
        seen += await asyncio.wait_for(resp.content.readany(), 10)
    assert b"event: fragments" in seen
    resp.close()


async def test_the_walk_test_ticks_devices_and_sends_its_report(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
    collector: Collector,
) -> None:
    hub, server, client = web
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    await hub.devices.pair(PENDANT, "wearable", "胸牌", "卧室")
    token = await installer(server, client)
    html = await (await client.post("/installer/walk/start", data={"csrf": token})).text()
    assert "已确认 0 / 4" in html  # two devices and the hub's red and green buttons
    await hub.readings.handle_reading(door_reading())
    html = await (await client.get("/installer/walk")).text()
    assert "已确认 1 / 4" in html
    await client.post("/installer/walk/test-alarm", data={"csrf": token})
    [sos] = await collector.wait_event("sos")
    assert sos["data"]["test"] is True
    html = await (await client.post("/installer/walk/finish", data={"csrf": token})).text()
    assert "巡检报告已保存并发送" in html and "1 / 4" in html
    assert "上次巡检报告" in html and "没有响应的设备" in html and "胸牌" in html
    [report] = await collector.wait_event("walk_test")
    assert report["data"]["passed"] == 1 and report["data"]["total"] == 4
    assert {d["device"]: d["ok"] for d in report["data"]["devices"]} == {
        DOOR: True,
        PENDANT: False,
        SOS_BUTTON: False,
        OK_BUTTON: False,
    }
    assert (
        sos["data"]["walk_test"] == report["data"]["id"] and report["data"]["ended"] == "finished"
    )
    assert report["data"]["test_alarm"]["id"] == sos["id"]
    assert report["data"]["complete"] is False  # the pendant never spoke


SMOKE = "rflink:alecto v4:0003"
GAS = "rflink:alecto v4:0004"


async def test_a_detector_set_off_in_the_walk_test_reaches_the_centre_flagged_as_a_test(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
    collector: Collector,
) -> None:
    hub, server, client = web
    await hub.devices.pair(SMOKE, "smoke", "厨房烟感", "厨房")
    token = await installer(server, client)
    html = await (await client.post("/installer/walk/start", data={"csrf": token})).text()
    assert "巡检模式" in html and "标为测试" in html and "30 分钟内自动结束" in html
    await hub.devices.pair(GAS, "gas", "燃气", "厨房")  # paired after the walk began: not on it
    await hub.readings.handle_reading(
        Reading(SMOKE, "rflink", "smoke", {"smoke": True}, state=State.ALARM)
    )
    [smoke] = await collector.wait_event("smoke")
    # stored and sent the real way (priority 0), but the centre sees it is the installer
    assert smoke["priority"] == 0 and smoke["source"]["device"] == SMOKE
    assert smoke["data"]["test"] is True and smoke["data"]["walk_test"] == server.walk.id
    assert hub.alarms.book.alarms[smoke["id"]].test  # the lifecycle treats it as any test alarm
    html = await (await client.get("/installer/walk")).text()
    assert "已确认 1 / 3" in html and "测试报警：" in html
    # a detector that is not on the checklist still raises a real alarm
    await hub.readings.handle_reading(
        Reading(GAS, "rflink", "gas", {"gas": True}, state=State.ALARM)
    )
    [gas] = await collector.wait_event("gas")
    assert "test" not in gas["data"] and "walk_test" not in gas["data"]
    assert not hub.alarms.book.alarms[gas["id"]].test
    await client.post("/installer/walk/finish", data={"csrf": token})
    [report] = await collector.wait_event("walk_test")
    assert report["data"]["test_alarms"] == [smoke["id"]]
    assert report["data"]["test_alarm"]["id"] == smoke["id"]
    # the walk test is over: the same detector is a real alarm again
    await hub.readings.handle_reading(
        Reading(SMOKE, "rflink", "smoke", {"alarm": False}, state=State.CLEAR)
    )  # clear
    await hub.readings.handle_reading(
        Reading(SMOKE, "rflink", "smoke", {"smoke": True}, state=State.ALARM)
    )
    [real] = await eventually(
        lambda: [e for e in collector.events("smoke") if e["id"] != smoke["id"]]
    )
    assert "test" not in real["data"] and not hub.alarms.book.alarms[real["id"]].test


async def test_the_hubs_red_and_green_buttons_tick_off_and_a_red_press_is_a_test_sos(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
    collector: Collector,
) -> None:
    from tests.test_spine import press

    hub, server, client = web
    token = await installer(server, client)
    html = await (await client.post("/installer/walk/start", data={"csrf": token})).text()
    assert "主机红色求助按钮" in html and "主机绿色平安按钮" in html and "已确认 0 / 2" in html
    await press(hub, "ok")
    await eventually(lambda: server.walk is not None and server.walk.done == 1)
    assert not server.join.candidates  # the hub's buttons are never offered for pairing
    await press(hub, "sos")
    [sos] = await collector.wait_event("sos")
    assert sos["data"]["test"] is True and sos["data"]["walk_test"] == server.walk.id
    assert sos["source"]["device"] == SOS_BUTTON
    html = await (await client.get("/installer/walk")).text()
    assert "已确认 2 / 2" in html and "测试报警：" in html
    english = await (await client.get("/lang/en?next=/installer/walk")).text()
    assert "hub&#x27;s red SOS button" in english


async def test_a_forgotten_walk_test_ends_by_itself_and_alarms_are_real_again(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
    collector: Collector,
) -> None:
    from dataclasses import replace

    hub, server, client = web
    await hub.devices.pair(SMOKE, "smoke", "厨房烟感", "厨房")
    server.cfg = replace(server.cfg, walk_test_s=1)  # the installer drove off 30 min ago
    token = await installer(server, client)
    await client.post("/installer/walk/start", data={"csrf": token})
    assert server.walk is not None
    [report] = await collector.wait_event("walk_test")
    assert report["data"]["ended"] == "timeout" and report["data"]["passed"] == 0
    assert server.walk is None
    html = await (await client.get("/installer/walk")).text()
    assert "巡检超时，已自动结束" in html
    await hub.readings.handle_reading(
        Reading(SMOKE, "rflink", "smoke", {"smoke": True}, state=State.ALARM)
    )
    [smoke] = await collector.wait_event("smoke")
    assert "test" not in smoke["data"] and not hub.alarms.book.alarms[smoke["id"]].test


async def test_the_survey_shows_wifi_broker_cellular_and_device_signal(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    await hub.devices.pair(PENDANT, "wearable", "胸牌", "卧室")
    await hub.readings.handle_reading(Reading(PENDANT, "bthome", "presence", {}, rssi=-88))
    await installer(server, client)
    await eventually(lambda: hub.uplink.state.connected)
    html = await (await client.get("/installer/survey")).text()
    assert "-72 dBm" in html  # Wi-Fi, from the recorded /proc/net/wireless
    assert re.search(r"\d+ ms", html)  # a real PUBACK round trip to mosquitto
    assert "-73 dBm" in html  # AT+CSQ 20 from the simulated modem
    assert "-88 dBm" in html and "把设备或主机挪近一些" in html  # poor BLE, with advice
    assert "把主机移近路由器" in html  # -72 dBm Wi-Fi is poor


async def test_the_heartbeat_carries_uplink_and_modem_signal(
    broker: Mosquitto, make_hub: HubFactory, tmp_path: Path
) -> None:
    (tmp_path / "wireless").write_text(WIRELESS)
    hub = await make_hub(
        broker.port,
        web={"wireless_path": str(tmp_path / "wireless")},
        escalation={"modem_port": "sim"},
    )
    await hub.report.heartbeat()  # the first one asks the modem
    signal = await eventually(
        lambda: hub.family.modem_rssi_dbm is not None and hub.family.modem_rssi_dbm, timeout=10
    )
    beat = await hub.report.heartbeat()
    assert signal == -73
    assert beat["signal"]["wifi_rssi_dbm"] == -72 and beat["signal"]["modem_rssi_dbm"] == -73


async def test_the_family_page_shows_open_alerts_and_troubled_devices(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    hub, server, client = web
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    await hub.readings.handle_reading(door_reading(battery_low=True))
    await hub.alarms.test_alarm()
    status, html = await login(client, server.access.family_pin)
    assert status == 200
    assert "紧急求助" in html and "(测试)" in html  # the open (test) SOS and its state
    assert "大门" in html and "电量低" in html
    assert "刚刚" in html  # last sign of life: the door, just now


async def test_pin_command_and_both_buttons_give_the_installer_pin(
    broker: Mosquitto, tmp_path: Path
) -> None:
    from gpiozero.pins.mock import MockFactory

    from hub.config import parse_config
    from tests.conftest import hub_raw

    spoken: list[Sequence[str]] = []
    port = free_port()
    raw = hub_raw(
        tmp_path / "data",
        broker.port,
        web={"enabled": True, "listen": "127.0.0.1", "port": port, "pin_hold_s": 2.0},
        voice={"prompts": True},
    )
    factory = MockFactory()
    hub = Hub(parse_config(raw), pin_factory=factory, local_raw=raw, player=spoken.append)
    await hub.start()
    try:
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "hub", "pin", "--socket", str(hub.cfg.control_socket)],
            capture_output=True,
            text=True,
            check=True,
        )
        pin = re.search(r"installer PIN: (\d{6})", proc.stdout)
        assert pin, proc.stdout
        family = await asyncio.to_thread(call, hub.cfg.control_socket, "pin", family=True)
        assert re.fullmatch(r"\d{8}", family["pin"])
        # hold both buttons: the PIN is spoken (the red press also raises an SOS: never muted)
        factory.pin(hub.cfg.gpio.sos_pin).drive_low()
        factory.pin(hub.cfg.gpio.ok_pin).drive_low()
        speaker = hub.speech.speaker
        assert speaker is not None
        from hub.web.server import spoken_pin

        wav = speaker.renderer.path_for(spoken_pin(pin.group(1), "cmn"), speaker.voice)
        await eventually(lambda: any(str(wav) in argv for argv in spoken), timeout=20)
        factory.pin(hub.cfg.gpio.sos_pin).drive_high()
        factory.pin(hub.cfg.gpio.ok_pin).drive_high()
        # and the pages listen on the configured LAN address only
        from aiohttp import ClientSession

        async with ClientSession() as session, session.get(f"http://127.0.0.1:{port}/login") as r:
            assert r.status == 200
    finally:
        await hub.stop()


async def test_the_installer_pin_never_lands_in_the_log_when_the_speaker_fails(
    broker: Mosquitto, tmp_path: Path, caplog: Any
) -> None:
    import logging

    from gpiozero.pins.mock import MockFactory

    from hub.config import parse_config
    from tests.conftest import hub_raw

    played: list[Sequence[str]] = []

    def broken_speaker(argv: Sequence[str]) -> None:  # aplay: no sound card
        played.append(argv)
        raise OSError("aplay: main:831: audio open error: No such file or directory")

    raw = hub_raw(
        tmp_path / "data",
        broker.port,
        web={"enabled": True, "listen": "127.0.0.1", "port": free_port(), "pin_hold_s": 2.0},
        voice={"prompts": True},
    )
    factory = MockFactory()
    hub = Hub(parse_config(raw), pin_factory=factory, local_raw=raw, player=broken_speaker)
    caplog.set_level(logging.INFO)
    await hub.start()
    try:
        assert hub.web is not None
        pin = (await hub.web.pin_op(family=False, new=False))["pin"]
        factory.pin(hub.cfg.gpio.sos_pin).drive_low()
        factory.pin(hub.cfg.gpio.ok_pin).drive_low()
        speaker = hub.speech.speaker
        assert speaker is not None
        from hub.web.server import spoken_pin

        wav = str(speaker.renderer.path_for(spoken_pin(pin, "cmn"), speaker.voice))
        await eventually(lambda: any(wav in argv for argv in played), timeout=20)
        await asyncio.sleep(0.1)  # its failure is logged as the next line
        factory.pin(hub.cfg.gpio.sos_pin).drive_high()
        factory.pin(hub.cfg.gpio.ok_pin).drive_high()
        said = spoken_digits(pin)
        assert said not in caplog.text and pin not in caplog.text
    finally:
        await hub.stop()


def spoken_digits(pin: str) -> str:
    """The PIN as the Mandarin sentence says it (幺 for 1)."""
    return "，".join("零幺二三四五六七八九"[int(d)] for d in pin)


async def test_the_hub_starts_and_raises_alarms_when_the_pages_pin_file_cannot_be_written(
    broker: Mosquitto, tmp_path: Path, caplog: Any, collector: Collector
) -> None:
    from gpiozero.pins.mock import MockFactory

    from hub.config import parse_config
    from tests.conftest import hub_raw

    raw = hub_raw(
        tmp_path / "data",
        broker.port,
        web={"enabled": True, "listen": "127.0.0.1", "port": free_port()},
    )
    # web.json cannot be written (here: a directory is in its way; on a hub, a full SD card)
    (tmp_path / "data" / "web.json").mkdir(parents=True)
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    try:
        assert hub.web is not None and re.fullmatch(r"\d{8}", hub.web.access.family_pin)
        assert "family PIN not saved" in caplog.text
        await hub.alarms.test_alarm()
        [sos] = await collector.wait_event("sos")
        assert sos["data"]["test"] is True
    finally:
        await hub.stop()


async def test_pin_command_says_what_to_do_when_the_pages_are_off(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", "pin", "--socket", str(hub.cfg.control_socket)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "set [web] enabled = true" in proc.stderr


async def test_pages_listen_on_the_lan_interface_and_wait_for_its_address(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from dataclasses import replace

    from aiohttp import ClientSession

    import hub.web.address as address_module
    import hub.web.server as server_module

    assert address_module.interface_address("lo") == "127.0.0.1"
    assert address_module.interface_address("nosuch0") is None
    monkeypatch.setattr(server_module, "_BIND_RETRY_S", 0.1)
    port = free_port()
    hub = await make_hub(broker.port, web={"enabled": True, "interface": "nosuch0", "port": port})
    pages = hub.web
    assert pages is not None and pages.address is None  # no Wi-Fi yet: the hub runs, pages wait
    family = await asyncio.to_thread(call, hub.cfg.control_socket, "pin", family=True)
    assert len(family["pin"]) == 8  # the PINs can be handed out meanwhile
    assert "has no IPv4 address; retrying" in caplog.text
    await hub.alarms.test_alarm()  # and the alarm path does not care
    pages.cfg = replace(pages.cfg, interface="lo")  # the interface got its address
    await eventually(lambda: pages.address == "127.0.0.1")
    async with ClientSession() as session, session.get(f"http://127.0.0.1:{port}/login") as r:
        assert r.status == 200


async def test_a_page_asked_for_under_another_name_is_refused_against_dns_rebinding(
    web: tuple[Hub, WebServer, TestClient[Any, Any]], caplog: Any
) -> None:
    from dataclasses import replace

    _, server, client = web
    port = client.port
    token = await installer(server, client)
    # A web page at evil.example whose name now resolves to the hub: the browser sends
    # its own name in Host. Refused, and nothing is done.
    evil = {"Host": f"evil.example:{port}"}
    resp = await client.post("/installer/permit-join", data={"csrf": token}, headers=evil)
    html = await resp.text()
    assert resp.status == 421 and server.join.remaining(server.monotonic()) == 0
    assert "不是本机的地址（evil.example" in html and f"http://127.0.0.1:{port}/" in html
    assert "没有做任何更改" in html
    resp = await client.get("/family", headers={"Host": "evil.example"})
    assert resp.status == 421
    for _ in range(20):  # a hostile page in a loop
        await client.get("/family", headers={"Host": "evil.example"})
    assert caplog.text.count("'evil.example'") == 1  # logged once, not 21 times
    resp = await client.get("/login", headers={"Host": f"127.0.0.1:{port + 1}"})
    assert resp.status == 421  # another port of the same address: not these pages
    english = await client.get("/login", headers={**evil, "Cookie": "lang=en"})
    assert "the request was refused. Open http" in await english.text()
    # the hub's own address (what the test client sends), localhost, a configured name
    assert (await client.get("/login")).status == 200
    assert (await client.get("/login", headers={"Host": f"localhost:{port}"})).status == 200
    name = {"Host": f"PingAn-Hub.local.:{port}"}
    assert (await client.get("/login", headers=name)).status == 421
    server.cfg = replace(server.cfg, host_names="pingan-hub.local, hub.lan")
    assert (await client.get("/login", headers=name)).status == 200
    resp = await client.post("/installer/permit-join", data={"csrf": token}, headers=name)
    assert resp.status == 200 and server.join.remaining(server.monotonic()) > 0
    # no Host at all (HTTP/1.0 style): refused too
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /login HTTP/1.0\r\n\r\n")
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"400"


def test_a_host_name_that_is_not_one_is_refused_in_the_config() -> None:
    from hub.config import parse_config
    from hub.errors import ConfigError

    ok = parse_config({"hub": {"id": "X"}, "web": {"host_names": "pingan-hub.local, hub.lan"}})
    assert ok.web.host_names == "pingan-hub.local, hub.lan"
    with pytest.raises(ConfigError) as caught:
        parse_config({"hub": {"id": "X"}, "web": {"host_names": "pingan-hub.local, evil/x"}})
    assert any(p.startswith("web.host_names:") and "'evil/x'" in p for p in caught.value.problems)


async def test_the_pages_follow_the_hub_to_a_new_lan_address_after_a_dhcp_renewal(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from dataclasses import replace

    from aiohttp import ClientConnectorError, ClientSession

    import hub.web.server as server_module

    monkeypatch.setattr(server_module, "_BIND_RETRY_S", 0.05)
    hub = await make_hub(broker.port)
    lease: dict[str, str | None] = {"wlan0": "127.0.0.1"}  # what the DHCP server handed out
    pages = WebServer(hub, address_of=lambda name: lease[name])
    pages.cfg = replace(pages.cfg, port=free_port())
    port = pages.cfg.port

    async def status(address: str) -> int:
        async with ClientSession() as session, session.get(f"http://{address}:{port}/login") as r:
            return r.status

    await pages.start()
    try:
        assert pages.address == "127.0.0.1"
        lease["wlan0"] = None  # Wi-Fi drops for a moment: the pages stay where they were
        await asyncio.sleep(0.3)
        assert pages.address == "127.0.0.1"
        # the renewal gives another address before anyone opened the pages
        lease["wlan0"] = "127.0.0.2"
        await eventually(lambda: pages.address == "127.0.0.2")
        assert await status("127.0.0.2") == 200  # and its Host is the hub's own again
        with pytest.raises(ClientConnectorError):
            await status("127.0.0.1")  # nothing is left listening on the old one
        assert "changed from 127.0.0.1 to 127.0.0.2" in caplog.text
        lease["wlan0"] = "127.0.0.3"  # and again, now that the pages are being served
        await eventually(lambda: pages.address == "127.0.0.3")
        assert await status("127.0.0.3") == 200
        with pytest.raises(ClientConnectorError):
            await status("127.0.0.2")
    finally:
        await pages.stop()


def _maps_aiohttp(pid: int) -> bool:
    """Whether aiohttp's compiled parts are mapped into the process (it was imported)."""
    return "/aiohttp/" in Path(f"/proc/{pid}/maps").read_text()


async def test_aiohttp_is_loaded_only_when_the_first_phone_connects(
    broker: Mosquitto, tmp_path: Path
) -> None:
    from aiohttp import ClientSession

    from hub.errors import ControlError

    port = free_port()
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[hub]\nid = "LAZY-1"\ndata_dir = "{tmp_path}/data"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        '[gpio]\npin_factory = "mock"\n[voice]\nprompts = false\n'
        f'[web]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
    )
    sock = tmp_path / "data" / "control.sock"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "run", "--config", str(config)
    )
    try:

        def up() -> bool:
            try:
                return bool(call(sock, "status")["uplink"]["connected"])
            except ControlError:
                return False

        await eventually(up, timeout=30)
        # the hub runs, the pages listen, the PIN can be handed out: no aiohttp yet
        pin = await asyncio.to_thread(call, sock, "pin")
        assert re.fullmatch(r"\d{6}", pin["pin"])
        assert not _maps_aiohttp(proc.pid)
        async with ClientSession() as session, session.get(f"http://127.0.0.1:{port}/login") as r:
            assert r.status == 200 and "请输入密码" in await r.text()  # the first phone is served
        assert _maps_aiohttp(proc.pid)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def test_serving_the_pages_on_every_interface_is_refused() -> None:
    from hub.config import parse_config
    from hub.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config({"hub": {"id": "X"}, "web": {"listen": "0.0.0.0"}})
    assert any(p.startswith("web.listen:") and "LAN address" in p for p in caught.value.problems)


def test_only_the_family_pin_can_be_renewed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "pin", "--new", "--socket", str(tmp_path / "x.sock")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "give --family too" in proc.stderr


async def test_a_failing_page_listener_never_costs_the_hub_an_alarm(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    smoke = "rflink:alecto v4:0003"
    await hub.devices.pair(smoke, "smoke", "厨房烟感", "厨房")

    def broken(_reading: Reading, _device: object) -> None:
        raise RuntimeError("a bug in the pages")

    hub.readings.listeners.append(broken)
    await hub.readings.handle_reading(
        Reading(smoke, "rflink", "smoke", {"smoke": True}, state=State.ALARM)
    )
    [alarm] = await collector.wait_event("smoke")
    assert alarm["priority"] == 0 and alarm["source"]["device"] == smoke


async def test_live_pages_are_capped_per_session_and_in_all_with_a_clear_refusal(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    import hub.web.server as server_module

    monkeypatch.setattr(server_module, "_LIVE_TICK_S", 0.1)  # a closed page is noticed soon
    _, server, client = web
    await installer(server, client)
    tabs = [await client.get("/live/devices") for _ in range(server_module.MAX_LIVE_PER_SESSION)]
    assert [r.status for r in tabs] == [200] * server_module.MAX_LIVE_PER_SESSION
    extra = await client.get("/live/devices")
    assert extra.status == 429 and "打开的页面太多了" in await extra.text()
    assert "live page refused: 4 open for this installer session" in caplog.text
    tabs.pop().close()  # a tab closed frees its place
    for _ in range(100):
        again = await client.get("/live/devices")
        if again.status == 200:
            break
        await asyncio.sleep(0.05)
    assert again.status == 200
    tabs.append(again)
    for _ in range(3):  # three family phones fill the hub's 16
        client.session.cookie_jar.clear()
        assert (await login(client, server.access.family_pin))[0] == 200
        tabs += [await client.get("/live/family") for _ in range(4)]
    assert [r.status for r in tabs] == [200] * server_module.MAX_LIVE
    client.session.cookie_jar.clear()
    assert (await login(client, server.access.family_pin))[0] == 200
    refused = await client.get("/live/family")  # a fresh session, but the hub is full
    assert refused.status == 429
    assert "0 open for this family session, 16 in all" in caplog.text
    for tab in tabs:
        tab.close()


async def test_pages_that_cannot_load_stop_listening_and_say_why(
    broker: Mosquitto,
    make_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    port = free_port()
    hub = await make_hub(broker.port, web={"enabled": True, "listen": "127.0.0.1", "port": port})
    assert hub.web is not None and hub.web.address == "127.0.0.1"
    monkeypatch.setitem(sys.modules, "aiohttp.web", None)  # as if aiohttp were broken
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # the first phone
    writer.write(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with contextlib.suppress(ConnectionResetError):  # refused, not left waiting unread
        assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert "the pages could not be loaded, so they are off" in caplog.text
    assert "aiohttp.web" in caplog.text  # and why
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await hub.alarms.test_alarm()  # the hub carries on


async def test_signal_of_neighbours_pushed_off_the_candidate_list_is_not_kept(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],
) -> None:
    from hub.web.join import MAX_CANDIDATES

    hub, server, client = web
    await hub.devices.pair(PENDANT, "wearable", "胸牌", "卧室")
    await hub.readings.handle_reading(Reading(PENDANT, "bthome", "presence", {}, rssi=-60))
    token = await installer(server, client)
    await client.post("/installer/permit-join", data={"csrf": token})
    neighbours = [f"rflink:kaku:{n:06x}:1" for n in range(MAX_CANDIDATES * 3)]
    for n, key in enumerate(neighbours):  # a street full of chatty 433 MHz gear
        await hub.readings.handle_reading(Reading(key, "rflink", "switch", {}, rssi=-90 + n % 10))
    assert len(server.join.candidates) == MAX_CANDIDATES
    assert set(server.rssi) <= {*server.join.candidates, PENDANT}
    assert server.rssi[PENDANT] == -60  # the paired device's signal stays for the survey
    assert server.rssi[neighbours[-1]] == -90 + (len(neighbours) - 1) % 10


async def test_a_walk_test_cut_short_by_a_restart_still_reports_what_was_ticked(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    from aiohttp import ClientSession, CookieJar

    port = free_port()
    pages = {"enabled": True, "listen": "127.0.0.1", "port": port}
    hub = await make_hub(broker.port, web=pages)
    assert hub.web is not None
    await hub.devices.pair(DOOR, "door", "大门", "门口")
    await hub.devices.pair(PENDANT, "wearable", "胸牌", "卧室")
    url = f"http://127.0.0.1:{port}"
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as phone:  # cookies for an IP
        token = csrf_of(await (await phone.get(f"{url}/login")).text())
        pin, _ = hub.web.access.installer_pin(hub.web.monotonic())
        html = await (await phone.post(f"{url}/login", data={"csrf": token, "pin": pin})).text()
        await phone.post(f"{url}/installer/walk/start", data={"csrf": csrf_of(html)})
    walk = hub.web.walk
    assert walk is not None
    await hub.readings.handle_reading(door_reading())  # the installer opens the door...
    await hub.stop()  # ...and the hub is restarted (an update, a power cut) mid-walk

    await make_hub(broker.port, web=pages)  # the report waited on disk for the uplink
    [report] = await collector.wait_event("walk_test")
    data = report["data"]
    assert data["id"] == walk.id and data["ended"] == "hub_stopped"
    ticked = {d["device"]: d["ok"] for d in data["devices"]}
    assert ticked[DOOR] is True and ticked[PENDANT] is False
    assert (data["passed"], data["complete"]) == (1, False)

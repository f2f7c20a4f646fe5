"""The alarm path keeps its resources whatever arrives on the LAN: a thousand idle
connections to the pages cannot take the descriptors the uplink, the modem and the
watchdog need, and nothing the escalation needs is loaded from disk during it."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hub.sim.broker import Mosquitto, free_port
from hub.web.limits import MAX_CONNECTIONS
from tests.helpers import Collector, eventually
from tests.test_power_cut import control

ROOT = Path(__file__).resolve().parent.parent
HUB = "T-FD"


def unit_nofile() -> int:
    """LimitNOFILE= of the systemd unit: the budget the hub runs with in a home."""
    text = (ROOT / "systemd" / "pingan-hub.service").read_text()
    match = re.search(r"^LimitNOFILE=(\d+)$", text, re.MULTILINE)
    assert match, "the unit must set LimitNOFILE deliberately"
    return int(match.group(1))


def hub_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Watchdog:
    """systemd's side of sd_notify: counts READY=1 and WATCHDOG=1 datagrams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue

    def pings_since(self, since: float) -> int:
        return sum(1 for t, m in self.received if m == "WATCHDOG=1" and t > since)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def write_config(path: Path, data: Path, broker_port: int, web_port: int) -> Path:
    path.write_text(f"""
[hub]
id = "{HUB}"
data_dir = "{data}"
log_level = "INFO"
[mqtt]
host = "127.0.0.1"
port = {broker_port}
reconnect_min_s = 0.05
reconnect_max_s = 0.5
keepalive_s = 5
[gpio]
pin_factory = "mock"
bounce_s = 0.0
[voice]
prompts = false
[web]
enabled = true
listen = "127.0.0.1"
port = {web_port}
[sos]
ack_timeout_s = 2.0
resend_s = 1.0
[escalation]
modem_port = "sim"
uplink_grace_s = 1.0
calls = false
contacts = [{{ name = "王小红", number = "+8613800138000", relation = "女儿" }}]
""")
    return path


def start_hub(config: Path, log: Path, env: dict[str, str], nofile: int) -> subprocess.Popen[bytes]:
    """`pingan-hub run` with `nofile` descriptors (soft and hard), as systemd sets them."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                "prlimit",
                f"--nofile={nofile}:{nofile}",
                "--",
                sys.executable,
                "-m",
                "hub",
                "run",
                "--config",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def settled(count: Any, quiet_s: float = 3.0, timeout: float = 30.0) -> int:
    """count() once it has not grown for quiet_s (connects the kernel dropped are retried
    at 1, 3 and 7 s: a hub without limits keeps accepting until it has no descriptor)."""
    deadline = time.monotonic() + timeout
    value, since = count(), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = count()
        if now > value:
            value, since = now, time.monotonic()
    return int(value)


# The flood comes from this many LAN addresses (127.0.0.2 and up: all of 127/8 is
# loopback), twice as many connections from each as one address may hold.
FLOOD_ADDRESSES = 64


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections to the pages, spread over FLOOD_ADDRESSES source addresses,
    that never send a byte (connects not awaited: past the hub's limits they wait in its
    listen queue, or are never answered)."""
    conns = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.0.{2 + i % FLOOD_ADDRESSES}", 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        conns.append(s)
    return conns


async def test_a_thousand_idle_page_connections_leave_the_alarm_path_its_descriptors(
    tmp_path: Path, broker: Mosquitto, collector: Collector
) -> None:
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is needed to run the hub with the unit's budget")
    budget = unit_nofile()
    flood = 2 * budget  # twice as many connections as the hub has descriptors
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < flood + 200:
        pytest.skip(f"this test needs {flood + 200} descriptors of its own (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, flood + 200), hard))
    data = tmp_path / "data"
    web_port = free_port()
    config = write_config(tmp_path / "hub.toml", data, broker.port, web_port)
    watchdog = Watchdog(tmp_path / "notify.sock")
    log = tmp_path / "hub.log"
    env = {**os.environ, "NOTIFY_SOCKET": str(watchdog.path), "WATCHDOG_USEC": "2000000"}
    hub = start_hub(config, log, env, budget)
    conns: list[socket.socket] = []
    try:
        await eventually(lambda: any(m == "READY=1" for _, m in watchdog.received), timeout=30)
        sock = data / "control.sock"
        await eventually(lambda: any(e.get("hub") == HUB for e in collector.events()) or True)
        reader, writer = await asyncio.open_connection("127.0.0.1", web_port)
        writer.write(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # loads the pages
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()
        baseline = hub_fds(hub.pid)

        conns = open_idle(web_port, flood)
        held = await settled(lambda: hub_fds(hub.pid))  # the hub takes what it will take
        # The pages took all they may and no more: the rest of the budget is the alarm path's.
        assert baseline + MAX_CONNECTIONS - 4 <= held <= baseline + MAX_CONNECTIONS + 4, (
            baseline,
            held,
        )
        log_before = log.stat().st_size

        broker.stop()  # a blip: the uplink must reconnect through all this
        await control(sock, "press", button="sos", hold_s=0.1)
        pressed = time.monotonic()

        async def events(kind: str) -> list[dict[str, Any]]:
            reply = await control(sock, "events", last=50)
            return [e for e in reply["events"] if e["kind"] == kind]  # type: ignore[union-attr]

        # Escalated (the centre is unreachable) and the family texted through the modem.
        deadline = time.monotonic() + 30
        while not [e for e in await events("escalation_sms") if e["data"].get("ok")]:
            assert time.monotonic() < deadline, await control(sock, "events", last=20)
            await asyncio.sleep(0.2)
        [sms] = await events("escalation_sms")
        assert sms["data"]["ok"] is True and sms["data"]["number"] == "+*********8000"
        assert hub_fds(hub.pid) <= baseline + MAX_CONNECTIONS + 4

        broker.start()  # back: the uplink reconnects and the alarm is delivered
        [sos] = await collector.wait_event("sos", timeout=30)
        await collector.wait_event("escalate", timeout=30)
        await collector.wait_event("escalation_sms", timeout=30)
        status = await control(sock, "status")
        assert status["uplink"]["connected"] is True  # type: ignore[index]
        assert sos["hub"] == HUB and sos["data"] == {}

        # The watchdog was pinged all along (every WatchdogSec/2 = 1 s).
        assert watchdog.pings_since(pressed) >= (time.monotonic() - pressed) / 1.0 - 2
        # And the log stayed small: no line per refused or dropped connection.
        grew = log.stat().st_size - log_before
        assert grew < 64 * 1024, log.read_text()[-3000:]
        # The idle connections were dropped, not kept: none is older than a head timeout.
        assert hub_fds(hub.pid) <= baseline + MAX_CONNECTIONS + 4
    finally:
        for c in conns:
            c.close()
        hub.terminate()
        hub.wait(30)
        watchdog.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_nothing_the_escalation_needs_is_loaded_from_disk_during_it(tmp_path: Path) -> None:
    script = f"""
import asyncio, sys
from gpiozero.pins.mock import MockFactory
from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import free_port

watching, seen = False, []
def hook(event, args):
    if watching and event in ("open", "import"):
        seen.append(f"{{event}} {{args[0]}}")
sys.addaudithook(hook)

async def main():
    global watching
    raw = {{
        "hub": {{"id": "T-1", "data_dir": {str(tmp_path / "data")!r}}},
        "mqtt": {{"host": "127.0.0.1", "port": free_port()}},
        "gpio": {{"pin_factory": "mock", "bounce_s": 0.0}},
        "voice": {{"prompts": False}},
        "escalation": {{"modem_port": "sim", "uplink_grace_s": 0.5, "ring_timeout_s": 5,
                        "contacts": [{{"name": "王小红", "number": "+8613800138000",
                                       "relation": "女儿"}}]}},
    }}
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    await asyncio.sleep(0.5)
    modules = set(sys.modules)
    watching = True
    pin = hub.pin_factory.pin(hub.cfg.gpio.sos_pin)
    pin.drive_low(); await asyncio.sleep(0.1); pin.drive_high()
    for _ in range(300):
        sim = hub.family.sim_modem
        if sim.sms and any(c.startswith("ATD") for c in sim.commands):
            break
        await asyncio.sleep(0.05)
    watching = False
    print(len(hub.family.sim_modem.sms), [c for c in hub.family.sim_modem.commands if c.startswith("ATD")])
    print(sorted(set(sys.modules) - modules))
    print(seen)
    await hub.stop()

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    sent, modules, files = out[-3:]
    assert sent == "1 ['ATD+8613800138000;']"  # texted, then called
    assert modules == "[]"  # no module imported (from disk) on the way
    assert files == "[]"  # and no file opened

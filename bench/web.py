"""How long the installer and family pages take to answer, and what a survey costs.

A real hub (mock pins, a private mosquitto, the simulated modem) with 20 paired devices
serves its pages on 127.0.0.1; one client logs in with the installer PIN and fetches each
page many times in a row. Figures are wall time per request as the phone would see it
(minus Wi-Fi) and the hub's CPU time per request.

    .venv/bin/python -m bench.web [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time

from aiohttp import ClientSession, CookieJar
from gpiozero.pins.mock import MockFactory

from bench.common import machine, summary_ms
from hub.app import Hub
from hub.config import parse_config
from hub.reading import Reading, State
from hub.sim.broker import Mosquitto, free_port


async def run(requests: int) -> None:
    """Start the hub, log in, time the pages."""
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        port = free_port()
        raw = {
            "hub": {"id": "BENCH-WEB", "data_dir": tmp, "log_level": "WARNING"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "gpio": {"pin_factory": "mock"},
            "voice": {"prompts": False},
            "escalation": {"modem_port": "sim"},
            "web": {"enabled": True, "listen": "127.0.0.1", "port": port},
        }
        hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
        await hub.start()
        try:
            for i in range(20):
                key = f"rflink:Eurodomest:{i:06d}:01"
                await hub.devices.pair(key, "door", f"门{i}", "客厅")
                await hub.readings.handle_reading(
                    Reading(key.lower(), "rflink", "switch", {"command": "on"}, state=State.ALARM)
                )
            assert hub.web is not None
            pin = (await hub.web.pin_op(family=False, new=False))["pin"]
            base = f"http://127.0.0.1:{port}"
            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:  # an IP host
                page = await (await session.get(f"{base}/login")).text()
                token = re.search(r'name="csrf" value="([^"]+)"', page)
                assert token is not None
                await session.post(f"{base}/login", data={"csrf": token.group(1), "pin": pin})
                await hub.uplink.connected.wait()
                for path, n in (
                    ("/installer/devices", requests),
                    ("/installer/walk", requests),
                    ("/family", requests),
                    ("/installer/survey", max(10, requests // 10)),
                ):
                    samples: list[float] = []
                    cpu0 = time.process_time()
                    for _ in range(n):
                        start = time.perf_counter()
                        async with session.get(base + path) as resp:
                            body = await resp.read()
                            assert resp.status == 200 and resp.url.path == path, resp.url
                        samples.append(time.perf_counter() - start)
                    cpu = (time.process_time() - cpu0) / n
                    print(
                        f"{path:20s} {len(body) / 1024:5.1f} KiB  {summary_ms(samples)}  "
                        f"CPU {cpu * 1e3:.2f} ms/request (hub and client, one process)"
                    )
        finally:
            await hub.stop()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with open("/proc/loadavg", encoding="ascii") as f:
        print(f"load average: {' '.join(f.read().split()[:3])}")
    asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()

"""The alarm path while the pages are flooded with idle connections (issue 20).

A hub runs as its own process with the unit's file-descriptor budget (LimitNOFILE of
systemd/pingan-hub.service), its pages on 127.0.0.1, the simulated modem and a private
mosquitto. The bench opens `--flood` connections to the pages from 64 loopback addresses
that never send a byte, and measures, without and then with the flood:

- the hub's open file descriptors (/proc/PID/fd);
- SOS press (the control socket's `press`) -> the event at the centre, `--presses`
  times, each alarm resolved by the centre before the next press;
- an installer fetching /login (the flood holds every page slot: the phone waits in the
  listen queue until a slot frees, at most one head timeout);
- how much the hub's log grew.

    .venv/bin/python -m bench.web_flood [--flood 2048] [--presses 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from bench.common import machine, summary_ms
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto, free_port

ROOT = Path(__file__).resolve().parent.parent
HUB = "BENCH-FLOOD"
ADDRESSES = 64


def unit_nofile() -> int:
    """LimitNOFILE= of the systemd unit."""
    text = (ROOT / "systemd" / "pingan-hub.service").read_text()
    match = re.search(r"^LimitNOFILE=(\d+)$", text, re.MULTILINE)
    assert match
    return int(match.group(1))


def start_hub(workdir: Path, broker: int, web: int, nofile: int) -> subprocess.Popen[bytes]:
    """`pingan-hub run` with the unit's descriptor budget."""
    config = workdir / "hub.toml"
    config.write_text(f"""
[hub]
id = "{HUB}"
data_dir = "{workdir / "data"}"
log_level = "INFO"
[mqtt]
host = "127.0.0.1"
port = {broker}
[gpio]
pin_factory = "mock"
bounce_s = 0.0
[voice]
prompts = false
[web]
enabled = true
listen = "127.0.0.1"
port = {web}
[escalation]
modem_port = "sim"
""")
    with (workdir / "hub.log").open("ab") as log:
        return subprocess.Popen(
            [
                *("prlimit", f"--nofile={nofile}:{nofile}", "--"),
                *(sys.executable, "-m", "hub", "run", "--config", str(config)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def flood(port: int, count: int) -> list[socket.socket]:
    """Connections that never send a byte, from ADDRESSES loopback addresses."""
    conns = []
    for i in range(count):
        s = socket.socket()
        s.bind((f"127.0.0.{2 + i % ADDRESSES}", 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        conns.append(s)
    return conns


async def control(sock: Path, op: str, **args: object) -> dict[str, object]:
    for _ in range(400):
        try:
            return await asyncio.to_thread(call, sock, op, **args)
        except ControlError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"the hub never answered {op}")


async def presses(sock: Path, broker: int, n: int) -> list[float]:
    """n x press -> the SOS at the centre; the centre resolves each one."""
    samples = []
    async with aiomqtt.Client("127.0.0.1", broker, identifier="bench-centre") as centre:
        await centre.subscribe(f"pingan/v1/{HUB}/event/sos", qos=1)
        messages = centre.messages
        for _ in range(n):
            start = time.perf_counter()
            await control(sock, "press", button="sos", hold_s=0.02)
            while True:
                message = await asyncio.wait_for(anext(messages), 30)
                assert isinstance(message.payload, bytes)
                sos = json.loads(message.payload)
                if not sos["data"].get("resent"):
                    break
            samples.append(time.perf_counter() - start)
            ack = json.dumps({"id": sos["id"], "state": "resolved"})
            await centre.publish(f"pingan/v1/{HUB}/ack", ack, qos=1)
            while (await control(sock, "status"))["alarms"]:
                state = (await control(sock, "status"))["alarms"]
                if all(a["state"] == "closed" for a in state):  # type: ignore[union-attr]
                    break
                await asyncio.sleep(0.02)
    return samples


async def login_page(port: int) -> float:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    line = await asyncio.wait_for(reader.readline(), 60)
    writer.close()
    assert line.startswith(b"HTTP/1.1 200"), line
    return time.perf_counter() - start


async def run(count: int, n: int) -> None:
    nofile = unit_nofile()
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        work = Path(tmp)
        web = free_port()
        hub = start_hub(work, broker.port, web, nofile)
        sock = work / "data" / "control.sock"
        log = work / "hub.log"
        try:
            await control(sock, "status")
            for _ in range(100):  # the pages listen a moment after the control socket
                try:
                    await login_page(web)  # and this first visit loads them
                    break
                except ConnectionRefusedError:
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1)
            fds = len(os.listdir(f"/proc/{hub.pid}/fd"))
            quiet = await presses(sock, broker.port, n)
            page = await login_page(web)
            print(
                f"budget: LimitNOFILE={nofile}; flood: {count} idle connections from "
                f"{ADDRESSES} addresses"
            )
            print(f"quiet    hub descriptors {fds:5d}  /login {page * 1e3:8.1f} ms")
            print(f"quiet    press -> centre  {summary_ms(quiet)}")
            log_before = log.stat().st_size
            conns = flood(web, count)
            peak = 0
            for _ in range(40):  # 10 s: long enough for the kernel's SYN retries
                peak = max(peak, len(os.listdir(f"/proc/{hub.pid}/fd")))
                await asyncio.sleep(0.25)
            flooded = await presses(sock, broker.port, n)
            page = await login_page(web)
            peak = max(peak, len(os.listdir(f"/proc/{hub.pid}/fd")))
            grew = log.stat().st_size - log_before
            print(
                f"flooded  hub descriptors {peak:5d}  /login {page * 1e3:8.1f} ms  "
                f"log +{grew} bytes"
            )
            print(f"flooded  press -> centre  {summary_ms(flooded)}")
            for c in conns:
                c.close()
        finally:
            hub.terminate()
            hub.wait(30)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=2048, help="idle connections")
    parser.add_argument("--presses", type=int, default=20, help="SOS presses per phase")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with open("/proc/loadavg", encoding="ascii") as f:
        print(f"load average: {' '.join(f.read().split()[:3])}")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.flood + 256)), hard))
    asyncio.run(run(args.flood, args.presses))


if __name__ == "__main__":
    main()

"""Hub CPU and memory with two radars at their native frame rate (issue 17).

    .venv/bin/python -m bench.radar_cpu [--seconds 60]

Each configuration runs in a fresh child process: a real Hub (mock pins, a private
mosquitto, SQLite outbox). "radars": two modules on real ptys, both paired, written by a
thread that plays each module's side:
- an LD2410B in the bathroom at 10 engineering reports/s (45 bytes each, 256000 baud),
  someone washing: moving three frames in four, "still" in the fourth (the module's own
  flicker), so the tracker, the care checks and supervision see what a shower gives;
- an MR60FDA1 in the bedroom at its body-movement report once a second, a motion report
  every 10 s, and the heartbeat answers to the hub's queries.
"baseline" is the same hub with no radar configured. CPU is the child's process time
(all threads) over wall time after a warm-up; memory its VmRSS at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import machine, rss_kib
from hub.sensors import mr60fda1

LD2410_MOVING = bytes.fromhex(
    "F4F3F2F12300 01AA 0178005000000078000808"
    "14500A050201000000050302010100000000600155 00F8F7F6F5".replace(" ", "")
)
LD2410_STILL = bytes.fromhex(
    (
        "F4F3F2F1 2300 01 AA 02 0000 00 5A00 37 5A00 08 08"
        " 0A 05 03 02 01 01 00 00 00 14 37 0C 06 04 02 01 00 00 70 01 55 00 F8F7F6F5"
    ).replace(" ", "")
)


def ld2410_writer(master: int, stop: threading.Event) -> None:
    """10 engineering reports a second, moving three in four."""
    n, next_at = 0, time.monotonic()
    while not stop.is_set():
        os.write(master, LD2410_STILL if n % 4 == 3 else LD2410_MOVING)
        n += 1
        next_at += 0.1
        time.sleep(max(0.0, next_at - time.monotonic()))


def mr60_writer(master: int, stop: threading.Event) -> None:
    """Body movement once a second, motion every 10 s; heartbeat queries answered."""
    n, next_at = 0, time.monotonic()
    heartbeat = mr60fda1.frame(0x01, 0x01, b"\x0f")
    while not stop.is_set():
        os.write(master, mr60fda1.frame(0x80, 0x03, bytes((20 + n % 30,))))
        if n % 10 == 0:
            os.write(master, mr60fda1.frame(0x80, 0x02, bytes((2 if n % 20 else 1,))))
        try:
            asked = os.read(master, 4096)  # the pty is non-blocking below
        except BlockingIOError:
            asked = b""
        if mr60fda1.heartbeat_query() in asked:
            os.write(master, heartbeat)
        n += 1
        next_at += 1.0
        time.sleep(max(0.0, next_at - time.monotonic()))


async def child(seconds: float, warmup: float, mode: str) -> dict[str, Any]:
    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.config import parse_config
    from hub.sim.broker import Mosquitto

    ptys = [os.openpty() for _ in range(2)]
    ports = [os.ttyname(slave) for _, slave in ptys]
    os.set_blocking(ptys[1][0], False)
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(workdir=Path(tmp)) as broker:
        raw: dict[str, Any] = {
            "hub": {"id": "BENCH-1", "data_dir": f"{tmp}/data", "log_level": "WARNING"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "gpio": {"pin_factory": "mock"},
            "voice": {"prompts": False},
        }
        if mode == "radars":
            raw["radar"] = {
                "devices": [
                    {"port": ports[0], "model": "ld2410"},
                    {"port": ports[1], "model": "mr60fda1"},
                ]
            }
        hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
        await hub.start()
        stop = threading.Event()
        if mode == "radars":
            for port, room in zip(ports, ("卫生间", "卧室"), strict=True):
                key = f"radar:{port}"
                await asyncio.to_thread(
                    hub.registry.pair, key, protocol="radar", address=key, kind="radar", room=room
                )
            hub.care.devices_changed()
            for target, (master, _) in zip((ld2410_writer, mr60_writer), ptys, strict=True):
                threading.Thread(target=target, args=(master, stop), daemon=True).start()
        await asyncio.sleep(warmup)
        frames0 = sum(s.tracker.live.frames for s in hub.radars.values())
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        frames1 = sum(s.tracker.live.frames for s in hub.radars.values())
        result = {
            "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
            "frames_per_s": (frames1 - frames0) / (wall1 - wall0),
            "bad_frames": sum(s.tracker.live.bad_frames for s in hub.radars.values()),
            "rss_mib": rss_kib() / 1024,
            "events": len(await hub.outbox.recent(10_000)),
        }
        stop.set()
        await hub.stop()
    for master, slave in ptys:
        os.close(master)
        os.close(slave)
    return result


def main() -> None:
    """Run both configurations in fresh processes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured wall time")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--child", choices=("baseline", "radars"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.seconds, args.warmup, args.child))))
        return
    print(f"machine: {machine()}")
    rows = {}
    for mode in ("baseline", "radars"):
        out = subprocess.run(
            [
                *(sys.executable, "-m", "bench.radar_cpu", "--child", mode),
                *("--seconds", str(args.seconds), "--warmup", str(args.warmup)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    base, radars = rows["baseline"], rows["radars"]
    print(f"no radar:   CPU {base['cpu_pct']:.2f} % of one core, VmRSS {base['rss_mib']:.1f} MiB")
    print(
        f"two radars: {radars['frames_per_s']:.1f} frames/s decoded "
        f"({radars['bad_frames']} bad), CPU {radars['cpu_pct']:.2f} % of one core, "
        f"VmRSS {radars['rss_mib']:.1f} MiB, events stored {radars['events']}"
    )
    print(
        f"the radars add {radars['cpu_pct'] - base['cpu_pct']:.2f} % CPU and "
        f"{radars['rss_mib'] - base['rss_mib']:.1f} MiB resident"
    )
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()

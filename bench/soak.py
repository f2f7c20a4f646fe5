"""Soak: a week of hub life in minutes, with resident memory sampled and every timer watched.

The hub runs as its own process (the one whose memory is measured) on mock pins with a
`ScaledClock`: simulated time runs `--speed` times faster than real time, and the hub's
loop periods (alarm timers 1 s, care checks 15 s, supervision 5 s, health archive 30 s,
heartbeat 60 s) are divided by the same factor (never below 5 ms real), so the hub does
a simulated day's work per simulated day. This process plays everything around it:

- a real mosquitto, and the simulated alarm centre (hub/sim/centre.py) acknowledging,
  dispatching and resolving every alarm;
- an RFLink gateway on a real pty: a PIR every 3 min by day and every 30 min by night,
  the front door 8 times a day, a temperature sensor every 10 min, the pendant pressed
  once a day (SOS), a garbage line every hour;
- the buttons through the control socket: the green check-in every morning, the red
  SOS once a day;
- a BLE watch (simulated inside the hub's process, since the BLE scanner is not wired
  into the hub yet) reporting heart rate every minute -> the health archive.

Memory (VmRSS of the hub process) is sampled every simulated hour; growth per day is the
least-squares slope after the first (warm-up) day. At the end the hub reports when each
periodic part last ran: a part that stopped ticking is "stuck".

What the acceleration does not cover: anything the hub times in real seconds is not
sped up (reconnect backoff, PUBACK timeout, the 0.1 s batching of PUBACK marks and
alarm records, gpiozero's bounce/hold timing, modem timeouts); those run at real speed,
so relative to simulated time they are slower (e.g. batching windows of 200 s simulated
at 2000x: fewer, larger writes than on a real hub). Nothing here is a real week of
SQLite file growth under wear, or of an SD card.

    .venv/bin/python -m bench.soak [--days 7] [--speed 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import machine, rss_kib
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto
from hub.sim.centre import SimulatedCentre

DAY_S = 86400.0
# 00:00 UTC is 08:00 in Guangzhou: the simulated week starts in the morning.
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
# The hub's periodic loops, where each period is set, and their production periods
# (seconds of hub time).
PERIODS = {
    ("hub.app", "_TICK_S"): 1.0,
    ("hub.services.care", "_CARE_TICK_S"): 15.0,
    ("hub.services.readings", "_SUPERVISION_TICK_S"): 5.0,
    ("hub.services.archive", "_ARCHIVE_CHECK_S"): 30.0,
}
MIN_REAL_PERIOD_S = 0.005
HEARTBEAT_S = 60.0
# RFLink lines (the recorded vectors of tests/test_rflink.py) and the paired devices.
PIR = b"20;31;Eurodomest;ID=000111;PIR=ON;\r\n"
DOOR = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
THERMO = b"20;05;Alecto V1;ID=0334;TEMP=00cf;HUM=14;BAT=OK;\r\n"
PENDANT = b"20;3A;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=OK;\r\n"
GARBAGE = b"20;99;Euro\xffdomest;;;garbage\r\n"
DEVICES = (
    ("rflink:Eurodomest:000111", "motion", "客厅"),
    ("rflink:Eurodomest:123456:01", "door", "大门"),
    ("rflink:Alecto V1:0334", "sensor", "卧室"),
    ("rflink:Chuango:0a1b2c:02", "button", "胸牌"),
    ("ble:watch:1", "wearable", ""),
)
# When a periodic part counts as stuck: no tick for this many simulated seconds.
STUCK_AFTER_S = 600.0


# -- the hub's process ------------------------------------------------------------------


class Ticks:
    """When (hub time) and how often each periodic part ran."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.count: Counter[str] = Counter()
        self.last: dict[str, float] = {}
        self.by_day: dict[str, Counter[int]] = {}

    def hit(self, name: str) -> None:
        now = self.clock.elapsed()
        self.count[name] += 1
        self.last[name] = now
        self.by_day.setdefault(name, Counter())[int(now // DAY_S)] += 1

    def wrap(self, name: str, fn: Any) -> Any:
        def ticked(*args: Any, **kwargs: Any) -> Any:
            self.hit(name)
            return fn(*args, **kwargs)

        return ticked


async def hub_process(spec: dict[str, Any]) -> None:
    """Run the hub on a ScaledClock until SIGTERM; write what ran to spec['stats']."""
    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.clock import ScaledClock
    from hub.config import parse_config
    from hub.reading import Reading

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    speed = float(spec["speed"])
    for (module, name), period in PERIODS.items():
        setattr(importlib.import_module(module), name, max(period / speed, MIN_REAL_PERIOD_S))
    clock = ScaledClock(speed, wall=START)
    raw: dict[str, Any] = {
        "hub": {"id": "SOAK-1", "data_dir": spec["data_dir"], "log_level": "WARNING"},
        "mqtt": {"host": "127.0.0.1", "port": spec["port"], "reconnect_max_s": 1.0},
        "gpio": {"pin_factory": "mock", "bounce_s": 0.0},
        "sos": {"cancel_hold_s": 0.5},
        "voice": {"prompts": False},
        "rflink": {"port": spec["rflink"]},
    }
    cfg = parse_config(raw)
    # The heartbeat period is validated >= 1 s for real hubs; here it is 60 s of hub time.
    cfg = replace(cfg, mqtt=replace(cfg.mqtt, heartbeat_s=HEARTBEAT_S / speed))
    h = Hub(cfg, clock=clock, pin_factory=MockFactory(), local_raw=raw)
    await h.start()
    ticks = Ticks(clock)
    h.alarms.book.tick = ticks.wrap("alarm timers", h.alarms.book.tick)  # type: ignore[method-assign]
    h.care.engine.tick = ticks.wrap("care checks", h.care.engine.tick)  # type: ignore[method-assign]
    h.supervisor.tick = ticks.wrap("supervision", h.supervisor.tick)  # type: ignore[method-assign]
    h.vitals.complete = ticks.wrap("health archive", h.vitals.complete)  # type: ignore[method-assign]
    publish_status = h.uplink._publish_status

    async def heartbeat(client: Any) -> None:
        ticks.hit("heartbeat")
        await publish_status(client)

    h.uplink._publish_status = heartbeat  # type: ignore[method-assign]
    for key, kind, room in DEVICES:
        await asyncio.to_thread(
            h.registry.pair, key, protocol=key.split(":")[0], address=key, kind=kind, room=room
        )

    async def watch() -> None:
        """A BLE watch: heart rate every simulated minute."""
        n = 0
        while True:
            await asyncio.sleep(60.0 / speed)
            n += 1
            beat = Reading("ble:watch:1", "ble", "heart_rate", {"bpm": 60 + n % 25})
            await h.readings.handle_reading(beat)
            ticks.hit("watch readings")

    def write_stats() -> None:
        stats = {
            "sim_s": clock.elapsed(),
            "count": dict(ticks.count),
            "last": ticks.last,
            "by_day": {k: dict(v) for k, v in ticks.by_day.items()},
            "open_alarms": sum(1 for a in h.alarms.book.alarms.values() if a.is_open),
            "alarms_in_book": len(h.alarms.book.alarms),
            "published": h.uplink.state.published,
            "pending_bytes": h.outbox.sync.pending_bytes,
        }
        tmp = Path(spec["stats"] + ".tmp")
        tmp.write_text(json.dumps(stats))
        tmp.replace(spec["stats"])

    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    watcher = asyncio.create_task(watch())
    try:
        while True:
            await asyncio.sleep(0.5)
            write_stats()
    finally:
        watcher.cancel()
        write_stats()
        await h.stop()


# -- everything around it ---------------------------------------------------------------


def slope_per_day(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (day, KiB) samples, in KiB per day."""
    n = len(samples)
    mx = sum(d for d, _ in samples) / n
    my = sum(k for _, k in samples) / n
    sxx = sum((d - mx) ** 2 for d, _ in samples)
    sxy = sum((d - mx) * (k - my) for d, k in samples)
    return sxy / sxx if sxx else 0.0


async def soak(days: float, speed: float) -> int:
    """Run the soak and print its figures; exit status 1 if a target is missed."""
    print(f"machine: {machine()}")
    print(f"simulated {days:g} days at {speed:g}x: about {days * DAY_S / speed:.0f} s of real time")
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        master, slave = os.openpty()
        centre = SimulatedCentre(
            "127.0.0.1", broker.port, ack_delay=5.0 / speed, say=lambda _s: None, resolve=True
        )
        centre_task = asyncio.create_task(centre.run())
        spec = {
            "speed": speed,
            "data_dir": f"{tmp}/data",
            "port": broker.port,
            "rflink": os.ttyname(slave),
            "stats": f"{tmp}/stats.json",
        }
        log = os.open(f"{tmp}/hub.log", os.O_WRONLY | os.O_CREAT, 0o600)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.soak", "--hub-process", json.dumps(spec), stderr=log
        )
        sock = Path(spec["data_dir"]) / "control.sock"
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(sock, "status")["uplink"]["connected"]:
                    break
            except ControlError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not come up; see its log")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # the serial port is open and flushed
        samples: list[tuple[float, int]] = []
        sent: Counter[str] = Counter()
        real0 = time.monotonic()
        minute_done = -1
        end_minute = int(days * 1440)
        presses: set[asyncio.Task[Any]] = set()

        def press(button: str) -> None:
            task = asyncio.create_task(
                asyncio.to_thread(call, sock, "press", button=button, hold_s=0.02)
            )
            presses.add(task)
            task.add_done_callback(presses.discard)
            sent[f"press {button}"] += 1

        while minute_done < end_minute:
            sim_minute = min(int((time.monotonic() - real0) * speed / 60), end_minute)
            for minute in range(minute_done + 1, sim_minute + 1):
                local_min = (8 * 60 + minute) % 1440  # minutes since local midnight
                awake = 7 * 60 <= local_min < 23 * 60
                lines = []
                if minute % (3 if awake else 30) == 0:
                    lines.append(PIR)
                if local_min % 180 == 0 and awake:
                    lines.append(DOOR)
                if minute % 10 == 0:
                    lines.append(THERMO)
                if local_min == 15 * 60:
                    lines.append(PENDANT)
                if minute % 60 == 30:
                    lines.append(GARBAGE)
                for line in lines:
                    os.write(master, line)
                    sent[line.split(b";")[2].decode(errors="replace")] += 1
                if local_min == 10 * 60:
                    press("ok")
                if local_min == 11 * 60:
                    press("sos")
                if minute % 60 == 0:
                    samples.append((minute / 1440, rss_kib(proc.pid)))
            minute_done = sim_minute
            await asyncio.sleep(0.01)
        await asyncio.gather(*presses, return_exceptions=True)
        await asyncio.sleep(2.0)  # the last alarms resolved, the last events delivered
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        os.close(log)
        centre_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await centre_task
        os.close(master)
        os.close(slave)
        stats, errors = read_results(tmp)
    return report(
        days, speed, samples=samples, stats=stats, centre=centre, sent=sent, errors=errors
    )


def read_results(tmp: str) -> tuple[dict[str, Any], list[str]]:
    """The hub's last stats and the error lines of its log."""
    stats = json.loads(Path(f"{tmp}/stats.json").read_text())
    errors = [
        line
        for line in Path(f"{tmp}/hub.log").read_text(errors="replace").splitlines()
        if " ERROR " in line or "Traceback" in line or "CRITICAL" in line
    ]
    return stats, errors


def report(
    days: float,
    speed: float,
    *,
    samples: list[tuple[float, int]],
    stats: dict[str, Any],
    centre: SimulatedCentre,
    sent: Counter[str],
    errors: list[str],
) -> int:
    """Print the figures; 1 if memory grows >= 1 MiB/day or a part got stuck."""
    ok = True
    print(f"load average at the end: {os.getloadavg()}")
    print(f"hub time reached: {stats['sim_s'] / DAY_S:.2f} days")
    print("inputs:", dict(sent))
    kinds = Counter(e["kind"] for e in centre.received)
    unique = Counter(e["kind"] for e in {e["id"]: e for e in centre.received}.values())
    print("events the centre received (distinct ids):", dict(sorted(unique.items())))
    print(f"deliveries including resends of unacknowledged alarms: {sum(kinds.values())}")
    print(
        f"alarms still open at the end: {stats['open_alarms']} "
        f"(in memory: {stats['alarms_in_book']}); unsent bytes: {stats['pending_bytes']}"
    )
    print("resident memory (VmRSS) at the end of each simulated day:")
    for day in range(int(days) + 1):
        at = [k for d, k in samples if d <= day]
        if at:
            print(f"  day {day}: {at[-1] / 1024:.1f} MiB")
    after_warmup = [(d, k) for d, k in samples if d >= 1.0]
    if len(after_warmup) >= 2:
        growth = slope_per_day(after_warmup)
        verdict = "MET" if growth < 1024 else "MISSED"
        ok &= growth < 1024
        print(
            f"growth after day 1: {growth:.0f} KiB per simulated day "
            f"(target < 1 MiB/day: {verdict}); first {samples[0][1] / 1024:.1f} MiB, "
            f"peak {max(k for _, k in samples) / 1024:.1f} MiB"
        )
    print("periodic parts (hub time): ticks in total, in the last day, seconds since the last:")
    last_day = str(int(days) - 1 if days >= 1 else 0)
    for name in (
        "alarm timers",
        "care checks",
        "supervision",
        "health archive",
        "heartbeat",
        "watch readings",
    ):
        count = stats["count"].get(name, 0)
        since = stats["sim_s"] - stats["last"].get(name, -1e9)
        in_last = stats["by_day"].get(name, {}).get(last_day, 0)
        stuck = since > STUCK_AFTER_S or in_last == 0
        ok &= not stuck
        print(f"  {name:15s} {count:8d} {in_last:8d} {since:9.0f} s  {'STUCK' if stuck else 'ok'}")
    print(f"errors in the hub's log: {len(errors)}")
    for line in errors[:10]:
        print("  ", line[:200])
    return 0 if ok else 1


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=7.0, help="simulated days")
    parser.add_argument("--speed", type=float, default=2000.0, help="hub time / real time")
    parser.add_argument("--hub-process", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hub_process:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(hub_process(json.loads(args.hub_process)))
        return
    raise SystemExit(asyncio.run(soak(args.days, args.speed)))


if __name__ == "__main__":
    main()

"""What the family page's pictures cost with 90 days of data (issue 22).

A real hub (mock pins, a private mosquitto) whose health archive holds 90 generated days
(heart rate and SpO2 every 5-minute bucket, blood pressure twice a day: ~52,000 rows, as a
worn band, an oximeter and a cuff would leave them) and whose learned routine holds its 15
days of slots and the history of the older days, a week of marks (check-ins, night visits)
and the wearable's presence history (an outing a day, 20 room changes a day). A family
session fetches /family:

- cold: the first view (imports the pictures module, runs the archive's hourly query);
- uncached: the archive's cached view dropped before each request (as after each write of
  new buckets, at most once per bucket_s), so every request runs the query;
- cached: phones reloading between two writes;

and, on their own, the hourly query on the outbox's thread and the drawing (pure). Memory:
the tracemalloc peak of one uncached view (hub and client, one process). With --process
the hub runs as `pingan-hub run` in its own process over a data directory prepared with
the same days, and its resident memory (VmRSS) is read after the login page (aiohttp
loaded), after the first family view and after many.

    .venv/bin/python -m bench.family_page [--requests 50] [--days 90] [--process]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar
from gpiozero.pins.mock import MockFactory

from bench.common import machine, rss_kib, status_mib, summary_ms
from bench.family_data import FamilyData, generate
from hub.app import Hub
from hub.care.config import CareConfig
from hub.care.engine import CareEngine
from hub.care.marks import MARK_DAYS, DayMarks
from hub.care.routine import ROUTINE_DAYS, day_summary
from hub.clock import SystemClock
from hub.config import parse_config
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto, free_port
from hub.store import health, presence
from hub.store.outbox import Outbox


def kept_routine(
    data: FamilyData, today: date
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The routine's profile and history as the hub keeps them (15 + 30 days)."""
    cutoff = (today - timedelta(days=ROUTINE_DAYS + 1)).isoformat()
    history_from = (today - timedelta(days=30)).isoformat()
    days = {k: v for k, v in data.profile.items() if k >= cutoff}
    history = {k: day_summary(v) for k, v in data.profile.items() if history_from <= k < cutoff}
    return days, history


def week_marks(engine: CareEngine, now: datetime) -> list[tuple[int, str, bool, str, int | None]]:
    """A week of marks on the engine (a check-in each morning, a night visit most nights)
    and the wearable's presence history (out 09:00-11:00 every day, 20 room changes a
    day), as the hub keeps them; returns the presence rows to store."""
    tz = engine.tz
    today = now.astimezone(tz).date()
    engine.marks = DayMarks(since=now - timedelta(days=MARK_DAYS))
    rows: list[tuple[int, str, bool, str, int | None]] = []
    for n in range(8, -1, -1):
        day = today - timedelta(days=n)

        def at(hh: int, mm: int = 0, day: date = day) -> datetime:
            return datetime.combine(day, dtime(hh, mm), tz)

        if at(8, 30) < now:
            engine.marks.add("checkin", at(8, 30))
        if n % 3:
            engine.marks.add("night_visit", at(2, 40))
        rows += [(int(at(9).timestamp()), "ble:band", False, "", None)]
        rows += [(int(at(11).timestamp()), "ble:band", True, "客厅", -60)]
        rows += [
            (int(at(12 + k // 2, 30 * (k % 2)).timestamp()), "ble:band", True, room, -60)
            for k, room in enumerate(["卧室", "客厅"] * 10)
        ]
    return [r for r in rows if r[0] <= now.timestamp()]


async def login(session: ClientSession, base: str, pin: str) -> None:
    """The family's PIN through the login form."""
    page = await (await session.get(f"{base}/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    # Not followed: the login's redirect would be the first family view.
    await session.post(
        f"{base}/login", data={"csrf": token.group(1), "pin": pin}, allow_redirects=False
    )


async def view(session: ClientSession, base: str) -> int:
    """One family page; its size."""
    async with session.get(f"{base}/family") as resp:
        body = await resp.read()
        assert resp.status == 200 and resp.url.path == "/family", resp.url
        assert body.count(b"<svg") == 5, "five pictures"
    return len(body)


async def measure_rss(pid: int, base: str, pin: str, requests: int) -> tuple[float, ...]:
    """VmRSS (MiB) of the hub after the login page, the first family view, many views."""
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        await login(session, base, pin)
        await asyncio.sleep(1)
        before = rss_kib(pid) / 1024
        await view(session, base)
        await asyncio.sleep(1)
        first = rss_kib(pid) / 1024
        for _ in range(requests):
            await view(session, base)
        await asyncio.sleep(1)
        return before, first, rss_kib(pid) / 1024


def own_process(requests: int, days: int) -> None:
    """The hub as `pingan-hub run` over a prepared data directory: its VmRSS."""
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        clock = SystemClock()
        tz = CareConfig().tz
        now = clock.now()
        data = generate(days, now, tz)
        outbox = Outbox(data_dir / "hub.db", "BENCH-FAMILY", 64 * 2**20, 1000)
        health.store_buckets(outbox._db, data.buckets, keep_before=0)
        engine = CareEngine(CareConfig(), clock)
        engine.routine.days, engine.routine.history = kept_routine(data, now.astimezone(tz).date())
        presence.record(outbox._db, week_marks(engine, now), keep_after=0)
        outbox.close()
        (data_dir / "care-state.json").write_text(json.dumps(engine.to_dict()))
        del data, engine
        port = free_port()
        config = Path(tmp) / "hub.toml"
        config.write_text(f"""
[hub]
id = "BENCH-FAMILY"
data_dir = "{data_dir}"
log_level = "WARNING"
[mqtt]
host = "127.0.0.1"
port = {broker.port}
[gpio]
pin_factory = "mock"
[voice]
prompts = false
[web]
enabled = true
listen = "127.0.0.1"
port = {port}
""")
        proc = subprocess.Popen([sys.executable, "-m", "hub", "run", "--config", str(config)])
        sock = data_dir / "control.sock"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if call(sock, "status")["uplink"]["connected"]:
                        break
                except ControlError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("hub did not connect")
                time.sleep(0.1)
            pin: Any = call(sock, "pin", family=True)
            before, first, many = asyncio.run(
                measure_rss(proc.pid, f"http://127.0.0.1:{port}", str(pin["pin"]), requests)
            )
            print(
                f"pingan-hub run, {days} days of data: VmRSS after the login page {before:.1f} "
                f"MiB, after the first family view {first:.1f} MiB (+{first - before:.1f}), "
                f"after {requests + 1} views {many:.1f} MiB (+{many - before:.1f})"
            )
        finally:
            proc.terminate()
            proc.wait(10)


async def run(requests: int, days: int) -> None:
    """Start the hub with `days` of data, log in as the family, time the page."""
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        port = free_port()
        raw = {
            "hub": {"id": "BENCH-FAMILY", "data_dir": tmp, "log_level": "WARNING"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "gpio": {"pin_factory": "mock"},
            "voice": {"prompts": False},
            "web": {"enabled": True, "listen": "127.0.0.1", "port": port},
        }
        hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
        await hub.start()
        try:
            tz = hub.care.engine.tz
            now = hub.clock.now()
            data = generate(days, now, tz)
            routine = hub.care.engine.routine
            routine.days, routine.history = kept_routine(data, now.astimezone(tz).date())
            await hub.outbox.store_vitals(data.buckets, keep_before=0)
            await hub.outbox.store_presence(week_marks(hub.care.engine, now), keep_after=0)
            await hub.devices.pair("rflink:pir:bath", "motion", "卫生间人体", "卫生间")
            count = hub.outbox.sync._db.execute("SELECT COUNT(*) FROM vitals").fetchone()[0]
            print(
                f"health archive: {count} rows over {days} days; routine: "
                f"{len(routine.days)} days of slots + {len(routine.history)} days of history"
            )
            assert hub.web is not None
            pin = (await hub.web.pin_op(family=True, new=False))["pin"]
            base = f"http://127.0.0.1:{port}"
            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
                await login(session, base, pin)
                start = time.perf_counter()
                size = await view(session, base)
                cold = time.perf_counter() - start
                print(f"page: {size / 1024:.1f} KiB, 5 pictures")
                print(f"cold (first view)  {cold * 1e3:8.1f} ms")
                for label, drop in (("uncached", True), ("cached", False)):
                    samples: list[float] = []
                    cpu0 = time.process_time()
                    for _ in range(requests):
                        if drop:
                            hub.archive._hourly = None
                        t0 = time.perf_counter()
                        await view(session, base)
                        samples.append(time.perf_counter() - t0)
                    cpu = (time.process_time() - cpu0) / requests
                    print(
                        f"{label:9s} {summary_ms(samples)}  CPU {cpu * 1e3:.1f} ms/view "
                        "(hub and client, one process)"
                    )
                hub.archive._hourly = None
                tracemalloc.start()
                await view(session, base)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                print(f"tracemalloc peak of one uncached view: {peak / 2**20:.2f} MiB")
                print(f"VmRSS after {2 * requests + 2} views: {status_mib('VmRSS'):.1f} MiB")

            # The parts on their own.
            since = int(now.timestamp() // 3600 * 3600 - 7 * 86400)
            samples = []
            for _ in range(requests):
                t0 = time.perf_counter()
                rows = await hub.outbox.vitals_hourly(since)
                samples.append(time.perf_counter() - t0)
            print(f"hourly query, 7 days ({len(rows)} rows)  {summary_ms(samples)}")
            since30 = int(now.timestamp() // 3600 * 3600 - 30 * 86400)
            t0 = time.perf_counter()
            rows30 = await hub.outbox.vitals_hourly(since30)
            print(
                f"hourly query, 30 days ({len(rows30)} rows)  "
                f"{(time.perf_counter() - t0) * 1e3:.1f} ms (not on the page)"
            )
            assert hub.web is not None
            family = hub.web.survey  # the family page's family of routes
            await hub.archive.hourly(7)  # the page's query, cached from here on
            samples = []
            for _ in range(requests):
                t0 = time.perf_counter()
                await family.family_pictures("zh")
                await hub.weekly.page_text()
                samples.append(time.perf_counter() - t0)
            print(f"drawing 5 pictures + the week's words (no query)  {summary_ms(samples)}")
        finally:
            await hub.stop()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50, help="views per measure")
    parser.add_argument("--days", type=int, default=90, help="days of data")
    parser.add_argument(
        "--process", action="store_true", help="the hub in its own process: its VmRSS only"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with open("/proc/loadavg", encoding="ascii") as f:
        print(f"load average: {' '.join(f.read().split()[:3])}")
    if args.process:
        own_process(args.requests, args.days)
    else:
        asyncio.run(run(args.requests, args.days))


if __name__ == "__main__":
    main()

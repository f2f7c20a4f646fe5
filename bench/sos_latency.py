"""SOS latency: press -> PUBACK and press -> centre receipt, against the floor.

The floor is what the path cannot avoid: one SQLite commit with synchronous=FULL in
WAL mode plus one bare paho QoS 1 publish to the same broker (waiting for PUBACK). It
runs in a process of its own, one sample just before each press, so the floor and the
hub see the same disk and the same load (a slow minute of the shared disk shows in
both). Before each floor sample the hub is left to settle (--settle-ms, 200 ms: the
previous alarm's PUBACK marks and records are written within 0.1 s), so neither the
floor nor the next press queues behind the last alarm's writes; real presses are minutes
apart. --floor-first takes every floor sample first, then the presses (the settle still
before each); `--floor-first --settle-ms 0` is the older method (both back to back),
kept to compare with earlier figures. Target (issue 23): the hub's p99
within 3x the floor's p99, same run, quiet machine. The bench prints the load average,
the hub's threads, and a breakdown of the path: when each stage was reached after the
press (cumulative) and what each stage took.

    .venv/bin/python -m bench.sos_latency [--presses 1000] [--switch-interval-ms 5]
        [--settle-ms 200] [--floor-first]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory

from bench.common import machine, percentile, summary_ms
from hub.app import Hub
from hub.config import parse_config
from hub.event import Draft
from hub.sim.broker import Mosquitto
from hub.sos.lifecycle import Alarm, AlarmState

TARGET_RATIO = 3.0  # issue 23
KEEP_CLOSED_S = 3601.0  # past the hour the hub keeps a closed alarm
SOS_TOPIC_END = "/event/sos"
# The path, in order: the stamps taken along it (see Stamps.install).
STAGES = (
    ("commit_called", "press -> outbox commit called (loop: button, pipeline, alarm service)"),
    ("db_start", "-> database thread starts the commit (thread hop)"),
    ("on_disk", "-> commit on disk (FULL: fsync)"),
    ("back_on_loop", "-> the loop has the result (thread hop back)"),
    ("to_paho", "-> handed to paho (uplink wakes, builds the message)"),
    ("sent", "-> PUBACKed and marked SENT (broker round trip, aiomqtt)"),
)


def floor_worker(port: int, workdir: Path) -> None:
    """The floor, stepped from stdin: one sample per line read, its seconds on stdout."""
    db = sqlite3.connect(workdir / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, body BLOB)")
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bench-floor", protocol=mqtt.MQTTv5
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    body = b'{"id":"x","kind":"sos","data":{}}' * 8
    print("ready", flush=True)
    for _ in sys.stdin:
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (body,))
        db.execute("COMMIT")
        client.publish("bench/floor", body, qos=1).wait_for_publish()
        print(time.perf_counter() - t0, flush=True)
    client.loop_stop()
    client.disconnect()
    db.close()


class Stamps:
    """perf_counter stamps along one alarm's path, taken by wrappers around the hub's
    own objects (this bench only; the hub is not changed for it)."""

    def __init__(self) -> None:
        self.now: dict[str, float] = {}
        self.runs: list[dict[str, float]] = []

    def stamp(self, stage: str) -> None:
        self.now.setdefault(stage, time.perf_counter())

    def install(self, hub: Hub) -> None:
        outbox = hub.outbox
        async_commit = outbox.commit
        sync_commit = outbox.sync.commit

        async def commit(draft: Draft) -> Any:
            sos = draft.kind == "sos"
            if sos:
                self.stamp("commit_called")
            result = await async_commit(draft)
            if sos:
                self.stamp("back_on_loop")
            return result

        def commit_on_thread(draft: Draft) -> Any:
            sos = draft.kind == "sos"
            if sos:
                self.stamp("db_start")
            result = sync_commit(draft)
            if sos:
                self.stamp("on_disk")
            return result

        outbox.commit = commit  # type: ignore[method-assign]
        outbox.sync.commit = commit_on_thread  # type: ignore[method-assign]
        paho_publish: Callable[..., Any] = mqtt.Client.publish

        def publish(client: mqtt.Client, topic: str, *args: Any, **kwargs: Any) -> Any:
            if topic.endswith(SOS_TOPIC_END):
                self.stamp("to_paho")
            return paho_publish(client, topic, *args, **kwargs)

        mqtt.Client.publish = publish  # type: ignore[method-assign]

    def finish(self, t0: float, sent: float) -> None:
        self.now["sent"] = sent
        self.runs.append({stage: self.now.get(stage, sent) - t0 for stage, _ in STAGES})
        self.now = {}


def hub_threads() -> list[str]:
    """The threads of this process, with what each is (the names the hub's libraries give).
    The bench's only own thread is asyncio's watcher of the floor process."""
    what = {
        "MainThread": "the event loop",
        "outbox": "the database thread",
        "asyncio-waitpid": "the bench's, waits for the floor process",
        "asyncio_": "asyncio's default executor (to_thread)",
        "(held)": "gpiozero's hold thread for a button, wakes every 0.1 s",
    }
    names = []
    for thread in threading.enumerate():
        said = next((text for key, text in what.items() if key in thread.name), "?")
        names.append(f"{thread.name} ({said})")
    return sorted(names)


async def run(port: int, workdir: Path, n: int, settle: float, floor_first: bool) -> dict[str, Any]:
    """n presses of the mock red button, each just after one floor sample (or all the
    floor samples first); each alarm is resolved by the centre before the next press."""
    floor_proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sos_latency",
        "--floor-worker",
        str(port),
        str(workdir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert floor_proc.stdin is not None and floor_proc.stdout is not None
    await floor_proc.stdout.readline()  # "ready"
    floor: list[float] = []

    async def floor_sample() -> None:
        assert floor_proc.stdin is not None and floor_proc.stdout is not None
        floor_proc.stdin.write(b"go\n")
        floor.append(float(await floor_proc.stdout.readline()))

    if floor_first:
        for _ in range(n):
            await asyncio.sleep(settle)
            await floor_sample()
    cfg = parse_config(
        {
            "hub": {"id": "BENCH-1", "data_dir": str(workdir / "hub"), "log_level": "WARNING"},
            "mqtt": {"host": "127.0.0.1", "port": port},
            "gpio": {"pin_factory": "mock", "bounce_s": 0.0},
            "voice": {"prompts": False},  # the alarm path only (prompts play on their own thread)
        }
    )
    factory = MockFactory()
    hub = Hub(cfg, pin_factory=factory)
    sent_at: dict[str, float] = {}
    state_changed = asyncio.Event()

    def listener(alarm: Alarm) -> None:
        if alarm.state is AlarmState.SENT:
            sent_at[alarm.id] = time.perf_counter()
        state_changed.set()

    await hub.start()  # the alarm service exists from here (hub/services/alarms.py)
    hub.alarms.listeners.append(listener)
    stamps = Stamps()
    stamps.install(hub)
    await hub.uplink.connected.wait()
    threads = hub_threads()
    to_puback: list[float] = []
    to_centre: list[float] = []
    pin = factory.pin(cfg.gpio.sos_pin)
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-centre") as centre:
        await centre.subscribe("pingan/v1/BENCH-1/event/sos", qos=1)
        messages = centre.messages
        for _ in range(n):
            await asyncio.sleep(settle)
            if not floor_first:
                await floor_sample()
            t0 = time.perf_counter()
            pin.drive_low()
            message = await anext(aiter(messages))
            received = time.perf_counter()
            pin.drive_high()
            event = json.loads(message.payload)  # type: ignore[arg-type]
            while event["id"] not in sent_at:
                state_changed.clear()
                await state_changed.wait()
            to_puback.append(sent_at[event["id"]] - t0)
            to_centre.append(received - t0)
            stamps.finish(t0, sent_at[event["id"]])
            await centre.publish(
                "pingan/v1/BENCH-1/ack", json.dumps({"id": event["id"], "state": "resolved"}), qos=1
            )
            while hub.alarms.book.open_sos() is not None:
                state_changed.clear()
                await state_changed.wait()
            # The hub forgets a closed alarm an hour later (hub/services/alarms.py,
            # _KEEP_CLOSED_S); without this the book would hold every press of the run, and
            # the alarm path's scans of it (open_sos) would grow with the press count.
            hub.alarms.forget_closed(hub.clock.monotonic() + KEEP_CLOSED_S)
    await hub.stop()
    floor_proc.stdin.close()
    await floor_proc.wait()
    return {
        "floor": floor,
        "puback": to_puback,
        "centre": to_centre,
        "stamps": stamps.runs,
        "threads": threads,
    }


def breakdown(runs: list[dict[str, float]]) -> list[str]:
    """Per stage: when it was reached after the press, and how long the stage took."""
    lines = [f"{'stage':<74} {'reached p50/p99 ms':>20} {'took p50/p99 ms':>17}"]
    previous: list[float] = [0.0] * len(runs)
    for stage, label in STAGES:
        reached = [r[stage] for r in runs]
        took = [now - before for now, before in zip(reached, previous, strict=True)]
        previous = reached
        at_p50, at_p99 = percentile(reached, 50) * 1e3, percentile(reached, 99) * 1e3
        took_p50, took_p99 = percentile(took, 50) * 1e3, percentile(took, 99) * 1e3
        lines.append(f"{label:<74} {at_p50:9.2f} /{at_p99:7.2f}   {took_p50:7.2f} /{took_p99:6.2f}")
    return lines


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="sys.setswitchinterval for the hub's process (Python's default: 5 ms)",
    )
    parser.add_argument(
        "--settle-ms", type=float, default=200.0, help="pause before each floor sample and press"
    )
    parser.add_argument(
        "--floor-first", action="store_true", help="every floor sample first, then the presses"
    )
    parser.add_argument("--floor-worker", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_worker:
        floor_worker(int(args.floor_worker[0]), Path(args.floor_worker[1]))
        return
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1e3)
    load_before = os.getloadavg()
    print(f"machine: {machine()}")
    method = (
        f"floor first, then the presses; settle {args.settle_ms:g} ms before each"
        if args.floor_first
        else f"interleaved: settle {args.settle_ms:g} ms, floor sample, press"
    )
    print(f"switch interval: {sys.getswitchinterval() * 1e3:g} ms; method: {method}")
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        result = asyncio.run(
            run(broker.port, Path(tmp), args.presses, args.settle_ms / 1e3, args.floor_first)
        )
    load_after = os.getloadavg()
    base, puback, centre = result["floor"], result["puback"], result["centre"]
    print(f"threads in the hub's process: {', '.join(result['threads'])}")
    print(
        "load average (1/5/15 min) before / after: "
        f"{' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    print(f"floor  (FULL commit + bare QoS1 publish)  n={len(base)}:  {summary_ms(base)}")
    print(f"hub    press -> PUBACK                    n={len(puback)}:  {summary_ms(puback)}")
    print(f"hub    press -> centre receipt            n={len(centre)}:  {summary_ms(centre)}")
    print("breakdown, press -> PUBACK (cumulative, and each stage alone):")
    for line in breakdown(result["stamps"]):
        print(f"  {line}")
    ratio = percentile(puback, 99) / percentile(base, 99)
    print(
        f"p99 press->PUBACK / p99 floor = {ratio:.2f}x "
        f"(p50 {percentile(puback, 50) / percentile(base, 50):.2f}x; target <= "
        f"{TARGET_RATIO:.0f}x on a quiet machine): "
        f"{'MET' if ratio <= TARGET_RATIO else 'MISSED'} at load {load_after[0]:.2f}"
    )


if __name__ == "__main__":
    main()

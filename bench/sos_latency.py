"""SOS latency: press -> PUBACK and press -> centre receipt, against the floor.

The floor is what the path cannot avoid: one SQLite commit with synchronous=FULL in
WAL mode plus one bare paho QoS 1 publish to the same broker (waiting for PUBACK).
Target (issue 2): the hub's p99 within 2x the floor's p99.

    .venv/bin/python -m bench.sos_latency [--presses 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory

from bench.common import machine, percentile, summary_ms
from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto
from hub.sos.lifecycle import Alarm, AlarmState


def floor(port: int, workdir: Path, n: int) -> list[float]:
    """n x (one FULL commit + one bare QoS 1 publish waiting for PUBACK)."""
    db = sqlite3.connect(workdir / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, body BLOB)")
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bench-floor", protocol=mqtt.MQTTv5
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    body = b'{"id":"x","kind":"sos","data":{}}' * 8
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (body,))
        db.execute("COMMIT")
        client.publish("bench/floor", body, qos=1).wait_for_publish()
        samples.append(time.perf_counter() - t0)
    client.loop_stop()
    client.disconnect()
    db.close()
    return samples


async def hub_path(port: int, workdir: Path, n: int) -> tuple[list[float], list[float]]:
    """n presses of the mock red button; each alarm is resolved by the centre before the next."""
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
    await hub.uplink.connected.wait()
    to_puback: list[float] = []
    to_centre: list[float] = []
    pin = factory.pin(cfg.gpio.sos_pin)
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-centre") as centre:
        await centre.subscribe("pingan/v1/BENCH-1/event/sos", qos=1)
        messages = centre.messages
        for _ in range(n):
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
            await centre.publish(
                "pingan/v1/BENCH-1/ack", json.dumps({"id": event["id"], "state": "resolved"}), qos=1
            )
            while hub.alarms.book.open_sos() is not None:
                state_changed.clear()
                await state_changed.wait()
    await hub.stop()
    return to_puback, to_centre


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        work = Path(tmp)
        base = floor(broker.port, work, args.presses)
        puback, centre = asyncio.run(hub_path(broker.port, work, args.presses))
    print(f"floor  (FULL commit + bare QoS1 publish)  n={len(base)}:  {summary_ms(base)}")
    print(f"hub    press -> PUBACK                    n={len(puback)}:  {summary_ms(puback)}")
    print(f"hub    press -> centre receipt            n={len(centre)}:  {summary_ms(centre)}")
    ratio = percentile(puback, 99) / percentile(base, 99)
    print(
        f"p99 press->PUBACK / p99 floor = {ratio:.2f}x (target <= 2.0x): "
        f"{'MET' if ratio <= 2.0 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

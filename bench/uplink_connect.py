"""Start -> connected with `mqtt.protocol = "auto"` on a broker, first boot and restart.

A hub on mock pins is started in this process with a fresh data directory and timed
from `Hub.start()` to the uplink's first connection; it is stopped and started again on
the same data directory (a restart after a power cut or an update) and timed again.
Each run prints the protocols the uplink tried, in order, with their outcomes.

    .venv/bin/python -m bench.uplink_connect [--broker amqtt|rabbitmq|mosquitto] [--runs 3]

amqtt never answers an MQTT 5 CONNECT; RabbitMQ 3.10 closes the connection on one
(needs Debian's rabbitmq-server; ~10 s to start); mosquitto speaks MQTT 5 (the control).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from bench.common import machine
from hub.app import Hub
from hub.config import parse_config


def _broker(name: str, workdir: Path) -> Any:
    if name == "amqtt":
        from hub.sim.amqtt_broker import Amqtt

        return Amqtt(workdir=workdir)
    if name == "rabbitmq":
        from hub.sim.rabbitmq_broker import RabbitMQ

        return RabbitMQ(workdir=workdir)
    from hub.sim.broker import Mosquitto

    return Mosquitto(workdir=workdir)


async def _start_to_connected(port: int, data_dir: Path) -> tuple[float, str]:
    """Seconds from Hub.start() to the uplink's first connection, and what it tried."""
    cfg = parse_config(
        {
            "hub": {"id": "BENCH-UP", "data_dir": str(data_dir), "log_level": "WARNING"},
            "mqtt": {"host": "127.0.0.1", "port": port, "protocol": "auto"},
            "gpio": {"pin_factory": "mock", "bounce_s": 0.0},
            "voice": {"prompts": False},
        }
    )
    hub = Hub(cfg, pin_factory=MockFactory())
    t0 = time.perf_counter()
    await hub.start()
    try:
        async with asyncio.timeout(60):
            await hub.uplink.connected.wait()
        elapsed = time.perf_counter() - t0
        attempts = getattr(hub.uplink.state, "attempts", None)
        tried = (
            ", ".join(f"{p} {outcome}" for p, outcome in attempts)
            if attempts is not None
            else f"connected with {hub.uplink.state.protocol}"
        )
        return elapsed, tried
    finally:
        await hub.stop()


async def main(broker_name: str, runs: int) -> None:
    """Print start -> connected per run, first boot and restart, and the means."""
    logging.basicConfig(level=logging.ERROR)
    print(machine())
    print(f"broker: {broker_name}, mqtt.protocol = auto, {runs} runs")
    first: list[float] = []
    again: list[float] = []
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="pingan-bench-up-") as tmp:
            workdir = Path(tmp)
            (workdir / "broker").mkdir()
            broker = _broker(broker_name, workdir / "broker")
            broker.start()
            try:
                seconds, tried = await _start_to_connected(broker.port, workdir / "data")
                first.append(seconds)
                print(f"run {run + 1}: first boot {seconds * 1e3:8.1f} ms  ({tried})")
                seconds, tried = await _start_to_connected(broker.port, workdir / "data")
                again.append(seconds)
                print(f"run {run + 1}: restart    {seconds * 1e3:8.1f} ms  ({tried})")
            finally:
                broker.close()
    print(f"first boot: mean {statistics.fmean(first) * 1e3:.1f} ms, max {max(first) * 1e3:.1f} ms")
    print(f"restart:    mean {statistics.fmean(again) * 1e3:.1f} ms, max {max(again) * 1e3:.1f} ms")
    print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("amqtt", "rabbitmq", "mosquitto"), default="amqtt")
    parser.add_argument("--runs", type=int, default=3, help="first boot + restart pairs")
    args = parser.parse_args()
    asyncio.run(main(args.broker, args.runs))

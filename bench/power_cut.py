"""Power-cut harness: the hub killed with SIGKILL at random moments, again and again.

The hub runs as a real subprocess (`python -m hub run`, simulation mode) while a
driver thread feeds it simulated device events and SOS alarms through the control
socket. An alarm or warning counts as *committed* when the hub's reply arrives with its
seq (the hub replies only after the forced SQLite commit returns: on disk, power loss
included). Telemetry is answered "queued", without a seq: it is written in the next
group (hub/services/committer.py; the harness sets the group period to 0.05 s so groups
are written, and cut, all through the run); a kill may lose it, and that is the
documented price, so it is not counted as committed. After every kill the hub is
restarted. At the end the hub drains and a persistent MQTT subscriber (the cloud's side)
has collected everything. Checks: every committed event was delivered (by id) with the
seq it was committed with, no seq was given to two events (telemetry included), and the
database passes SQLite's integrity check.

SIGKILL ends the process, not the machine: what a process wrote is in the kernel's page
cache and reaches the disk anyway, so this harness cannot tell a forced commit from an
unforced one. The forced commits are checked in tests (tests/test_telemetry_groups.py);
real power cuts of a VM are bench/vm_power_cut.py and bench/vm_resume_cut.py.

    .venv/bin/python -m bench.power_cut --kills 1000      (CI runs 100 in tests/)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto

# Kinds the driver injects, with weights: mostly telemetry, some warnings and alarms.
_KINDS = (["motion"] * 6) + (["door"] * 3) + ["battery_low", "checkin", "sos", "smoke"]


@dataclass
class HarnessResult:
    """What the harness observed."""

    kills: int
    committed: dict[str, int] = field(default_factory=dict)  # id -> seq
    queued: set[str] = field(default_factory=set)  # telemetry answered "queued" (no seq yet)
    delivered: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    deliveries: int = 0
    integrity: str = ""
    elapsed_s: float = 0.0

    @property
    def lost(self) -> list[str]:
        """Committed ids never delivered."""
        return [i for i in self.committed if i not in self.delivered]

    @property
    def queued_delivered(self) -> int:
        """Queued telemetry that was written in a group and delivered."""
        return sum(1 for i in self.queued if i in self.delivered)

    @property
    def seq_changed(self) -> list[str]:
        """Ids delivered with a seq other than the one they were committed with."""
        return [i for i, s in self.committed.items() if self.delivered.get(i, {s}) != {s}]

    @property
    def seq_reused(self) -> list[int]:
        """Seqs that were carried by more than one distinct event id."""
        owners: dict[int, set[str]] = defaultdict(set)
        for event_id, seqs in self.delivered.items():
            for seq in seqs:
                owners[seq].add(event_id)
        return sorted(s for s, ids in owners.items() if len(ids) > 1)


class CloudSide:
    """A persistent-session subscriber (paho, own thread) collecting every event."""

    def __init__(self, port: int, result: HarnessResult) -> None:
        self.result = result
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="harness-cloud", clean_session=False
        )
        self.client.on_connect = lambda c, *_: c.subscribe("pingan/v1/+/event/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        event = json.loads(msg.payload)
        with self.lock:
            self.result.delivered[event["id"]].add(int(event["seq"]))
            self.result.deliveries += 1

    def has_all(self) -> bool:
        """Every committed id has arrived."""
        with self.lock:
            return not self.result.lost

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


def _write_config(path: Path, data_dir: Path, port: int) -> None:
    path.write_text(f"""
[hub]
id = "PWR-1"
data_dir = "{data_dir}"
log_level = "WARNING"
[mqtt]
host = "127.0.0.1"
port = {port}
reconnect_min_s = 0.05
reconnect_max_s = 0.5
[gpio]
pin_factory = "mock"
[voice]
prompts = false
[outbox]
telemetry_group_s = 0.05
""")


def _wait_ready(sock: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            call(sock, "status", timeout=2)
            return
        except ControlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _drive(sock: Path, rng: random.Random, result: HarnessResult, stop: threading.Event) -> None:
    """Inject events until stopped; record those whose commit was confirmed."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            reply = call(sock, "inject", kind=rng.choice(_KINDS), data={"n": n}, timeout=2)
        except ControlError:
            return  # the hub died under us: that request may or may not have committed
        if reply.get("seq") is None:
            result.queued.add(str(reply["id"]))
        else:
            result.committed[str(reply["id"])] = int(reply["seq"])


def run_harness(kills: int, workdir: Path, seed: int = 1, say: bool = True) -> HarnessResult:
    """Kill and restart the hub `kills` times; then drain and compare."""
    result = HarnessResult(kills)
    rng = random.Random(seed)
    started = time.monotonic()
    (workdir / "broker").mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(workdir=workdir / "broker")
    broker.start()
    cloud = CloudSide(broker.port, result)
    config, data = workdir / "hub.toml", workdir / "data"
    _write_config(config, data, broker.port)
    sock = data / "control.sock"
    log = (workdir / "hub.log").open("ab")
    try:
        for k in range(kills):
            proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            _wait_ready(sock)
            stop = threading.Event()
            driver = threading.Thread(target=_drive, args=(sock, rng, result, stop))
            driver.start()
            time.sleep(rng.uniform(0.0, 0.4))
            os.kill(proc.pid, signal.SIGKILL)  # the power cut
            proc.wait()
            stop.set()
            driver.join()
            if say and (k + 1) % 50 == 0:
                print(
                    f"  {k + 1} kills, {len(result.committed)} events committed so far", flush=True
                )
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while not cloud.has_all() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.terminate()
        proc.wait(20)
    finally:
        log.close()
        cloud.close()
        broker.close()
    db = sqlite3.connect(data / "hub.db")
    result.integrity = str(db.execute("PRAGMA integrity_check").fetchone()[0])
    db.close()
    result.elapsed_s = time.monotonic() - started
    return result


def main() -> None:
    """Run and print the figures."""
    from bench.common import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        r = run_harness(args.kills, Path(tmp), args.seed)
    print(
        f"kills {r.kills}, events committed {len(r.committed)}, deliveries {r.deliveries} "
        f"(duplicates are allowed: the cloud de-duplicates by id), elapsed {r.elapsed_s:.0f} s"
    )
    print(
        f"telemetry queued {len(r.queued)}, written in groups and delivered "
        f"{r.queued_delivered} (the rest was queued when a kill came: the documented loss)"
    )
    print(
        f"lost {len(r.lost)}, seq changed {len(r.seq_changed)}, seq reused "
        f"{len(r.seq_reused)}, sqlite integrity_check: {r.integrity}"
    )


if __name__ == "__main__":
    main()

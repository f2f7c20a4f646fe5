"""Fleet benchmarks: 1,000 hubs on one mosquitto, or a city's fleet on a RabbitMQ cluster.

Each simulated hub runs the hub's real sync code (hub.sim.fleet_hub.FleetHub): the
`Uplink` (aiomqtt on paho, persistent session, LWT, retained heartbeat, subscriptions to
ack/cmd/config, broker rotation) and, on `config/desired`, the hub's own push path
(`verify_envelope` with its Ed25519 check and full config validation, `ConfigStore`
written atomically with fsync, `confirm_push`, the `config/reported` payload). What a
simulated hub does NOT have: GPIO, care checks, registry; its outbox is an empty
stand-in except in the alarm sample, which has the real SQLite outbox.

Many hubs per process, several processes. The admin side is `hub.fleet.push.push`, the code
behind `pingan-hub fleet push`: one envelope signed for group "bench", published
retained to each hub's config/desired.

    .venv/bin/python -m bench.fleet [--hubs 1000] [--workers 2] [--heartbeat 10]

One mosquitto (the default). Prints: connect time for all hubs; push -> all `applied`
(target <= 10 s); the broker's own message counters ($SYS, every second) over a window of
heartbeats; CPU and memory of the harness and of mosquitto.

    .venv/bin/python -m bench.fleet --cluster 3 --hubs 5000 [--alarm-hubs 200]
        [--rate 200] [--heartbeat 60] [--session-queues quorum|classic] [--seed N]
        [--connect-rate 20] [--quorum-tick-ms 60000] [--protocol 3.1.1|auto]
        [--broker-file-handles 65436] [--reconnect-spread 60] [--broker-scheduler-bind u]

A RabbitMQ cluster (hub.sim.rabbitmq_cluster; Debian's rabbitmq-server). Every hub is
given the nodes in `mqtt.brokers` and spreads itself over them; the admin's tools
(`fleet push`, `fleet watch`) and the centre (one consumer per node,
hub.sim.centre.ClusterCentre) run in the coordinating process. Then: memory per session
on the broker and per simulated hub; a heartbeat window; push 1 to every hub (no
failure); push 2 with one node, chosen at random, SIGKILLed at a random moment of the
push; during each push every hub of the alarm sample raises one SOS at a random moment.
Prints push -> all `applied`, how long the killed node's hubs took to reconnect, the
alarms' latency (committed on the hub -> first copy at the centre) and how many were
lost, what `fleet status --state` says against what the hubs know, and the extrapolation
to 84,000 hubs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from bench.common import machine, percentile, rss_kib
from hub.fleet.broker import Broker
from hub.fleet.push import DEFAULT_PUSH_RATE, push
from hub.sim.broker import Mosquitto
from hub.sim.fleet_hub import FleetHub
from hub.sync.ota import public_key_text, sign_envelope

GROUP = "bench"
PREFIX = "pingan/v1"
# The pushed change: a care-relevant threshold and a contact, as in the live OTA test.
PUSHED = {
    "sos": {"ack_timeout_s": 25.0},
    "escalation": {
        "contacts": [{"name": "王小红", "number": "+8613800138000", "relation": "女儿"}]
    },
}
_SYS_TOPICS = (
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/load/messages/received/1min",
    "$SYS/broker/load/messages/sent/1min",
    "$SYS/broker/clients/connected",
)
_TICK = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (each hub costs ~3 fds); returns it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def hub_id(n: int) -> str:
    """The id of simulated hub n."""
    return f"B-{n:05d}"


# -- one process's hubs ------------------------------------------------------------------


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the coordinating process."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def alarm_hub(n: int, hubs: int, sample: int) -> bool:
    """Whether hub n is in the alarm sample (spread evenly over the fleet)."""
    return (
        sample > 0
        and (n - 1) % max(1, hubs // sample) == 0
        and (n - 1) // max(1, hubs // sample) < sample
    )


async def connect_all(
    hubs: list[FleetHub], runs: list[asyncio.Task[None]], rate: float, args: argparse.Namespace
) -> None:
    """Start every hub, `rate` a second over all workers (0: all at once; a fleet boots
    over time, not in one instant); report progress every 10 s, then the time taken."""
    t0 = shown = time.monotonic()
    rate = rate / max(1, args.workers)
    for k, h in enumerate(hubs):
        if rate:
            delay = t0 + k / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() - shown >= 10:
                shown = time.monotonic()
                emit({"progress": sum(h.uplink.connected.is_set() for h in hubs)})
        runs.append(asyncio.create_task(h.run()))
    while (up := sum(h.uplink.connected.is_set() for h in hubs)) < len(hubs):
        emit({"progress": up})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(h.uplink.connected.wait() for h in hubs)), 10)
    emit({"connected_s": time.monotonic() - t0})


async def run_worker(args: argparse.Namespace) -> None:
    """Build this process's hubs, connect them on "go", answer "stats", end on "stop"."""
    raise_nofile()
    logging.basicConfig(level=logging.CRITICAL, format="[worker] %(name)s: %(message)s")
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    brokers: list[str] = json.loads(args.brokers)
    hubs: list[FleetHub] = []
    for n in range(args.first, args.first + args.count):
        data = Path(args.dir) / hub_id(n)
        data.mkdir(parents=True, exist_ok=True)
        mqtt: dict[str, Any] = {"heartbeat_s": args.heartbeat, "protocol": args.protocol}
        if args.reconnect_spread is not None:
            mqtt["reconnect_spread_s"] = args.reconnect_spread
        if len(brokers) == 1:
            mqtt |= {"host": "127.0.0.1", "port": int(brokers[0].rsplit(":", 1)[1])}
        else:
            mqtt["brokers"] = brokers
        raw = {
            "hub": {"id": hub_id(n), "data_dir": str(data)},
            "mqtt": mqtt,
            "fleet": {"public_keys": [args.key], "groups": [GROUP]},
        }
        if alarm_hub(n, args.hubs, args.alarm_hubs):
            hubs.append(await FleetHub.with_outbox(raw))
        else:
            hubs.append(FleetHub(raw))
    emit({"ready": len(hubs), "rss_kib": rss_kib()})
    runs: list[asyncio.Task[None]] = []
    alarms: dict[str, dict[str, Any]] = {}  # id -> hub, committed (epoch)
    scheduled: set[asyncio.Task[None]] = set()
    connecting: asyncio.Task[None] | None = None

    async def raise_later(h: FleetHub, delay: float) -> None:
        await asyncio.sleep(delay)
        committed = time.time()
        alarm_id = await h.raise_alarm()
        alarms[alarm_id] = {"hub": h.cfg.hub.id, "at": committed}

    while line := (await stdin.readline()).decode().strip():
        command = json.loads(line)
        if command["cmd"] == "go":
            # In its own task: a "stop" must be heard while hubs are still connecting.
            connecting = asyncio.create_task(connect_all(hubs, runs, command.get("rate", 0), args))
        elif command["cmd"] == "alarms":
            sample = [h for h in hubs if h.outbox is not None]
            for h in sample:
                task = asyncio.create_task(raise_later(h, random.uniform(0, command["window"])))
                scheduled.add(task)
                task.add_done_callback(scheduled.discard)
            emit({"scheduled": len(sample)})
        elif command["cmd"] == "stats":
            applied: Counter[int] = Counter()
            for h in hubs:
                applied.update(h.applied.keys())
            acked = {a for h in hubs for a in h.acked}
            emit(
                {
                    "applied": dict(applied),
                    "running": dict(Counter(h.config_version for h in hubs)),
                    # version -> when each hub applied it (monotonic: one clock per machine)
                    "applied_at": {
                        str(v): [h.applied[v] for h in hubs if v in h.applied]
                        for v in {v for h in hubs for v in h.applied}
                    },
                    "rejected": sum(h.rejected for h in hubs),
                    "connected": sum(h.uplink.state.connected for h in hubs),
                    "nodes": dict(Counter(h.uplink.state.broker for h in hubs)),
                    "since": [h.uplink.state.connected_since for h in hubs],
                    "errors": sum(bool(h.uplink.state.last_error) for h in hubs),
                    "attempts": sum(h.uplink.state.connect_attempts for h in hubs),
                    # How the hubs' latest attempts (up to 20 each) ended.
                    "outcomes": dict(Counter(o for h in hubs for _v, o in h.uplink.state.attempts)),
                    "heartbeats": sum(h.uplink.state.last_heartbeat is not None for h in hubs),
                    "alarms": {a: {**v, "acked": a in acked} for a, v in alarms.items()},
                    "rss_kib": rss_kib(),
                    "threads": len(os.listdir("/proc/self/task")),
                    "fds": len(os.listdir("/proc/self/fd")),
                }
            )
        elif command["cmd"] == "stop":
            break
    if connecting is not None:
        connecting.cancel()
    for task in list(scheduled):
        task.cancel()
    for task in runs:
        task.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    for h in hubs:
        await h.stop()
    emit({"stopped": True})


# -- the coordinator ---------------------------------------------------------------------


class Monitor:
    """Plays the cloud: counts `applied` reports and keeps the broker's $SYS counters."""

    def __init__(self, port: int, version: int, hubs: int) -> None:
        self.port = port
        self.version = version
        self.hubs = hubs
        self.all_applied = asyncio.Event()
        self.applied: dict[str, float] = {}  # hub -> monotonic arrival
        self.other_reports = 0
        self.statuses = 0
        self.sys: dict[str, str] = {}
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="bench-cloud") as client:
            await client.subscribe(f"{PREFIX}/+/config/reported", qos=1)
            await client.subscribe(f"{PREFIX}/+/status", qos=1)  # as the cloud does
            for topic in _SYS_TOPICS:
                await client.subscribe(topic, qos=0)
            self.ready.set()
            async for msg in client.messages:
                topic = msg.topic.value
                payload = msg.payload if isinstance(msg.payload, bytes) else b""
                if topic.startswith("$SYS/"):
                    self.sys[topic] = payload.decode()
                    continue
                if topic.endswith("/status"):
                    self.statuses += 1
                    continue
                report = json.loads(payload)
                hub = topic.split("/")[2]
                if report["status"] == "applied" and report["version"] == self.version:
                    self.applied.setdefault(hub, time.monotonic())
                    if len(self.applied) >= self.hubs:
                        self.all_applied.set()
                else:
                    self.other_reports += 1

    def counter(self, name: str) -> float:
        """A $SYS value as a number (0 when not seen yet)."""
        return float(self.sys.get(f"$SYS/broker/{name}", "0").split()[0])


class Worker:
    """A worker process and its JSON-line pipe."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.progress = 0

    async def read(self) -> dict[str, Any]:
        """The worker's next reply (progress lines are shown and skipped)."""
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError("a worker process died (see its stderr above)")
            result: dict[str, Any] = json.loads(line)
            if "progress" not in result:
                return result
            self.progress = result["progress"]

    async def send(self, command: str, **fields: Any) -> None:
        """One command, as a JSON line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": command, **fields}).encode() + b"\n")
        await self.proc.stdin.drain()


async def spawn_workers(
    args: argparse.Namespace, brokers: list[str], key: str, tmp: str
) -> list[Worker]:
    """Start the worker processes, each building its share of the hubs."""
    per = -(-args.hubs // args.workers)
    workers = []
    for w in range(args.workers):
        first = 1 + w * per
        count = min(per, args.hubs - w * per)
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bench.fleet", "--worker", "--brokers", json.dumps(brokers)),
            *("--first", str(first), "--count", str(count), "--dir", f"{tmp}/hubs"),
            *("--heartbeat", str(args.heartbeat), "--key", key, "--hubs", str(args.hubs)),
            *("--alarm-hubs", str(args.alarm_hubs), "--workers", str(args.workers)),
            *("--protocol", args.protocol),
            *(
                ("--reconnect-spread", str(args.reconnect_spread))
                if args.reconnect_spread is not None
                else ()
            ),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # A worker's stats are one JSON line per request; with 2,500 hubs each it is
            # over asyncio's default 64 KiB line limit (the 5,000-hub run stopped on it).
            limit=64 * 1024 * 1024,
        )
        workers.append(Worker(proc))
    return workers


async def wait_sys(monitor: Monitor) -> dict[str, float]:
    """The $SYS counters right after the broker's next one-second update."""
    before = monitor.sys.get("$SYS/broker/messages/received")
    for _ in range(50):
        await asyncio.sleep(0.1)
        if monitor.sys.get("$SYS/broker/messages/received") != before:
            break
    counts = {n: monitor.counter(n) for n in ("messages/received", "messages/sent")}
    return {**counts, "statuses": monitor.statuses}


async def coordinate(args: argparse.Namespace) -> None:
    """Run the whole benchmark and print the figures."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    nofile = raise_nofile()
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"hubs {args.hubs} in {args.workers} processes; heartbeat every {args.heartbeat:g} s")
    key = Ed25519PrivateKey.generate()
    with (
        tempfile.TemporaryDirectory(prefix="pingan-fleet-") as tmp,
        Mosquitto(extra="sys_interval 1\nmax_connections -1\n") as broker,
    ):
        assert broker.proc is not None
        print(f"mosquitto on 127.0.0.1:{broker.port}; RLIMIT_NOFILE {nofile}")
        monitor = Monitor(broker.port, version=1, hubs=args.hubs)
        monitor.task = asyncio.create_task(monitor.run())
        await asyncio.wait_for(monitor.ready.wait(), 10)
        brokers = [f"127.0.0.1:{broker.port}"]
        workers = await spawn_workers(args, brokers, public_key_text(key), tmp)
        ready = [await w.read() for w in workers]
        print(f"built {sum(r['ready'] for r in ready)} hubs")
        pids = [w.proc.pid for w in workers]
        cpu0 = [cpu_s(p) for p in pids]
        broker_cpu0 = cpu_s(broker.proc.pid)

        # -- connect
        t0 = time.monotonic()
        for w in workers:
            await w.send("go", rate=0)
        for w in workers:
            await w.read()
        connect_s = time.monotonic() - t0
        cpu1 = [cpu_s(p) for p in pids]
        broker_cpu1 = cpu_s(broker.proc.pid)
        print(
            f"connect: all {args.hubs} hubs connected, subscribed (ack, cmd/#, config/desired)"
            f" and published their first status in {connect_s:.2f} s;"
            f" harness CPU {sum(cpu1) - sum(cpu0):.1f} s, mosquitto CPU"
            f" {broker_cpu1 - broker_cpu0:.1f} s"
        )
        await asyncio.sleep(2)  # let the connect burst settle

        # -- push
        envelope = sign_envelope(key, 1, PUSHED, datetime.now(UTC), group=GROUP)
        hubs = [hub_id(n) for n in range(1, args.hubs + 1)]
        cpu2 = [cpu_s(p) for p in pids]
        broker_cpu2 = cpu_s(broker.proc.pid)
        t_push = time.monotonic()
        await push(Broker("127.0.0.1", broker.port, PREFIX), envelope, hubs)
        pushed_s = time.monotonic() - t_push
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(monitor.all_applied.wait(), args.timeout)
        arrivals = sorted(t - t_push for t in monitor.applied.values())
        cpu3 = [cpu_s(p) for p in pids]
        broker_cpu3 = cpu_s(broker.proc.pid)
        all_in = len(arrivals) == args.hubs
        print(
            f"push: fleet push published {len(hubs)} retained envelopes (PUBACKed) in"
            f" {pushed_s:.2f} s"
        )
        if arrivals:
            verdict = "MET" if all_in and arrivals[-1] <= 10 else "MISSED"
            print(
                f"push -> applied: {len(arrivals)}/{args.hubs} hubs reported `applied`;"
                f" first {arrivals[0]:.2f} s, p50 {percentile(arrivals, 50):.2f} s,"
                f" p99 {percentile(arrivals, 99):.2f} s, last {arrivals[-1]:.2f} s"
                f" (target <= 10 s: {verdict}); other reports {monitor.other_reports};"
                f" harness CPU {sum(cpu3) - sum(cpu2):.1f} s, mosquitto CPU"
                f" {broker_cpu3 - broker_cpu2:.1f} s"
            )
        else:
            print("push -> applied: NO hub reported applied")

        # -- heartbeats
        await asyncio.sleep(2)
        s0 = await wait_sys(monitor)
        c0, b0, w0 = [cpu_s(p) for p in pids], cpu_s(broker.proc.pid), time.monotonic()
        await asyncio.sleep(args.window)
        s1 = await wait_sys(monitor)
        c1, b1, w1 = [cpu_s(p) for p in pids], cpu_s(broker.proc.pid), time.monotonic()
        dt = w1 - w0
        rates = {k: (s1[k] - s0[k]) / dt for k in s0}
        # Every hub connected within a second or two, so heartbeats come in bursts and a
        # window catches a whole number of bursts only by luck: normalise per heartbeat.
        beats = max(1.0, s1["statuses"] - s0["statuses"])
        per_beat = {k: (s1[k] - s0[k]) / beats for k in ("messages/received", "messages/sent")}
        steady = args.hubs / args.heartbeat
        print(
            f"heartbeats ({args.hubs} hubs, one retained status each every"
            f" {args.heartbeat:g} s; keepalive 30 s), broker $SYS over {dt:.0f} s"
            f" ({beats:.0f} heartbeats):"
        )
        print(
            f"  MQTT packets of any kind (PUBLISH, PUBACK, PINGREQ...) received"
            f" {rates['messages/received']:.1f}/s, sent {rates['messages/sent']:.1f}/s;"
            f" status messages delivered to the cloud subscriber {rates['statuses']:.1f}/s"
        )
        print(
            f"  per heartbeat: {per_beat['messages/received']:.2f} packets in,"
            f" {per_beat['messages/sent']:.2f} out -> steady state at {steady:.1f} heartbeats/s:"
            f" {per_beat['messages/received'] * steady:.0f} in/s,"
            f" {per_beat['messages/sent'] * steady:.0f} out/s"
        )
        print(
            "  mosquitto's moving averages (per minute, include the connect and push):"
            f" load/messages/received/1min"
            f" {monitor.sys.get('$SYS/broker/load/messages/received/1min', '?')},"
            f" sent/1min {monitor.sys.get('$SYS/broker/load/messages/sent/1min', '?')};"
            f" clients connected {monitor.sys.get('$SYS/broker/clients/connected', '?')}"
        )
        harness_cpu = (sum(c1) - sum(c0)) / dt
        print(
            f"  CPU: harness {harness_cpu * 100:.1f} % of one core"
            f" ({harness_cpu / args.hubs * 1e6:.0f} µs/s per hub),"
            f" mosquitto {(b1 - b0) / dt * 100:.1f} % of one core"
        )
        stats = []
        for w in workers:
            await w.send("stats")
            stats.append(await w.read())
        rss = [s["rss_kib"] for s in stats]
        print(
            f"memory: harness {sum(rss) / 1024:.0f} MiB in {len(rss)} processes"
            f" ({sum(rss) / args.hubs:.0f} KiB per hub incl. interpreter),"
            f" built before connecting {sum(r['rss_kib'] for r in ready) / 1024:.0f} MiB;"
            f" mosquitto {rss_kib(broker.proc.pid) / 1024:.1f} MiB;"
            f" threads per worker {[s['threads'] for s in stats]}"
        )
        print(
            f"hubs: applied {sum(s['applied'].get('1', 0) for s in stats)}, rejected"
            f" {sum(s['rejected'] for s in stats)}, connected now"
            f" {sum(s['connected'] for s in stats)}, with a connection error so far"
            f" {sum(s['errors'] for s in stats)}"
        )
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for w in workers:
            await w.send("stop")
        for w in workers:
            await w.read()
            await w.proc.wait()
        monitor.task.cancel()
        await asyncio.gather(monitor.task, return_exceptions=True)


# -- the city: a RabbitMQ cluster ----------------------------------------------------------

# The second push changes a different value, so it is a real new config, not a replay.
PUSHED_BY_VERSION = {
    1: PUSHED,
    2: {**PUSHED, "sos": {"ack_timeout_s": 24.0}},
}
FLEET_OF_THE_CITY = 84_000  # Guangzhou's 平安通 users in 2021 (shared/service-docs)


def ids(n: int) -> list[str]:
    """Every simulated hub's id."""
    return [hub_id(k) for k in range(1, n + 1)]


def spread(values: list[float]) -> str:
    """p50 / p99 / max of seconds."""
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):.2f} s, p99 {percentile(values, 99):.2f} s,"
        f" max {max(values):.2f} s"
    )


async def until(condition: Callable[[], bool], within_s: float) -> bool:
    """Poll `condition` every half second until true or `within_s` passed; whether it came true."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


_STATS_LOCK = asyncio.Lock()  # one request at a time on the workers' pipes


async def all_stats(workers: list[Worker]) -> list[dict[str, Any]]:
    """Every worker's stats."""
    async with _STATS_LOCK:
        for w in workers:
            await w.send("stats")
        return [await w.read() for w in workers]


class CityRun:
    """The cluster benchmark's state: cluster, cloud side, workers, what was measured."""

    def __init__(self, args: argparse.Namespace, cluster: Any, tmp: Path) -> None:
        from hub.fleet.watch import FleetWatch
        from hub.sim.centre import ClusterCentre

        self.args = args
        self.cluster = cluster
        self.tmp = tmp
        self.rng = random.Random(args.seed)
        self.admin = Broker(brokers=tuple(cluster.addresses))
        self.applied_at: dict[int, dict[str, float]] = {}  # version -> hub -> monotonic
        self.watcher = FleetWatch(
            self.admin, tmp / "fleet.sqlite", name="bench", on_message=self._on_message
        )
        self.centre = ClusterCentre(
            [("127.0.0.1", node.port) for node in cluster.nodes], name="bench-centre"
        )
        self.workers: list[Worker] = []
        self.killed: int | None = None
        self.reported_alarms: set[str] = set()
        self.memory_per_session_kib = 0.0
        self.idle_cpu = 0.0  # the cluster's own CPU (cores) with no hub connected
        self.beat_cpu = 0.0  # the cluster's CPU (cores) with every hub heartbeating
        self.node_cpu: dict[int, float] = {}  # pid -> CPU seconds last seen
        # The latest storm-watch sample: peak sockets and fds per node, attempts made.
        self.hub_outcomes: Counter[str] = Counter()
        self.storm: tuple[dict[int, Counter[str]], dict[int, int], dict[str, int]] | None = None

    def _on_message(self, hub: str, leaf: str, obj: dict[str, Any]) -> None:
        version = obj.get("version")
        if leaf == "reported" and obj.get("status") == "applied" and isinstance(version, int):
            self.applied_at.setdefault(version, {}).setdefault(hub, time.monotonic())

    def broker_cpu(self) -> float:
        """CPU seconds of every node so far (a killed node counts with what it had used)."""
        for node in self.cluster.nodes:
            if node.pid is not None:
                with contextlib.suppress(OSError):
                    self.node_cpu[node.pid] = cpu_s(node.pid)
        return sum(self.node_cpu.values())

    def harness_cpu(self) -> float:
        """CPU seconds of the worker processes so far."""
        return sum(cpu_s(w.proc.pid) for w in self.workers)

    async def connect_attempts(self, admin: list[Any]) -> dict[str, int]:
        """Connect attempts so far: the hubs', the admin push's, the watcher's, the centre's."""
        stats = await all_stats(self.workers)
        outcomes: Counter[str] = Counter()
        for s in stats:
            outcomes.update(s["outcomes"])
        self.hub_outcomes = outcomes
        return {
            "hubs": sum(s["attempts"] for s in stats),
            "admin push": admin[-1].attempts if admin else 0,
            "watcher": self.watcher.attempts,
            "centre": self.centre.attempts,
        }

    async def storm_watch(self, t_kill: float, admin: list[Any], every_s: float = 15.0) -> None:
        """After a node kill, every `every_s`: each surviving node's sockets and descriptors
        and the connect attempts made since the kill, so a reconnect storm shows as it
        happens (and is on record even if the run must be stopped); peaks at the end."""
        base = await self.connect_attempts(admin)
        peak: dict[int, Counter[str]] = {}
        peak_fds: dict[int, int] = {}
        tick = 0
        try:
            while True:
                await asyncio.sleep(every_s)
                tick += 1
                sockets = await asyncio.to_thread(self.cluster.sockets)
                all_fds = await asyncio.to_thread(self.cluster.open_fds)
                # RabbitMQ's own file handle book, once a minute (rabbitmqctl costs ~1 s
                # of CPU a node): full, it leaves new connections unanswered (issue 21).
                book = (
                    await asyncio.to_thread(self.cluster.file_handle_book) if tick % 4 == 0 else {}
                )
                now = await self.connect_attempts(admin)
                parts = []
                for index, held in sorted(sockets.items()):
                    fds = all_fds.get(index, -1)
                    parts.append(
                        f"node {index + 1} {sum(held.values())} sockets"
                        f" ({held['established']} established, {held['close_wait']}"
                        f" CLOSE-WAIT), {fds} fds"
                        + (
                            " (file handle book: {1} of {0} used, {2} by sockets)".format(
                                *book[index]
                            )
                            if index in book
                            else ""
                        )
                    )
                    top = peak.setdefault(index, Counter())
                    for state, count in (*held.items(), ("all", sum(held.values()))):
                        top[state] = max(top[state], count)
                    peak_fds[index] = max(peak_fds.get(index, 0), fds)
                made = {who: now[who] - base[who] for who in now}
                self.storm = (peak, peak_fds, made)
                print(
                    f"  {time.monotonic() - t_kill:4.0f} s after the kill: {'; '.join(parts)};"
                    f" connect attempts since the kill {made}; the hubs' latest (<= 20 each)"
                    f" ended {dict(self.hub_outcomes.most_common())}",
                    flush=True,
                )
        except asyncio.CancelledError:
            if self.storm is not None:
                peak, peak_fds, made = self.storm
                print(
                    "after the kill, peaks per surviving node: "
                    + "; ".join(
                        f"node {i + 1} {top['all']} sockets ({top['close_wait']} CLOSE-WAIT),"
                        f" {peak_fds[i]} fds"
                        for i, top in sorted(peak.items())
                    )
                    + f"; connect attempts since the kill: {made}"
                )
            raise

    async def push(self, version: int, kill: bool) -> None:
        """One group push to every hub, alarms during it, maybe a node killed; print it."""
        args = self.args
        key = args.signing_key
        envelope = sign_envelope(
            key, version, PUSHED_BY_VERSION[version], datetime.now(UTC), group=GROUP
        )
        expected_s = args.hubs / args.rate
        for w in self.workers:
            await w.send("alarms", window=expected_s)
        for w in self.workers:
            await w.read()
        title = f"push {version} ({'a node killed during it' if kill else 'no failure'})"
        print(f"-- {title}: {args.hubs} hubs at {args.rate:g}/s (expected {expected_s:.0f} s)")
        progress: list[Any] = []
        cpu0, bcpu0 = self.harness_cpu(), self.broker_cpu()
        t_push = time.monotonic()
        pushing = asyncio.create_task(
            push(
                self.admin,
                envelope,
                ids(args.hubs),
                rate=args.rate,
                journal=self.tmp / f"v{version}.pushed",
                progress=progress.append,
            )
        )
        kill_wall = kill_mono = None
        watching: asyncio.Task[None] | None = None
        if kill:
            victim = self.rng.randrange(len(self.cluster.nodes))
            at = self.rng.uniform(0.1, 0.9) * expected_s
            await asyncio.sleep(at)
            stats = await all_stats(self.workers)
            on_victim = sum(s["nodes"].get(self.cluster.addresses[victim], 0) for s in stats)
            kill_wall, kill_mono = time.time(), time.monotonic()
            await asyncio.to_thread(self.cluster.kill, victim)
            self.killed = victim
            watching = asyncio.create_task(self.storm_watch(kill_mono, progress))
            done = len(self.applied_at.get(version, {}))
            print(
                f"killed node {victim + 1} ({self.cluster.addresses[victim]}, SIGKILL) at"
                f" {kill_mono - t_push:.1f} s into the push, {done} hubs applied by then;"
                f" it held {on_victim} hub sessions"
                + (", the admin's connection" if victim == 0 else "")
                + (
                    ", the watcher's"
                    if self.watcher.connected_to.endswith(f":{self.cluster.nodes[victim].port}")
                    else ""
                )
                + f" and centre consumer {victim}"
            )
        try:
            await asyncio.wait_for(pushing, args.timeout)
        except Exception as exc:  # reported; the run goes on to show what the hubs did
            print(f"push: did not finish: {type(exc).__name__}: {exc}")
        pushed_s = time.monotonic() - t_push
        last = progress[-1] if progress else None
        if last is not None:
            print(
                f"fleet push: {last.done}/{last.total} envelopes PUBACKed in {pushed_s:.1f} s"
                f" ({last.done / pushed_s:.0f}/s); {last.reconnects} reconnect(s),"
                f" {last.attempts} connect attempt(s), last via {last.node}"
            )
        # Until fleet watch has seen every hub's `applied`, or every hub has applied by its
        # own count (a report can be lost: then waiting for it would take the whole
        # timeout, and the figures below say which it was).
        deadline = time.monotonic() + args.timeout
        while len(self.applied_at.get(version, {})) < args.hubs:
            stats = await all_stats(self.workers)
            truth = sum(s["applied"].get(str(version), 0) for s in stats)
            if truth >= args.hubs or time.monotonic() > deadline:
                await asyncio.sleep(5)  # the last reports on their way to the watcher
                break
            await asyncio.sleep(2)
        seen = sorted(t - t_push for t in self.applied_at.get(version, {}).values())
        stats = await all_stats(self.workers)
        truth = sum(s["applied"].get(str(version), 0) for s in stats)
        hubs_done = sorted(t - t_push for s in stats for t in s["applied_at"].get(str(version), []))
        print(
            f"push -> `applied` seen by fleet watch: {len(seen)}/{args.hubs};"
            + (f" {spread(seen)} after the push started" if seen else "")
            + f"; hubs that applied (their own count): {truth}"
            + (f", {spread(hubs_done)} after the push started" if hubs_done else "")
            + f"; rejected {sum(s['rejected'] for s in stats)}"
        )
        print(
            f"CPU during the push: harness {self.harness_cpu() - cpu0:.0f} s,"
            f" broker nodes {self.broker_cpu() - bcpu0:.0f} s"
        )
        if kill_wall is not None:
            since = [t for s in stats for t in s["since"] if t is not None and t > kill_wall]
            moved = [t - kill_wall for t in since]
            nodes: Counter[str] = Counter()
            for s in stats:
                nodes.update(s["nodes"])
            print(
                f"reconnected after the kill: {len(moved)} hubs, {spread(moved)};"
                f" connected now {sum(s['connected'] for s in stats)}/{args.hubs};"
                f" per node {dict(sorted(nodes.items()))}"
            )
        try:
            await self.report_alarms(stats, version)
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching

    async def report_alarms(self, stats: list[dict[str, Any]], version: int) -> None:
        """Wait for the sample's alarms at the centre; print latency and losses."""
        alarms = {a: v for s in stats for a, v in s["alarms"].items()}
        fresh = {a: v for a, v in alarms.items() if a not in self.reported_alarms}
        await until(lambda: all(a in self.centre.first for a in fresh), 120)
        lost = [a for a in fresh if a not in self.centre.first]
        latency = [self.centre.first[a].at - v["at"] for a, v in fresh.items() if a not in lost]
        stats = await all_stats(self.workers)
        acked = sum(1 for s in stats for a, v in s["alarms"].items() if a in fresh and v["acked"])
        self.reported_alarms |= set(fresh)
        print(
            f"alarms during push {version}: {len(fresh)} raised, {len(fresh) - len(lost)}"
            f" reached the centre, LOST {len(lost)}, acknowledged back {acked};"
            f" raise -> centre {spread(latency)}"
        )


async def coordinate_cluster(args: argparse.Namespace) -> None:
    """The city benchmark on a RabbitMQ cluster (see the module docstring)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.sim.rabbitmq_cluster import RabbitCluster

    args.signing_key = Ed25519PrivateKey.generate()
    nofile = raise_nofile()
    # Each hub holds 3 descriptors (its socket and the client's wake-up pair).
    need = -(-args.hubs * 3 // (nofile - 256))
    args.workers = max(args.workers, need)
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"hubs {args.hubs} in {args.workers} processes, alarm sample {args.alarm_hubs};"
        f" heartbeat every {args.heartbeat:g} s; push rate {args.rate:g}/s; seed {args.seed};"
        f" RLIMIT_NOFILE {nofile}; hubs' reconnect spread"
        f" {'5 (default)' if args.reconnect_spread is None else f'{args.reconnect_spread:g}'} s"
    )
    with tempfile.TemporaryDirectory(prefix="pingan-city-") as tmp:
        cluster = RabbitCluster(
            args.cluster,
            Path(tmp) / "cluster",
            session_queues=args.session_queues,
            quorum_tick_ms=args.quorum_tick_ms,
            file_handle_limit=args.broker_file_handles,
            scheduler_bind_type=args.broker_scheduler_bind,
        )
        t0 = time.monotonic()
        await asyncio.to_thread(cluster.start)
        print(
            f"cluster: {args.cluster} RabbitMQ 3.10 nodes ({args.session_queues} session"
            f" queues, quorum_tick_interval {args.quorum_tick_ms or 'default'}, file handle"
            f" book {args.broker_file_handles or 'from the ulimit'}, schedulers bound"
            f" {args.broker_scheduler_bind or 'db (default)'}) up in"
            f" {time.monotonic() - t0:.0f} s: {', '.join(cluster.addresses)}"
        )
        run = CityRun(args, cluster, Path(tmp))
        tasks = [asyncio.create_task(run.watcher.run()), asyncio.create_task(run.centre.run())]
        try:
            await city(run)
        finally:
            try:
                for w in run.workers:
                    with contextlib.suppress(Exception):
                        await w.send("stop")
                        await asyncio.wait_for(w.read(), 120)
                        await asyncio.wait_for(w.proc.wait(), 30)
                    if w.proc.returncode is None:  # one outlived a finished run by 40 min
                        w.proc.kill()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                # Blocking, and in its own finally: a second Ctrl-C or kill while the
                # workers stop must still stop the nodes (they run in their own sessions).
                cluster.close()


async def city(run: CityRun) -> None:
    """Connect, measure memory and heartbeats, push twice (the second losing a node)."""
    args = run.args
    cluster = run.cluster
    await asyncio.sleep(5)
    base = cluster.memory_kib()
    bcpu0, w0 = run.broker_cpu(), time.monotonic()
    await asyncio.sleep(10)
    run.idle_cpu = (run.broker_cpu() - bcpu0) / (time.monotonic() - w0)
    print(
        f"broker nodes idle: {', '.join(f'{v / 1024:.0f}' for v in base.values())} MiB;"
        f" CPU {run.idle_cpu * 100:.0f} % of a core (all nodes, no hub)"
    )
    await asyncio.wait_for(run.watcher.subscribed.wait(), 60)
    for ready in run.centre.subscribed:
        await asyncio.wait_for(ready.wait(), 60)
    run.workers = await spawn_workers(
        args, cluster.addresses, public_key_text(args.signing_key), str(run.tmp)
    )
    built = [await w.read() for w in run.workers]
    print(f"built {sum(r['ready'] for r in built)} hubs")

    # -- connect
    t0 = time.monotonic()
    cpu0, bcpu0 = run.harness_cpu(), run.broker_cpu()
    for w in run.workers:
        await w.send("go", rate=args.connect_rate)

    async def show_progress() -> None:
        while True:
            await asyncio.sleep(30)
            up = sum(w.progress for w in run.workers)
            print(f"  connecting: {up} up after {time.monotonic() - t0:.0f} s", flush=True)

    shower = asyncio.create_task(show_progress())
    try:
        await asyncio.gather(*(w.read() for w in run.workers))
    finally:
        shower.cancel()
    connect_s = time.monotonic() - t0
    stats = await all_stats(run.workers)
    nodes: Counter[str] = Counter()
    for s in stats:
        nodes.update(s["nodes"])
    print(
        f"connect: {sum(s['connected'] for s in stats)} hubs connected, subscribed and"
        f" heartbeating in {connect_s:.0f} s ({args.hubs / connect_s:.0f}/s; connect rate"
        f" {args.connect_rate or 'unlimited'}); per node {dict(sorted(nodes.items()))};"
        f" CPU harness {run.harness_cpu() - cpu0:.0f} s, broker {run.broker_cpu() - bcpu0:.0f} s"
    )
    await asyncio.sleep(20)  # let queue declarations and the first heartbeats settle
    mem = cluster.memory_kib()
    grown = sum(mem.values()) - sum(base.values())
    harness = sum(s["rss_kib"] for s in stats)
    fds = sum(s["fds"] for s in stats)
    print(
        f"memory: broker nodes {', '.join(f'{v / 1024:.0f}' for v in mem.values())} MiB"
        f" (+{grown / 1024:.0f} MiB: {grown / args.hubs:.0f} KiB per session, all nodes);"
        f" harness {harness / 1024:.0f} MiB ({harness / args.hubs:.0f} KiB per simulated hub,"
        f" {fds / args.hubs:.1f} descriptors)"
    )
    run.memory_per_session_kib = grown / args.hubs
    book = await asyncio.to_thread(cluster.file_handle_book)
    print(
        "file handle book (RabbitMQ's, not the kernel's): "
        + "; ".join(
            f"node {i + 1} {used} of {limit} used ({sockets} sockets, {used - sockets} other)"
            for i, (limit, used, sockets) in sorted(book.items())
        )
        + f"; kernel descriptors {', '.join(str(v) for v in cluster.open_fds().values())}"
    )

    # -- heartbeats
    cpu0, bcpu0, w0 = run.harness_cpu(), run.broker_cpu(), time.monotonic()
    heard0 = sum(1 for k in run.watcher.state.hubs.values() if k.heard_at)
    await asyncio.sleep(args.window)
    dt = time.monotonic() - w0
    run.beat_cpu = (run.broker_cpu() - bcpu0) / dt
    print(
        f"heartbeating ({args.hubs / args.heartbeat:.0f} status/s) over {dt:.0f} s: CPU"
        f" broker nodes {(run.broker_cpu() - bcpu0) / dt * 100:.0f} % of a core, harness"
        f" {(run.harness_cpu() - cpu0) / dt * 100:.0f} %; the watcher knows"
        f" {len(run.watcher.state.hubs)} hubs ({heard0} at the start of the window)"
    )

    await run.push(1, kill=False)
    await run.push(2, kill=True)
    await truth(run)


async def truth(run: CityRun) -> None:
    """What `fleet status --state` says, a heartbeat after the push, against the hubs."""
    from hub.fleet.status import judge_silence, lagging, summarize
    from hub.fleet.watch import FLUSH_S, read_state, to_rows

    args = run.args
    wait_s = args.heartbeat + 2 * FLUSH_S + 5
    print(f"-- fleet status, {wait_s:.0f} s later (one heartbeat + the watcher's flush)")
    await asyncio.sleep(wait_s)
    stats = await all_stats(run.workers)
    running: Counter[str] = Counter()
    for s in stats:
        running.update(s["running"])
    connected = sum(s["connected"] for s in stats)
    state_file = run.tmp / "fleet.sqlite"
    t0 = time.monotonic()
    known, _meta = read_state(state_file)
    rows = to_rows(known)
    judge_silence(rows, datetime.now(UTC), 180.0)
    summary = summarize(rows)
    behind = lagging(rows, 2)
    read_s = time.monotonic() - t0
    now = datetime.now(UTC)
    ages = sorted(
        (now - datetime.fromisoformat(r.last_heartbeat.replace("Z", "+00:00"))).total_seconds()
        for r in rows
        if r.last_heartbeat
    )
    print(
        f"fleet status --state: {summary['hubs']} hubs, state {summary['state']},"
        f" config {summary['config']}, lagging {len(behind)} (read and folded in {read_s:.2f} s);"
        f" last heartbeat age p50 {percentile(ages, 50) if ages else 0:.0f} s, oldest"
        f" {ages[-1] if ages else 0:.0f} s, none for {summary['hubs'] - len(ages)} hubs"
    )
    print(f"the hubs themselves: connected {connected}, running config {dict(running)}")
    for argv in (["--json"], ["--lagging"]):
        t0 = time.monotonic()
        done = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "fleet",
            "status",
            "--state",
            str(state_file),
            *argv,
            stdout=asyncio.subprocess.DEVNULL,
        )
        await done.wait()
        took = time.monotonic() - t0
        print(
            f"`pingan-hub fleet status --state FILE {' '.join(argv)}`: {took:.2f} s"
            f" for {args.hubs} hubs (a new process, exit {done.returncode})"
        )
    per = run.memory_per_session_kib
    city_gib = per * FLEET_OF_THE_CITY / 2**20
    per_hub_cpu = max(0.0, run.beat_cpu - run.idle_cpu) / args.hubs
    city_cores = run.idle_cpu + per_hub_cpu * FLEET_OF_THE_CITY
    print(
        f"-- extrapolated to {FLEET_OF_THE_CITY:,} hubs (linear in the per-hub figures"
        f" measured at {args.hubs:,}): broker memory {city_gib:.1f} GiB across the cluster"
        f" for the sessions ({per:.0f} KiB each); broker CPU heartbeating"
        f" {city_cores:.1f} cores ({per_hub_cpu * 1e6:.0f} µs/s per hub at a"
        f" {args.heartbeat:g} s heartbeat, over an idle cluster's {run.idle_cpu:.2f});"
        f" a push at {args.rate:g}/s: {FLEET_OF_THE_CITY / args.rate / 60:.0f} min"
    )


def main() -> None:
    """Parse arguments; run as the coordinator, or as one worker process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=1000, help="simulated hubs (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=None,
        dest="heartbeat_given",
        help="mqtt.heartbeat_s of every hub (default 10; 60 with --cluster)",
    )
    parser.add_argument(
        "--window", type=float, default=None, help="heartbeat measuring window (3 heartbeats)"
    )
    parser.add_argument("--timeout", type=float, default=None, help="give up waiting (s)")
    parser.add_argument(
        "--cluster", type=int, default=0, help="RabbitMQ nodes instead of one mosquitto"
    )
    parser.add_argument(
        "--alarm-hubs", type=int, default=0, help="hubs that raise an SOS during each push"
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_PUSH_RATE, help="fleet push publishes per second"
    )
    parser.add_argument(
        "--connect-rate",
        type=float,
        default=None,
        help="hubs started per second (0: all at once; default 0, 20 with --cluster)",
    )
    parser.add_argument(
        "--session-queues", choices=("quorum", "classic"), default="quorum", help="RabbitMQ's"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (kill moment)")
    parser.add_argument(
        "--quorum-tick-ms",
        type=int,
        default=None,
        help="RabbitMQ's quorum_tick_interval (default: RabbitMQ's, 5000)",
    )
    parser.add_argument(
        "--broker-file-handles",
        type=int,
        default=None,
        help="RabbitMQ's file_handles_high_watermark on each node (default: its ulimit less"
        " 100). Each quorum session reserves handles in RabbitMQ's book (5 on its leader's"
        " node, 2 on each follower's) whatever is open; a node needs about 4 per session"
        " of the cluster to survive a node kill (bench/README.md)",
    )
    parser.add_argument(
        "--broker-scheduler-bind",
        choices=("u", "db", "ns", "ts", "ps", "s", "nnps", "nnts", "tnnps"),
        default=None,
        help="each node's Erlang scheduler bind type (default: RabbitMQ's db, made for one"
        " node per host: every node here binds its first scheduler to the same core; u"
        " leaves them to the kernel)",
    )
    parser.add_argument(
        "--protocol",
        choices=("auto", "5", "3.1.1"),
        default=None,
        help="mqtt.protocol of every hub (default auto; 3.1.1 with --cluster: RabbitMQ 3.10"
        " answers an MQTT 5 CONNECT by closing and logging ~70 lines)",
    )
    parser.add_argument(
        "--reconnect-spread",
        type=float,
        default=None,
        metavar="S",
        help="mqtt.reconnect_spread_s of every hub (default: the hub's, 5 s): a lost"
        " session's first reconnect comes at a random moment within S seconds",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--brokers", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Started in the background from a script, a process inherits SIGINT ignored: Ctrl-C
    # or kill -INT must still end a run cleanly (nodes stopped, files removed).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # kill (SIGTERM) too: it used to end the coordinator at once and leave the broker
    # nodes (their own sessions) running, 7 GiB each after a 10,000-hub run.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    args.heartbeat = args.heartbeat_given if args.heartbeat_given is not None else 10.0
    if args.worker:
        asyncio.run(run_worker(args))
        return
    if args.cluster:
        if args.seed is None:
            args.seed = random.randrange(1 << 30)
        if args.heartbeat_given is None:
            args.heartbeat = 60.0  # the shipped mqtt.heartbeat_s
        if args.protocol is None:
            args.protocol = "3.1.1"
        if args.connect_rate is None:
            # All at once, each hub's session a replicated queue and three bindings, a
            # 3-node cluster on two shared cores times its own calls out and the hubs'
            # retries snowball (seen with 2,000 at load 12). A city's hubs do not all
            # boot in the same second either.
            args.connect_rate = 20.0
        if args.window is None:
            args.window = args.heartbeat
        if args.timeout is None:
            args.timeout = 900.0
        asyncio.run(coordinate_cluster(args))
        return
    if args.protocol is None:
        args.protocol = "auto"
    if args.window is None:
        args.window = 3 * args.heartbeat
    if args.timeout is None:
        args.timeout = 120.0
    asyncio.run(coordinate(args))


if __name__ == "__main__":
    main()

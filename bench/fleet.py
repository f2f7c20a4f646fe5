"""1,000 hub uplinks on one mosquitto: group config push -> 1,000 `applied`, heartbeat load.

Each simulated hub runs the hub's real sync code: `hub.sync.uplink.Uplink` (aiomqtt on
paho, persistent session, LWT, retained heartbeat, subscriptions to ack/cmd/config),
and on `config/desired` the hub's own push path (`hub.sync.config_push.receive_push`:
`verify_envelope` with its Ed25519 check and full config validation, `ConfigStore`
written atomically with fsync, then `confirm_push` and the `config/reported` payload).
What a simulated hub does NOT have: SQLite outbox, GPIO, care checks, registry. Its
outbox is an empty stand-in (nothing is ever committed), so the heartbeat reports
depth 0; the event path is measured by bench/sos_latency.py.

Many hubs per process, several processes (one core cannot carry 1,000 TLS-less MQTT
sessions and their pushes alone on this machine; the broker takes the other core).
The admin side is `hub.fleet.push`, the code behind `pingan-hub fleet push`: one
envelope signed for group "bench", published retained to each hub's config/desired.

    .venv/bin/python -m bench.fleet [--hubs 1000] [--workers 2] [--heartbeat 10]

Prints: connect time for all hubs; push -> all `applied` (target <= 10 s); the broker's
own message counters ($SYS, every second) over a window of heartbeats; CPU and memory
of the harness and of mosquitto.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiomqtt

from bench.common import machine, percentile, rss_kib
from hub import __version__
from hub.clock import SystemClock
from hub.config import Config, parse_config
from hub.fleet import Broker, push
from hub.sim.broker import Mosquitto
from hub.store.config_store import ConfigStore
from hub.store.outbox import AsyncOutbox
from hub.sync.config_push import confirm_push, receive_push
from hub.sync.messages import Ack
from hub.sync.ota import ApplyGuard, ReportStatus, public_key_text, reported_payload, sign_envelope
from hub.sync.uplink import Uplink

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


class _EmptyOutbox:
    """What the uplink sees of an outbox nothing is committed to (the bench has no events)."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    def take_fresh(self) -> tuple[list[Any], bool]:
        return [], False

    async def pending_upto(self, limit: int) -> tuple[list[Any], int]:
        return [], 0

    async def mark_sent(self, event_ids: list[str], when: datetime | None = None) -> int:
        return 0


class LiteHub:
    """One simulated hub: the real Uplink and the real config push path, nothing else."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.local_raw = raw
        self.cfg: Config = parse_config(raw)
        self.clock = SystemClock()
        self.store = ConfigStore(self.cfg.data_path)
        self.guard = ApplyGuard(self.cfg.fleet.rollback_after_s)
        self.lock = asyncio.Lock()
        self.config_version = 0
        self.applied = 0
        self.rejected = 0
        self.started_at = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.uplink = Uplink(
            self.cfg,
            cast(AsyncOutbox, _EmptyOutbox()),
            on_sent=lambda _event: None,
            on_ack=self._on_ack,
            on_command=lambda _name, _args: None,
            status_payload=self.heartbeat,
            on_config=self._on_config,
            on_connected=self._on_connected,
        )

    def _on_ack(self, ack: Ack) -> None:
        pass

    async def heartbeat(self) -> dict[str, Any]:
        """The same fields as Hub.heartbeat (an empty outbox, no paired devices)."""
        return {
            "ts": self.clock.now().isoformat().replace("+00:00", "Z"),
            "version": __version__,
            "config_version": self.config_version,
            "uptime_s": round(time.monotonic() - self.started_at),
            "outbox": {"0": 0, "1": 0, "2": 0},
            "open_alarms": 0,
            "devices": {"online": 0, "offline": 0, "low_battery": 0},
        }

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_config(self, raw: bytes) -> None:
        self._spawn(self._apply(raw))

    async def _apply(self, raw: bytes) -> None:
        async with self.lock:  # as Hub._apply_config
            accepted, report = await receive_push(
                self.store, raw, self.cfg, self.local_raw, self.clock
            )
            if accepted is None:
                self.rejected += 1
                if report is not None:
                    self.uplink.report(report)
                return
            self.cfg = accepted.config  # as Hub._use_config, for the parts a LiteHub has
            self.config_version = accepted.version
            self.uplink.reconfigure(accepted.config)
            self.guard.on_applied(accepted.version, self.clock.monotonic())
        if self.uplink.state.connected:
            self._on_connected()

    def _on_connected(self) -> None:
        version = self.guard.on_connected(self.clock.monotonic())
        if version is not None:
            self._spawn(self._confirm(version))

    async def _confirm(self, version: int) -> None:
        async with self.lock:
            await confirm_push(self.store, version)
        self.applied += 1
        self.uplink.report(reported_payload(version, ReportStatus.APPLIED, self.clock.now()))


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the coordinating process."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run_worker(args: argparse.Namespace) -> None:
    """Build this process's hubs, connect them on "go", answer "stats", end on "stop"."""
    raise_nofile()
    logging.basicConfig(level=logging.ERROR, format="[worker] %(name)s: %(message)s")
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    hubs = []
    for n in range(args.first, args.first + args.count):
        data = Path(args.dir) / hub_id(n)
        data.mkdir(parents=True, exist_ok=True)
        raw = {
            "hub": {"id": hub_id(n), "data_dir": str(data)},
            "mqtt": {"host": "127.0.0.1", "port": args.port, "heartbeat_s": args.heartbeat},
            "fleet": {"public_keys": [args.key], "groups": [GROUP]},
        }
        hubs.append(LiteHub(raw))
    emit({"ready": len(hubs), "rss_kib": rss_kib()})
    runs: list[asyncio.Task[None]] = []
    while line := (await stdin.readline()).decode().strip():
        if line == "go":
            t0 = time.monotonic()
            runs = [asyncio.create_task(h.uplink.run()) for h in hubs]
            await asyncio.gather(*(h.uplink.connected.wait() for h in hubs))
            emit({"connected_s": time.monotonic() - t0})
        elif line == "stats":
            emit(
                {
                    "applied": sum(h.applied for h in hubs),
                    "rejected": sum(h.rejected for h in hubs),
                    "connected": sum(h.uplink.state.connected for h in hubs),
                    "errors": sum(bool(h.uplink.state.last_error) for h in hubs),
                    "heartbeats": sum(h.uplink.state.last_heartbeat is not None for h in hubs),
                    "rss_kib": rss_kib(),
                    "threads": len(os.listdir("/proc/self/task")),
                }
            )
        elif line == "stop":
            break
    for h in hubs:
        h.uplink.stopping = True
    for task in runs:
        task.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
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

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a worker process died (see its stderr above)")
        result: dict[str, Any] = json.loads(line)
        return result

    async def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()


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
        per = -(-args.hubs // args.workers)
        workers = []
        for w in range(args.workers):
            first = 1 + w * per
            count = min(per, args.hubs - w * per)
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bench.fleet", "--worker", "--port", str(broker.port)),
                *("--first", str(first), "--count", str(count), "--dir", f"{tmp}/hubs"),
                *("--heartbeat", str(args.heartbeat), "--key", public_key_text(key)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            workers.append(Worker(proc))
        ready = [await w.read() for w in workers]
        print(f"built {sum(r['ready'] for r in ready)} hubs")
        pids = [w.proc.pid for w in workers]
        cpu0 = [cpu_s(p) for p in pids]
        broker_cpu0 = cpu_s(broker.proc.pid)

        # -- connect
        t0 = time.monotonic()
        for w in workers:
            await w.send("go")
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
            f"hubs: applied {sum(s['applied'] for s in stats)}, rejected"
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


def main() -> None:
    """Parse arguments; run as the coordinator, or as one worker process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=1000, help="simulated hubs (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument(
        "--heartbeat", type=float, default=10.0, help="mqtt.heartbeat_s of every hub (default 10)"
    )
    parser.add_argument(
        "--window", type=float, default=None, help="heartbeat measuring window (3 heartbeats)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="give up waiting (s)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(run_worker(args))
        return
    if args.window is None:
        args.window = 3 * args.heartbeat
    asyncio.run(coordinate(args))


if __name__ == "__main__":
    main()

"""SD-card wear: bytes the hub makes the block layer write, per day, and what each file costs.

The hub's data directory is its own ext4 on a loop device, made and mounted as the image
makes and mounts the data partition (image/assemble.sh, image/rootfs.sh: `noatime,
data=ordered`, default 5 s journal commit). The hub runs as its own process, in real
time (no scaled clock: the 0.1 s batching of PUBACK marks and alarm records, the 30 s
health-archive flush and the 5 min / 15 min state saves all keep their real periods), for
`--minutes` of one elder's ordinary day at its average rates:

- 4 PIRs and 2 door contacts on RFLink (a real pty): a motion report every 90 s
  somewhere in the home, a door opened and closed every 36 min (20 a day);
- a wristband (GATT): heart rate every 5 s, SpO2 every 3 min, given to the hub's
  reading pipeline in its own process (there is no BLE radio here);
- the green check-in once, the broker up, the simulated centre acknowledging.

The loop device's own counters (/sys/block/loopN/stat: sectors written, write requests,
flushes) give what reached the "card" with the journal and metadata included; they are
read after a `sync`, so nothing written by the hub is left in the page cache. A hub runs
for months, so only its steady state is scaled to a day (x 1440 / minutes): the window
starts `--settle-s` after the hub started and its devices were paired, and ends before
it is stopped. What happens once is measured on its own and printed apart, not scaled:
the first start (the database made), the pairings, the stop, a later boot (start, 5 s,
stop), and the day's one check-in (its 10 s are taken out of the window and counted
once a day, with those seconds' background: a little over its own cost).

Per file, the hub's own system calls are counted with strace (`-y`, so each write names
its file): bytes written, fsync/fdatasync calls, renames (an atomic rewrite writes a
temp file and renames it over the real one; both count for the real file). The block
layer cannot be split per file without kernel tracing, which this machine does not
have; the forced journal commits per file (its fsyncs) are what costs most on ext4.

Needs root (losetup, mount) and strace.

    .venv/bin/python -m bench.sd_wear [--minutes 30] [--no-strace] [--group-s 900]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import machine
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto
from hub.sim.centre import SimulatedCentre

DAY_MIN = 1440
PIR_EVERY_S = 90.0
DOOR_EVERY_S = 36 * 60.0
DOOR_OPEN_S = 40.0
HEART_RATE_EVERY_S = 5.0
SPO2_EVERY_S = 180.0
PIRS = ("000111", "000112", "000113", "000114")
DOORS = ("123456", "123457")
ROOMS = ("客厅", "卧室", "厨房", "卫生间")
WRISTBAND = "C0:FF:EE:00:00:01"
# What the hub's files are called in the report: temp files of atomic rewrites are
# counted for the file they replace.
_TEMP = re.compile(r"^\.(?P<name>.+?)\.[A-Za-z0-9_]{6,}(\.tmp)?$")


def pir_line(ident: str) -> bytes:
    return f"20;31;Eurodomest;ID={ident};PIR=ON;\r\n".encode()


def door_line(ident: str, opened: bool) -> bytes:
    return f"20;2D;Eurodomest;ID={ident};SWITCH=01;CMD={'ON' if opened else 'OFF'};\r\n".encode()


# -- the hub's process ------------------------------------------------------------------


async def hub_process(spec: dict[str, Any]) -> None:
    """Run the hub until SIGTERM, feeding it the wristband's readings."""
    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.config import parse_config
    from hub.reading import Reading

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    raw: dict[str, Any] = {
        "hub": {"id": "WEAR-1", "data_dir": spec["data_dir"], "log_level": "WARNING"},
        "mqtt": {"host": "127.0.0.1", "port": spec["port"]},
        "gpio": {"pin_factory": "mock", "bounce_s": 0.0},
        "voice": {"prompts": False},
        "rflink": {"port": spec["rflink"]},
    }
    if spec.get("group_s") is not None:  # an option measured, not the default
        raw["outbox"] = {"telemetry_group_s": spec["group_s"]}
    h = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await h.start()

    async def wristband() -> None:
        n = 0
        while True:
            await asyncio.sleep(HEART_RATE_EVERY_S)
            n += 1
            bpm = 64 + n % 17
            await h.readings.handle_reading(
                Reading(WRISTBAND, "ble_gatt", "heart_rate", {"bpm": bpm, "sensor_contact": True})
            )
            if n % int(SPO2_EVERY_S / HEART_RATE_EVERY_S) == 0:
                await h.readings.handle_reading(
                    Reading(WRISTBAND, "ble_gatt", "spo2", {"spo2_pct": 96 + n % 3})
                )

    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    band = asyncio.create_task(wristband())
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass
    finally:
        band.cancel()
        await h.stop()


# -- the loop device --------------------------------------------------------------------


@dataclass
class BlockCounters:
    """/sys/block/<dev>/stat: the write side."""

    write_ios: int
    sectors_written: int
    flushes: int

    @classmethod
    def read(cls, dev: str) -> BlockCounters:
        fields = [int(x) for x in Path(f"/sys/block/{dev}/stat").read_text().split()]
        return cls(fields[4], fields[6], fields[15] if len(fields) > 15 else 0)

    def __sub__(self, other: BlockCounters) -> BlockCounters:
        return BlockCounters(
            self.write_ios - other.write_ios,
            self.sectors_written - other.sectors_written,
            self.flushes - other.flushes,
        )


@contextlib.contextmanager
def data_partition(workdir: Path, size_mb: int) -> Any:
    """An ext4 on a loop device, mounted as the image mounts the data partition."""
    image = workdir / "data.ext4"
    mount = workdir / "data"
    mount.mkdir()
    with image.open("wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "PINGANDATA", str(image)], check=True)
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        subprocess.run(
            [
                "mount",
                "-t",
                "ext4",
                "-o",
                "rw,noatime,nodev,nosuid,noexec,data=ordered",
                dev,
                mount,
            ],
            check=True,
        )
        try:
            yield Path(dev).name, mount
        finally:
            subprocess.run(["umount", mount], check=False)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


# -- per-file costs from strace ---------------------------------------------------------


@dataclass
class FileCost:
    writes: int = 0
    bytes: int = 0
    syncs: int = 0
    renames: int = 0
    seen: set[str] = field(default_factory=set)


_CALL = re.compile(
    r"^(?:\d+\s+)?(?P<t>\d+\.\d+)\s+(?P<name>\w+)\((?P<fd>-?\d+)?(?:<(?P<path>[^>]*)>)?(?P<rest>.*)"
    r"\)\s+=\s+(?P<ret>-?\d+)"
)
_RENAME_TO = re.compile(r'"(?P<src>[^"]+)",\s*(?:-?\d+<[^>]*>,\s*)?"(?P<dst>[^"]+)"')


def file_name(path: str, data_dir: str) -> str | None:
    """The report's name for a path: relative to the data dir, temp files folded in."""
    if not path.startswith(data_dir + "/"):
        return None
    name = path[len(data_dir) + 1 :]
    base = os.path.basename(name)
    m = _TEMP.match(base)
    if m:
        name = os.path.join(os.path.dirname(name), m["name"])
    return name


def parse_strace(log: Path, data_dir: str, since: float, until: float) -> dict[str, FileCost]:
    """Bytes, syncs and renames per data-dir file, between two wall-clock times."""
    costs: dict[str, FileCost] = defaultdict(FileCost)
    for line in log.read_text(errors="replace").splitlines():
        m = _CALL.match(line)
        if not m or not since <= float(m["t"]) <= until or int(m["ret"]) < 0:
            continue
        call_name, path = m["name"], m["path"] or ""
        if call_name.startswith("rename"):
            r = _RENAME_TO.search(line)
            name = file_name(r["dst"], data_dir) if r else None
            if name is None and r:
                name = file_name(os.path.join(data_dir, r["dst"]), data_dir)
            if name:
                costs[name].renames += 1
            continue
        name = file_name(path, data_dir)
        if name is None:
            continue
        cost = costs[name]
        if call_name in ("write", "pwrite64", "writev", "pwritev", "pwritev2"):
            cost.writes += 1
            cost.bytes += int(m["ret"])
        elif call_name in ("fsync", "fdatasync"):
            cost.syncs += 1
    return costs


def sync(mount: Path) -> None:
    """Everything written to the data partition reaches the (loop) device."""
    subprocess.run(["sync", "-f", str(mount)], check=True)


def hub_pid(strace_pid: int) -> int:
    """The hub under strace (strace itself ignores a SIGTERM meant for the hub)."""
    children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    return int(children[0])


# -- the run ----------------------------------------------------------------------------


async def start_hub(
    tmp: str, spec: dict[str, Any], trace: Path | None, log_name: str
) -> tuple[asyncio.subprocess.Process, int, Path]:
    """Start the hub process (under strace when `trace`); return once its uplink is up."""
    cmd = [sys.executable, "-m", "bench.sd_wear", "--hub-process", json.dumps(spec)]
    if trace is not None:
        cmd = [
            "strace", "-f", "-qq", "-ttt", "-y", "--seccomp-bpf", "-o", str(trace),
            "-e", "trace=write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync,"
            "rename,renameat,renameat2",
            *cmd,
        ]  # fmt: skip
    log = os.open(Path(tmp) / log_name, os.O_WRONLY | os.O_CREAT, 0o600)
    proc = await asyncio.create_subprocess_exec(*cmd, stderr=log)
    sock = Path(spec["data_dir"]) / "control.sock"
    deadline = time.monotonic() + 60
    while True:
        try:
            if call(sock, "status")["uplink"]["connected"]:
                return proc, log, sock
        except ControlError:
            pass
        if time.monotonic() > deadline or proc.returncode is not None:
            print((await asyncio.to_thread(Path(tmp, log_name).read_text))[-3000:])
            raise SystemExit("the hub did not come up")
        await asyncio.sleep(0.2)


async def stop_hub(proc: asyncio.subprocess.Process, log: int, traced: bool) -> None:
    """SIGTERM the hub (not strace) and wait for it to exit."""
    os.kill(hub_pid(proc.pid) if traced else proc.pid, signal.SIGTERM)
    await proc.wait()
    os.close(log)


async def measured(dev: str, mount: Path, what: Any) -> BlockCounters:
    """The block-layer writes of `what` (an awaitable), synced before and after."""
    await asyncio.to_thread(sync, mount)
    before = BlockCounters.read(dev)
    await what
    await asyncio.to_thread(sync, mount)
    return BlockCounters.read(dev) - before


def once(label: str, delta: BlockCounters) -> str:
    return (
        f"  {label:44} {delta.sectors_written * 512 / 1e3:8.0f} KB, "
        f"{delta.write_ios:5d} write requests, {delta.flushes:4d} flushes"
    )


async def run(
    minutes: float, use_strace: bool, size_mb: int, settle_s: float, group_s: float | None
) -> int:
    print(f"machine: {machine()}")
    if os.geteuid() != 0:
        raise SystemExit("sd_wear needs root (losetup, mount): run it as root")
    if use_strace and shutil.which("strace") is None:
        raise SystemExit("strace not found: apt-get install strace, or pass --no-strace")
    with (
        tempfile.TemporaryDirectory(dir="/var/tmp") as tmp,
        data_partition(Path(tmp), size_mb) as (dev, mount),
        Mosquitto() as broker,
    ):
        data_dir = str(mount / "hub")
        master, slave = os.openpty()
        centre = SimulatedCentre("127.0.0.1", broker.port, say=lambda _s: None, resolve=True)
        centre_task = asyncio.create_task(centre.run())
        spec = {
            "data_dir": data_dir,
            "port": broker.port,
            "rflink": os.ttyname(slave),
            "group_s": group_s,
        }
        trace = Path(tmp) / "strace.log"
        # Once per boot or once ever, never x48: the first start (the database made),
        # the pairings, a day's check-in, the stop, and a second boot of the same hub.
        started: list[tuple[asyncio.subprocess.Process, int, Path]] = []

        async def first_start() -> None:
            started.append(await start_hub(tmp, spec, trace if use_strace else None, "hub.log"))

        first_boot = await measured(dev, mount, first_start())
        proc, log, sock = started[-1]

        async def pair_all() -> None:
            for i, ident in enumerate(PIRS):
                call(sock, "pair", key=f"rflink:Eurodomest:{ident}", kind="motion", room=ROOMS[i])
            for ident, room in zip(DOORS, ("大门", "阳台"), strict=True):
                call(sock, "pair", key=f"rflink:Eurodomest:{ident}:01", kind="door", room=room)
            call(sock, "pair", key=WRISTBAND, kind="wearable", name="手环")

        pairing = await measured(dev, mount, pair_all())
        # Let what the start and the pairings set going land (a registry flush, the first
        # care save) before the day's window: they happen once, not 48 times a day.
        await asyncio.sleep(settle_s)
        await asyncio.to_thread(sync, mount)
        before = BlockCounters.read(dev)
        events_before = call(sock, "status").get("outbox", {})
        t0 = time.time()
        real0 = time.monotonic()
        sent = {"pir": 0, "door": 0}
        next_pir, next_door = PIR_EVERY_S / 2, DOOR_EVERY_S / 3
        door_close: float | None = None
        checkin_at = minutes * 60 / 2  # once in the window, measured on its own (below)
        checkin = BlockCounters(0, 0, 0)
        checkin_s = 10.0
        checkin_t0 = checkin_t1 = 0.0
        n = 0
        while (elapsed := time.monotonic() - real0) < minutes * 60:
            if elapsed >= next_pir:
                os.write(master, pir_line(PIRS[n % len(PIRS)]))
                n += 1
                sent["pir"] += 1
                next_pir += PIR_EVERY_S
            if elapsed >= next_door:
                os.write(master, door_line(DOORS[sent["door"] % 2], True))
                door_close = elapsed + DOOR_OPEN_S
                next_door += DOOR_EVERY_S
            if door_close is not None and elapsed >= door_close:
                os.write(master, door_line(DOORS[sent["door"] % 2], False))
                sent["door"] += 1
                door_close = None
            if elapsed >= checkin_at:
                # The day's one green press: its few seconds are taken out of the window
                # and counted once a day (with the background of those seconds, a little
                # over its own cost).
                checkin_at = float("inf")
                checkin_t0 = time.time()
                press = asyncio.to_thread(call, sock, "press", button="ok", hold_s=0.05)
                checkin = await measured(
                    dev, mount, asyncio.gather(press, asyncio.sleep(checkin_s))
                )
                checkin_t1 = time.time()
            await asyncio.sleep(0.5)
        await asyncio.to_thread(sync, mount)
        t1 = time.time()
        delta = BlockCounters.read(dev) - before - checkin
        window_s = time.monotonic() - real0 - checkin_s
        status = call(sock, "status")
        stopping = await measured(dev, mount, stop_hub(proc, log, use_strace))
        started.clear()

        async def second_boot() -> None:
            started.append(await start_hub(tmp, spec, None, "hub2.log"))
            await asyncio.sleep(5.0)
            await stop_hub(started[-1][0], started[-1][1], False)

        reboot = await measured(dev, mount, second_boot())
        centre_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await centre_task
        os.close(master)
        os.close(slave)
        costs: dict[str, FileCost] = {}
        if use_strace:  # the steady window, the check-in's seconds left out
            for since, until in ((t0, checkin_t0 or t1), (checkin_t1 or t1, t1)):
                for name, c in parse_strace(trace, data_dir, since, until).items():
                    total = costs.setdefault(name, FileCost())
                    total.writes += c.writes
                    total.bytes += c.bytes
                    total.syncs += c.syncs
                    total.renames += c.renames
        hub_log = await asyncio.to_thread(Path(tmp, "hub.log").read_text, errors="replace")
        hub_log += await asyncio.to_thread(Path(tmp, "hub2.log").read_text, errors="replace")
    scale = DAY_MIN * 60 / window_s
    day = BlockCounters(
        round(delta.write_ios * scale) + checkin.write_ios,
        round(delta.sectors_written * scale) + checkin.sectors_written,
        round(delta.flushes * scale) + checkin.flushes,
    )
    mb_day = day.sectors_written * 512 / 1e6
    x48 = delta.sectors_written + checkin.sectors_written
    print(
        f"window: {window_s / 60:.1f} min of real time in steady state (after the start, the "
        f"pairings and {settle_s:g} s of settling; before the stop), scaled x{scale:.1f} to a "
        f"day; the check-in's {checkin_s:g} s taken out and counted once"
    )
    print(f"sent: {sent['pir']} PIR, {sent['door']} door open/close, "
          f"{int(minutes * 60 / HEART_RATE_EVERY_S)} heart rate, "
          f"{int(minutes * 60 / SPO2_EVERY_S)} SpO2, 1 check-in")  # fmt: skip
    print(f"outbox: before {json.dumps(events_before)}")
    print(f"outbox: after  {json.dumps(status.get('outbox', {}))}")
    print(
        f"block layer: {mb_day:.1f} MB/day written ({delta.sectors_written * 512 / 1e6:.2f} MB in "
        f"the window), {day.write_ios:.0f} write requests/day, {day.flushes:.0f} flushes/day"
    )
    print(
        f"  steady state alone: {delta.sectors_written * 512 * scale / 1e6:.1f} MB/day, "
        f"{delta.flushes * scale:.0f} flushes/day; as the bench counted before (the check-in "
        f"scaled with the window): {x48 * 512 * scale / 1e6:.1f} MB/day"
    )
    print("once, not per day:")
    print(once("first start (database and files made)", first_boot))
    print(once("pairing 7 devices", pairing))
    print(once(f"the check-in ({checkin_s:g} s around it)", checkin))
    print(once("stop", stopping))
    print(once("a later boot: start, 5 s, stop", reboot))
    if costs:
        total_syncs = sum(c.syncs for c in costs.values())
        print(f"hub's fsync/fdatasync calls (steady state): {total_syncs * scale:.0f}/day")
        print(
            f"{'file':34} {'writes/day':>11} {'KB/day':>10} {'syncs/day':>10} {'renames/day':>12}"
        )
        for name, c in sorted(costs.items(), key=lambda kv: (-kv[1].syncs, -kv[1].bytes)):
            print(
                f"{name:34} {c.writes * scale:11.0f} {c.bytes * scale / 1e3:10.0f} "
                f"{c.syncs * scale:10.0f} {c.renames * scale:12.0f}"
            )
    errors = [line for line in hub_log.splitlines() if " ERROR " in line or "Traceback" in line]
    for line in errors[:10]:
        print(f"hub log: {line}")
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="real minutes to run")
    parser.add_argument("--no-strace", action="store_true", help="block-layer totals only")
    parser.add_argument("--size-mb", type=int, default=512, help="data partition size")
    parser.add_argument(
        "--settle-s", type=float, default=90.0, help="seconds after the pairings before the window"
    )
    parser.add_argument(
        "--group-s", type=float, help="outbox.telemetry_group_s (default: the hub's own)"
    )
    parser.add_argument("--hub-process", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hub_process:
        asyncio.run(hub_process(json.loads(args.hub_process)))
        return
    raise SystemExit(
        asyncio.run(
            run(args.minutes, not args.no_strace, args.size_mb, args.settle_s, args.group_s)
        )
    )


if __name__ == "__main__":
    main()

"""Many real power cuts of a running hub without a full boot before each one.

bench/vm_power_cut.py boots the image before every cut; under emulation (an arm64 guest
on an x86-64 machine: minutes per boot) a hundred of those take hours. Here the image
boots once, the hub comes up and connects, and the whole machine is paused and its state
(RAM with the kernel's page cache, devices) saved; the disk is frozen at that instant.
The driver (the hub commits events through its control socket and sends them to the
broker here) is already running when the machine is saved. Each round resumes that same
running system on a fresh copy-on-write overlay of the frozen disk (seconds), reads the
driver's confirmations for a random 0.5-8 s, and SIGKILLs QEMU: the
guest's page cache, its block queue and whatever the disk had not been told to flush
are gone, as in bench/vm_power_cut.py.

After each cut the round's disk is checked here instead of by booting it: the data
partition is copied out, `e2fsck -fy` replays its journal as the mount at boot would
(and must leave it consistent: exit 0 or 1), and the hub's database (hub.db with its
WAL) is opened with SQLite, which recovers it as the hub would at start. Checks per
cut: the database's integrity check is ok; every event whose `C id seq` line reached
this machine before the cut is in the database with that seq, or was already delivered
to the broker with it (the sent log is trimmed); the stored seq counter is at least the
highest committed seq (no seq can be handed out again); no seq belongs to two events.

What this does not show, and bench/vm_power_cut.py (a full boot after each cut) does:
the guest's own boot-time fsck and the hub's restart sending what it had. Every round
starts from the same state, so cuts do not pile up on each other as they do there.

    sudo .venv/bin/python -m bench.vm_resume_cut --cuts 100 [--image image/build/pingan-hub.img]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.power_cut import CloudSide, HarnessResult
from bench.vm import IMAGE_DIR, Vm, VmError, image_arch, layout, prepare_disk
from bench.vm_power_cut import _collect, _start_driver
from hub.sim.broker import Mosquitto

DATA_DIR = "/var/lib/pingan-hub"


@dataclass
class ResumeResult:
    """Totals over all rounds."""

    cuts: int = 0
    committed: int = 0
    lost: list[str] = field(default_factory=list)
    seq_changed: list[str] = field(default_factory=list)
    seq_reused: list[int] = field(default_factory=list)
    counter_behind: int = 0
    integrity_bad: int = 0
    e2fsck: Counter[str] = field(default_factory=Counter)
    load_s: list[float] = field(default_factory=list)
    resume_s: list[float] = field(default_factory=list)
    round_s: list[float] = field(default_factory=list)
    check_s: list[float] = field(default_factory=list)
    vm: str = ""
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def _qcow2_overlay(backing: Path, overlay: Path, backing_format: str) -> None:
    overlay.unlink(missing_ok=True)
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            str(backing),
            "-F",
            backing_format,
            str(overlay),
        ],
        check=True,
    )


def _data_partition(disk: Path, out: Path) -> None:
    """The data partition of a qcow2 disk as a raw file (its size from the partition table)."""
    lay = layout()
    subprocess.run(
        [
            "qemu-img",
            "dd",
            "-f",
            "qcow2",
            "-O",
            "raw",
            "bs=1M",
            "count=1",
            f"if={disk}",
            f"of={out}",
        ],
        capture_output=True,
        check=True,
    )
    entry = out.read_bytes()[446 + 3 * 16 : 446 + 4 * 16]  # MBR entry 4: the data partition
    start = int.from_bytes(entry[8:12], "little") * 512  # bytes, exactly: the partition
    size = int.from_bytes(entry[12:16], "little") * 512  # need not end on a whole MiB
    if start != lay["DATA_START"] * 2**20 or size <= 0:
        raise VmError(f"unexpected data partition: at byte {start}, {size} bytes")
    out.unlink()
    # The raw driver's offset/size over the qcow2 chain; convert leaves zeros as holes.
    opts = f"driver=raw,offset={start},size={size},file.driver=qcow2,file.file.filename={disk}"
    subprocess.run(
        ["qemu-img", "convert", "--image-opts", opts, "-O", "raw", str(out)],
        check=True,
        capture_output=True,
    )


def _e2fsck_repair(part: Path) -> tuple[int, str]:
    """e2fsck -fy: replay the journal and check; (exit status, what it said, summarised).

    Exit 0 (clean) or 1 (repaired) is a data filesystem the next boot mounts; 4 and up
    (left uncorrected, or e2fsck itself failed) is not, and says why in the last line.
    """
    run = subprocess.run(
        ["e2fsck", "-fy", str(part)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    text = (run.stdout + run.stderr).strip()
    if run.returncode >= 4:
        summary = text.splitlines()[-1][:120] if text else "no output"
    elif "recovering journal" in text:
        summary = "journal recovered"
    else:
        summary = "clean"
    return run.returncode, summary


def _database(part: Path, workdir: Path) -> Path:
    """hub.db and its WAL dumped from the (repaired) data partition."""
    folder = workdir / "db"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name in ("hub.db", "hub.db-wal"):
        subprocess.run(
            ["debugfs", "-R", f"dump /{name} {folder / name}", str(part)],
            capture_output=True,
            check=True,
        )
    db = folder / "hub.db"
    if not db.exists() or db.stat().st_size == 0:
        raise VmError("no hub.db on the data partition")
    wal = folder / "hub.db-wal"
    if wal.exists() and wal.stat().st_size == 0:
        wal.unlink()
    return db


def _check_round(db: Path, rnd: HarnessResult, total: ResumeResult) -> None:
    """The recovered database against what the hub confirmed and the broker received."""
    con = sqlite3.connect(db)
    try:
        if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            total.integrity_bad += 1
        stored = {str(i): int(s) for s, i in con.execute("SELECT seq, id FROM events")}
        counter = int(con.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
    finally:
        con.close()
    by_seq: dict[int, set[str]] = {}
    for event_id, seq in stored.items():
        by_seq.setdefault(seq, set()).add(event_id)
    for event_id, seqs in rnd.delivered.items():
        for seq in seqs:
            by_seq.setdefault(seq, set()).add(event_id)
    total.seq_reused += [seq for seq, ids in by_seq.items() if len(ids) > 1]
    for event_id, seq in rnd.committed.items():
        seen = {stored[event_id]} if event_id in stored else set()
        seen |= rnd.delivered.get(event_id, set())
        if not seen:
            total.lost.append(event_id)
        elif seen != {seq}:
            total.seq_changed.append(event_id)
    if rnd.committed and counter < max(rnd.committed.values()):
        total.counter_behind += 1
    total.committed += len(rnd.committed)


def _warm_up(
    base: Path, workdir: Path, broker_port: int, *, arch: str, accel: str, resume: Path | None
) -> tuple[Path, Path, float]:
    """Boot once to a connected hub (or resume a saved one), start the driver, wait for its
    first commit and save the machine; (frozen disk, saved state, seconds it took)."""
    warm = workdir / "warm.qcow2"
    if resume is None:
        _qcow2_overlay(base, warm, "raw")
    else:  # an older saved machine without the driver: its disk is the new one's backing
        frozen = workdir / "warm-before.qcow2"
        warm.rename(frozen)
        _qcow2_overlay(frozen, warm, "qcow2")
    vm = Vm(
        warm,
        workdir,
        broker_port,
        arch=arch,
        accel=accel,
        disk_format="qcow2",
        monitor=True,
        incoming=resume,
    )
    vm.start()
    try:
        if resume is not None:
            vm.resume()
        vm.wait_shell(900)
        vm.wait_for("pingan-hub status --json | grep -q '\"connected\": true'", 900)
        _start_driver(vm)
        _collect(vm, 0.0, HarnessResult(kills=0), first_within=600)
        took = time.monotonic() - vm.started_at
        state = workdir / "running.state"
        if resume is not None:
            state = workdir / "running-driver.state"
        vm.save_state(state)
    finally:
        vm.cut_power()
    (workdir / "driver-running").write_text(state.name)
    return warm, state, took


def run(
    image: Path, workdir: Path, cuts: int, seed: int, *, accel: str = "", reuse: bool = False
) -> ResumeResult:
    """Boot and save once (or reuse the workdir's saved machine), then resume, drive, cut and
    check `cuts` times."""
    total = ResumeResult()
    rng = random.Random(seed)
    started = time.monotonic()
    base = workdir / "disk.img"
    warm, state = workdir / "warm.qcow2", workdir / "running.state"
    marker = workdir / "driver-running"
    if marker.exists():
        state = workdir / marker.read_text().strip()
    reuse = reuse and warm.exists() and state.exists() and base.exists()
    if not reuse:
        prepare_disk(image, base)
    (workdir / "broker").mkdir(exist_ok=True)
    broker = Mosquitto(workdir=workdir / "broker")
    broker.start()
    rnd = HarnessResult(kills=1)
    cloud = CloudSide(broker.port, rnd)
    try:
        arch = image_arch(image)
        if reuse and marker.exists():
            print(f"resuming the machine saved in {workdir}", flush=True)
        elif reuse:
            warm, state, took = _warm_up(
                base, workdir, broker.port, arch=arch, accel=accel, resume=state
            )
            print(f"resumed, driver started, saved again in {took:.0f} s", flush=True)
        else:
            warm, state, took = _warm_up(
                base, workdir, broker.port, arch=arch, accel=accel, resume=None
            )
            print(f"booted to a connected hub and its driver in {took:.0f} s; saved", flush=True)
        disk = workdir / "round.qcow2"
        part = workdir / "data.ext4"
        for k in range(cuts):
            try:
                _one_round(k, rng, cloud, total, warm, state, disk, part, broker.port, arch, accel)
            except KeyboardInterrupt:  # SIGINT: stop, and give the figures of the cuts so far
                print(f"  stopped (SIGINT) after {total.cuts} checked cuts", flush=True)
                break
            if (k + 1) % 10 == 0:
                print(
                    f"  {k + 1} rounds, {total.cuts} cuts checked, {total.committed} events "
                    f"reported committed, lost {len(total.lost)}, "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
    finally:
        cloud.close()
        broker.close()
    total.elapsed_s = time.monotonic() - started
    return total


def _one_round(  # noqa: PLR0917 - one round's whole context
    k: int,
    rng: random.Random,
    cloud: CloudSide,
    total: ResumeResult,
    warm: Path,
    state: Path,
    disk: Path,
    part: Path,
    broker_port: int,
    arch: str,
    accel: str,
) -> None:
    """Resume the saved machine, let it commit for a while, cut, check its disk."""
    t0 = time.monotonic()
    rnd = HarnessResult(kills=1)
    with cloud.lock:
        cloud.result = rnd
    _qcow2_overlay(warm, disk, "qcow2")
    vm = Vm(
        disk,
        disk.parent,
        broker_port,
        arch=arch,
        accel=accel,
        disk_format="qcow2",
        incoming=state,
        monitor=True,
    )
    total.vm = f"{vm.arch} on {vm.accelerator}"
    vm.start()
    try:
        total.load_s.append(vm.resume())
        # The driver runs on: its first confirmation says the machine runs again; the cut
        # comes a random 0.5-8 s after it.
        _collect(vm, rng.uniform(0.5, 8.0), rnd, first_within=600)
        total.resume_s.append(time.monotonic() - t0)
    except VmError as exc:
        total.errors.append(f"round {k + 1}: {exc}")
        print(f"  round {k + 1}: {exc}", flush=True)
        return
    finally:
        vm.cut_power()
    c0 = time.monotonic()
    time.sleep(0.5)  # let the broker hand over what it had received
    _data_partition(disk, part)
    status, summary = _e2fsck_repair(part)
    total.e2fsck[f"exit {status}: {summary}"] += 1
    _check_round(_database(part, disk.parent), rnd, total)
    part.unlink()
    total.cuts += 1
    total.check_s.append(time.monotonic() - c0)
    total.round_s.append(time.monotonic() - t0)


def main() -> int:
    """Run and print the figures; exit 1 when a check failed."""
    from bench.common import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cuts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--image", type=Path, default=IMAGE_DIR / "build" / "pingan-hub.img")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--accel", choices=("kvm", "tcg"), default="", help="default: kvm for amd64 if usable"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="resume the machine saved in --workdir by a run before"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pingan-resume-", dir="/var/tmp") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = run(args.image, workdir, args.cuts, args.seed, accel=args.accel, reuse=args.reuse)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2] if values else 0.0

    print(
        f"vm {r.vm}: cuts {r.cuts} (of {args.cuts} asked; {len(r.errors)} rounds failed), "
        f"events reported committed {r.committed}, elapsed {r.elapsed_s:.0f} s"
    )
    print(
        f"per round (medians): state loaded {median(r.load_s):.1f} s, resumed and driven "
        f"{median(r.resume_s):.1f} s, checked {median(r.check_s):.1f} s, whole "
        f"{median(r.round_s):.1f} s"
    )
    print(f"data partition after each cut (e2fsck -fy): {dict(r.e2fsck)}")
    print(
        f"lost {len(r.lost)}, seq changed {len(r.seq_changed)}, seq reused {len(r.seq_reused)}, "
        f"seq counter behind {r.counter_behind}, integrity not ok {r.integrity_bad}"
    )
    repaired = all(key.startswith(("exit 0", "exit 1")) for key in r.e2fsck)
    ok = (
        r.cuts == args.cuts
        and not r.lost
        and not r.seq_changed
        and not r.seq_reused
        and not r.counter_behind
        and not r.integrity_bad
        and repaired
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Real power cuts: the hub's image in a QEMU VM, and the QEMU process killed at random.

bench/power_cut.py kills the hub process, which leaves the kernel's page cache in place;
here the whole machine goes: SIGKILL to QEMU drops the guest's page cache, its block
queue and whatever the disk had not been told to flush, like pulling the plug on a Pi.

Each round boots the image (UEFI -> GRUB -> slot A -> systemd -> pingan-hub), starts a
driver inside the VM that commits events through the hub's control socket (`inject`;
the hub answers only after the SQLite commit) and prints `C <id> <seq>` for each answer
on the virtio console, and kills QEMU at a random moment: mostly while events are being
committed and sent, one round in ten during the boot itself (fsck, GRUB's environment
write, the hub starting: a moment between power-on and the median time the boots so far
took to get the hub running, so the window fits a slow emulated arm64 boot and a fast
KVM one alike). Only events whose line reached this machine before the kill
count as reported committed. At the end the VM boots once more and drains; a persistent
MQTT subscriber on the host (the cloud's side) has then collected everything.

Checks: every event reported committed is delivered with the same id and seq; no seq
is carried by two events; every boot's fsck of the data partition ended clean or
repaired (systemd-fsck's result, recorded per boot) and `e2fsck -fn` finds the data
filesystem consistent at the end; the read-only root's bytes are unchanged.

    sudo .venv/bin/python -m bench.vm_power_cut --cuts 100 [--image image/build/pingan-hub.img]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.power_cut import CloudSide, HarnessResult
from bench.vm import IMAGE_DIR, Vm, VmError, layout, partition_bytes, prepare_disk
from hub.sim.broker import Mosquitto

# The driver inside the VM: the image's own python3, the hub's control socket, one
# event at a time, each confirmed line flushed at once to the virtio console.
_DRIVER = r"""
import json, socket, sys
kinds = ["motion"] * 6 + ["door"] * 3 + ["battery_low", "checkin", "sos", "smoke"]
n = 0
while True:
    n += 1
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect("/var/lib/pingan-hub/control.sock")
    req = {"op": "inject", "kind": kinds[n % len(kinds)], "data": {"n": n}}
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    r = json.loads(buf)
    if r.get("ok"):
        sys.stdout.write("C %s %d\n" % (r["id"], r["seq"]))
        sys.stdout.flush()
"""
FSCK_UNIT = r"systemd-fsck@dev-disk-by\\x2dlabel-PINGANDATA.service"


@dataclass
class CutResult(HarnessResult):
    """What the VM harness observed, beyond the process harness's fields."""

    boot_s: list[float] = field(default_factory=list)
    fsck: Counter[str] = field(default_factory=Counter)  # systemd-fsck result -> boots
    fsck_lines: Counter[str] = field(default_factory=Counter)  # what e2fsck said, summarised
    final_e2fsck: str = ""
    root_unchanged: bool = False
    cuts_in_boot: int = 0
    vm: str = ""  # architecture and accelerator


def _summarise_fsck(lines: str) -> str:
    if "recovering journal" in lines:
        return "journal recovered"
    if "clean," in lines:
        return "clean"
    return lines.strip().splitlines()[-1][:80] if lines.strip() else "no fsck output"


def _record_boot(vm: Vm, result: CutResult) -> None:
    _, res = vm.sh(f"systemctl show -p Result --value {FSCK_UNIT}")
    _, lines = vm.sh(f"journalctl -b -o cat -u {FSCK_UNIT} | grep -v '^Starting\\|^Finished'")
    result.fsck[res.strip() or "not run"] += 1
    result.fsck_lines[_summarise_fsck(lines)] += 1


def _start_driver(vm: Vm) -> None:
    """Start the driver in the guest's shell; it prints `C <id> <seq>` per commit."""
    encoded = base64.b64encode(_DRIVER.encode()).decode()
    vm.sh(f"echo {encoded} | base64 -d > /tmp/driver.py", check=True)
    assert vm._sock is not None
    vm._sock.sendall(b"python3 -u /tmp/driver.py\n")


def _collect(
    vm: Vm, seconds: float, result: HarnessResult, first_within: float | None = None
) -> None:
    """Read the driver's confirmations for `seconds`; with `first_within`, counted from the
    first one, which must come within that many seconds."""
    assert vm._sock is not None
    now = time.monotonic()
    waiting = first_within is not None
    deadline = now + (first_within if first_within is not None else seconds)
    vm._sock.settimeout(0.05)
    pending = b""
    while time.monotonic() < deadline:
        try:
            chunk = vm._sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            parts = line.strip().split()
            if len(parts) == 3 and parts[0] == b"C":
                result.committed[parts[1].decode()] = int(parts[2])
                if waiting:
                    waiting = False
                    deadline = time.monotonic() + seconds
    if waiting:
        raise VmError(f"no commit confirmed by the driver in {first_within} s")


def _drive_until_cut(vm: Vm, seconds: float, result: HarnessResult) -> None:
    """Start the driver, collect its confirmations, and cut the power after `seconds`."""
    _start_driver(vm)
    _collect(vm, seconds, result)
    vm.cut_power()


def _root_digest(disk: Path) -> str:
    return hashlib.sha256(partition_bytes(disk, "ROOT_A")).hexdigest()


def _final_e2fsck(disk: Path, workdir: Path) -> str:
    """e2fsck -fn of the data partition, copied out of the powered-off disk."""
    lay = layout()
    part = workdir / "data.ext4"
    out = subprocess.run(
        ["sfdisk", "-J", str(disk)], capture_output=True, text=True, check=True
    ).stdout
    sectors = json.loads(out)["partitiontable"]["partitions"][3]["size"]
    subprocess.run(
        [
            "dd",
            f"if={disk}",
            f"of={part}",
            "bs=1M",
            f"skip={lay['DATA_START']}",
            f"count={sectors // 2048}",
            "conv=sparse",
            "status=none",
        ],
        check=True,
    )
    check = subprocess.run(
        ["e2fsck", "-fn", str(part)], capture_output=True, text=True, check=False
    )
    part.unlink()
    last = check.stdout.strip().splitlines()[-1] if check.stdout.strip() else ""
    return f"exit {check.returncode}: {last}"


def run_cuts(
    image: Path, workdir: Path, cuts: int, seed: int, *, say: bool = True, accel: str = ""
) -> CutResult:
    """Boot, drive, cut, `cuts` times; then drain and check."""
    result = CutResult(kills=cuts)
    rng = random.Random(seed)
    started = time.monotonic()
    disk = workdir / "disk.img"
    prepare_disk(image, disk)
    root_before = _root_digest(disk)
    (workdir / "broker").mkdir(exist_ok=True)
    broker = Mosquitto(workdir=workdir / "broker")
    broker.start()
    cloud = CloudSide(broker.port, result)
    vm = Vm(disk, workdir, broker.port, accel=accel)
    result.vm = f"{vm.arch} on {vm.accelerator}"
    if say:
        print(f"vm: {result.vm}", flush=True)
    try:
        for k in range(cuts):
            vm.start()
            if result.boot_s and rng.random() < 0.1:
                # A cut during the boot: somewhere between power-on and the hub running.
                time.sleep(rng.uniform(0.0, statistics.median(result.boot_s)))
                vm.cut_power()
                result.cuts_in_boot += 1
                continue
            try:
                vm.wait_shell(900)
                vm.wait_for("systemctl is-active -q pingan-hub.service", 600)
                result.boot_s.append(time.monotonic() - vm.started_at)
                _record_boot(vm, result)
            except VmError as exc:
                print(f"  round {k + 1}: {exc}; cutting anyway", flush=True)
                vm.cut_power()
                continue
            _drive_until_cut(vm, rng.uniform(0.5, 8.0), result)
            if say and (k + 1) % 10 == 0:
                print(
                    f"  {k + 1} cuts, {len(result.committed)} events reported committed, "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
        vm.start()
        vm.wait_shell(900)
        vm.wait_for("systemctl is-active -q pingan-hub.service", 600)
        _record_boot(vm, result)
        deadline = time.monotonic() + 600
        while not cloud.has_all() and time.monotonic() < deadline:
            time.sleep(1)
        vm.poweroff()
    finally:
        vm.cut_power()
        cloud.close()
        broker.close()
    result.final_e2fsck = _final_e2fsck(disk, workdir)
    result.root_unchanged = _root_digest(disk) == root_before
    result.integrity = result.final_e2fsck
    result.elapsed_s = time.monotonic() - started
    return result


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
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="pingan-cut-", dir="/var/tmp") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = run_cuts(args.image, workdir, args.cuts, args.seed, accel=args.accel)
    boots = sorted(r.boot_s)
    print(
        f"vm {r.vm}: cuts {r.kills} ({r.cuts_in_boot} during boot), events reported committed "
        f"{len(r.committed)}, deliveries {r.deliveries}, elapsed {r.elapsed_s:.0f} s "
        f"({r.elapsed_s / max(1, r.kills + 1):.1f} s per boot)"
    )
    if boots:
        print(
            f"power-on -> hub active: median {boots[len(boots) // 2]:.1f} s, "
            f"max {boots[-1]:.1f} s ({len(boots)} boots)"
        )
    print(f"data fsck per boot: {dict(r.fsck)}; {dict(r.fsck_lines)}")
    print(
        f"lost {len(r.lost)}, seq changed {len(r.seq_changed)}, seq reused {len(r.seq_reused)}, "
        f"final e2fsck -fn: {r.final_e2fsck}, read-only root unchanged: {r.root_unchanged}"
    )
    bad_fsck = sum(n for res, n in r.fsck.items() if res != "success")
    ok = (
        not r.lost
        and not r.seq_changed
        and not r.seq_reused
        and r.final_e2fsck.startswith("exit 0")
        and r.root_unchanged
        and bad_fsck == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

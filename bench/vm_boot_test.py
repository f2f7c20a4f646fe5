"""Boot test of the hub's image (image/boot-test.sh runs this): the image boots under
qemu-system-aarch64 (-M virt, TCG), systemd starts pingan-hub (Type=notify, watchdog),
an SOS pressed inside the VM reaches a mosquitto on this machine's loopback and the
simulated centre's acknowledgement comes back to the hub. Prints boot time, hub start
time and the hub's resident memory inside the VM; exits 1 when any check fails.

    sudo .venv/bin/python -m bench.vm_boot_test [--image image/build/pingan-hub.img]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench.vm import IMAGE_DIR, Vm, guest_rss_mib, hub_pid, prepare_disk
from hub.sim.broker import Mosquitto
from hub.sim.centre import SimulatedCentre

HUB_ID = "VM-0001"  # image/vm/config.toml


class Centre:
    """The simulated alarm centre on its own event loop thread."""

    def __init__(self, port: int) -> None:
        self.lines: list[tuple[float, str]] = []
        self.centre = SimulatedCentre(
            "127.0.0.1", port, ack_delay=0.5, say=lambda s: self.lines.append((time.monotonic(), s))
        )
        self.loop = asyncio.new_event_loop()
        ready = asyncio.Event()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._serve(ready),), daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not ready.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)

    async def _serve(self, ready: asyncio.Event) -> None:
        self.task = asyncio.current_task()
        with suppress(asyncio.CancelledError):
            await self.centre.run(ready)

    def received(self, kind: str) -> list[dict[str, Any]]:
        """Events of this kind the centre received."""
        return [e for e in list(self.centre.received) if e.get("kind") == kind]

    def close(self) -> None:
        """Stop the centre."""
        self.loop.call_soon_threadsafe(self.task.cancel)  # type: ignore[union-attr]
        self.thread.join(5)


@contextmanager
def host_side(workdir: Path) -> Iterator[tuple[Mosquitto, Centre]]:
    """A mosquitto on loopback and the simulated centre subscribed to it."""
    (workdir / "broker").mkdir(exist_ok=True)
    broker = Mosquitto(workdir=workdir / "broker")
    broker.start()
    centre = Centre(broker.port)
    try:
        yield broker, centre
    finally:
        centre.close()
        broker.close()


def _status(vm: Vm) -> dict[str, Any]:
    code, out = vm.sh("pingan-hub status --json", timeout=60)
    if code != 0:
        return {}
    result: dict[str, Any] = json.loads(out)
    return result


def boot_test(image: Path, workdir: Path, say: Any = print, accel: str = "") -> dict[str, Any]:
    """Boot, check and measure; returns the figures (raises VmError on a failed step)."""
    figures: dict[str, Any] = {}
    disk = workdir / "disk.img"
    prepare_disk(image, disk)
    with host_side(workdir) as (broker, centre):
        vm = Vm(disk, workdir, broker.port, accel=accel)
        vm.start()
        try:
            figures["shell_s"] = vm.wait_shell(900)
            say(f"[vm] shell on hvc0 after {figures['shell_s']:.1f} s")
            figures["hub_active_s"] = vm.wait_for("systemctl is-active -q pingan-hub.service", 600)
            say(f"[vm] pingan-hub active (READY=1) {figures['hub_active_s']:.1f} s after power-on")
            figures["connected_s"] = vm.wait_for(
                "pingan-hub status --json | grep -q '\"connected\": true'", 300
            )
            say(f"[vm] hub connected to the host's broker after {figures['connected_s']:.1f} s")
            _, show = vm.sh(
                "systemctl show -p ExecMainStartTimestampMonotonic "
                "-p ActiveEnterTimestampMonotonic -p NRestarts -p WatchdogUSec pingan-hub.service"
            )
            props = dict(line.partition("=")[::2] for line in show.splitlines())
            figures["hub_start_s"] = (
                int(props["ActiveEnterTimestampMonotonic"])
                - int(props["ExecMainStartTimestampMonotonic"])
            ) / 1e6
            figures["hub_restarts"] = int(props.get("NRestarts", "0"))
            figures["watchdog"] = props.get("WatchdogUSec", "")
            pid = hub_pid(vm)
            figures["hub_rss_mib"] = guest_rss_mib(vm, pid)
            _, mem = vm.sh("awk '/^MemTotal|^MemAvailable/ {print $2}' /proc/meminfo")
            total, available = (int(x) // 1024 for x in mem.split())
            figures["guest_mem_mib"] = {"total": total, "used": total - available}
            _, root = vm.sh("findmnt -no OPTIONS /")
            _, data = vm.sh("findmnt -no SOURCE,FSTYPE,OPTIONS /var/lib/pingan-hub")
            _, cmdline = vm.sh("cat /proc/cmdline")
            _, journal = vm.sh("findmnt -no FSTYPE /var/log")
            figures["root_options"] = root.strip()
            figures["data_mount"] = data.strip()
            figures["slot"] = next(
                (w.split("=")[1] for w in cmdline.split() if w.startswith("rauc.slot=")), ""
            )
            say(
                f"[vm] slot {figures['slot']}; / {figures['root_options']}; "
                f"data {figures['data_mount']}; /var/log on {journal.strip()}"
            )
            checks = {
                "root read-only": figures["root_options"].split(",")[0] == "ro",
                "data partition mounted": "ext4" in figures["data_mount"],
                "hub watchdog set": figures["watchdog"] not in ("", "0", "infinity"),
            }
            # The SOS: the red button (mock pin in the VM: no GPIO there) pressed inside.
            pressed = time.monotonic()
            vm.sh("pingan-hub press sos", timeout=60, check=True)
            say("[vm] red button pressed inside the VM (pingan-hub press sos)")
            deadline = time.monotonic() + 120
            acked = False
            while time.monotonic() < deadline:
                alarms = _status(vm).get("alarms", [])
                sos = [a for a in alarms if a["kind"] == "sos"]
                if sos and sos[-1]["state"] in ("acknowledged", "dispatched"):
                    acked = True
                    figures["sos_state_in_vm"] = sos[-1]["state"]
                    figures["sos_operator"] = sos[-1]["operator"]
                    break
                time.sleep(1)
            figures["press_to_ack_in_vm_s"] = time.monotonic() - pressed
            got = centre.received("sos")
            checks["SOS received by the centre on the host's broker"] = bool(got)
            checks["centre's acknowledgement reached the hub in the VM"] = acked
            if got:
                first = min(t for t, line in centre.lines if "received sos" in line)
                figures["press_to_centre_s"] = first - pressed
                say(f"[host] centre received sos seq {got[0]['seq']} id {got[0]['id']}")
            if acked:
                say(
                    f"[vm] SOS {figures['sos_state_in_vm']} by {figures['sos_operator']}, "
                    f"{figures['press_to_ack_in_vm_s']:.1f} s after pressing"
                )
            # The health check runs once per boot after the hub; it has finished when its
            # main process has exited.
            vm.wait_for(
                "systemctl show -p ExecMainExitTimestampMonotonic --value pingan-health.service"
                " | grep -qv '^0$'",
                900,
            )
            _, status = vm.sh("systemctl show -p ExecMainStatus --value pingan-health.service")
            _, env = vm.sh("grub-editenv /boot/firmware/EFI/pingan/grubenv list")
            figures["grubenv"] = " ".join(env.split())
            _, log = vm.sh("journalctl -b -o cat -u pingan-health.service | tail -5")
            figures["health_log"] = log.splitlines()
            checks["health check marked the slot good (3 boot tries again)"] = (
                status.strip() == "0" and "A_LEFT=3" in figures["grubenv"]
            )
            _, analyze = vm.sh("systemd-analyze time", timeout=60)
            figures["systemd_analyze"] = " ".join(analyze.split())
            figures["checks"] = checks
        finally:
            vm.poweroff()
    return figures


def main() -> int:
    """Run the boot test and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", type=Path, default=IMAGE_DIR / "build" / "pingan-hub.img")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--accel", choices=("kvm", "tcg"), default="", help="default: kvm for amd64 if usable"
    )
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pingan-vm-", dir="/var/tmp") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        figures = boot_test(args.image, workdir, accel=args.accel)
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    print(
        f"boot: shell {figures['shell_s']:.1f} s, hub READY {figures['hub_active_s']:.1f} s, "
        f"broker {figures['connected_s']:.1f} s after power-on ({figures['systemd_analyze']}); "
        f"hub start (exec -> READY) {figures['hub_start_s']:.1f} s; hub VmRSS "
        f"{figures['hub_rss_mib']:.1f} MiB; whole test {time.monotonic() - started:.0f} s"
    )
    failed = [name for name, ok in figures["checks"].items() if not ok]
    for name, ok in figures["checks"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A/B software update round trip on the hub's image in a QEMU VM (image/update-test.sh).

The VM boots slot A (version N). Through the fleet command (`pingan-hub fleet update`,
signed with the fleet key, bundles signed with the update key) it is then:

1. updated to N+1: downloaded and installed while the hub runs; an SOS pressed during the
   install is delivered and acknowledged; the reboot waits for it to close; slot B boots,
   passes its health check and is committed;
2. updated back to N (slot A again), committed;
3. sent a bad bundle (N+1's root whose hub exits at start: its config is broken): slot B
   boots, its hub never comes up, the health check marks it bad and reboots, and slot A
   runs N again with `rolled_back` reported, nobody touching the box;
4. sent a bundle signed with a key the image does not trust, and an unsigned one: both
   refused (`failed`, reason bundle_signature) and reported, slot A untouched;
5. sent a command signed with a key that is not a fleet key: `rejected` (unknown_key).

N+1 is N's root filesystem with another version in /etc/pingan-release (debugfs, no
mount); the bad one also has an invalid /etc/pingan-hub/config.toml.

    sudo .venv/bin/python -m bench.vm_update --build image/build
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.vm import GUEST_HOST, GUEST_HTTP_PORT, Vm, VmError, prepare_disk
from bench.vm_boot_test import HUB_ID, host_side

PROJECT = Path(__file__).resolve().parent.parent


def _debugfs(fs: Path, commands: list[str]) -> None:
    script = fs.parent / "debugfs.cmd"
    script.write_text("\n".join(commands) + "\n")
    subprocess.run(["debugfs", "-w", "-f", str(script), str(fs)], check=True, capture_output=True)


def _put_file(fs: Path, path: str, content: str, mode: str, gid: int = 0) -> None:
    local = fs.parent / "put.tmp"
    local.write_text(content)
    _debugfs(
        fs,
        [
            f"rm {path}",
            f"write {local} {path}",
            f"sif {path} mode 0100{mode}",
            f"sif {path} uid 0",
            f"sif {path} gid {gid}",
        ],
    )


def _release(version: str) -> str:
    return f"VERSION={version}\nCOMMIT=update-test\n"


def make_bundles(build: Path, work: Path) -> dict[str, Any]:
    """The rootfs variants and their bundles; returns versions and bundle paths."""
    base = build / "rootfs.ext4"
    release = subprocess.run(
        ["debugfs", "-R", "cat /etc/pingan-release", str(base)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    version_n = next(
        line.split("=", 1)[1] for line in release.splitlines() if line.startswith("VERSION=")
    )
    gid = int(
        subprocess.run(
            ["debugfs", "-R", "stat /etc/pingan-hub/config.toml", str(base)],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.split("Group:")[1]
        .split()[0]
    )
    key, cert = build / "keys" / "update.key.pem", build / "keys" / "update.cert.pem"
    versions = {"n": version_n, "next": f"{version_n}.1", "bad": f"{version_n}.2"}
    bundles: dict[str, Path] = {}

    def bundle(name: str, rootfs: Path, k: Path = key, c: Path = cert) -> None:
        out = work / f"{name}.raucb"
        bundles[name] = out
        if out.exists():  # made by an earlier, interrupted run in the same workdir
            return
        subprocess.run(
            [str(PROJECT / "image" / "make-bundle.sh"), str(rootfs), str(k), str(c), str(out)],
            check=True,
        )

    names = ("back", "next", "bad", "forged", "unsigned")
    if all((work / f"{name}.raucb").exists() for name in names):  # a rerun in the same workdir
        return {"versions": versions, "bundles": {n: work / f"{n}.raucb" for n in names}}
    bundle("back", base)
    nxt = work / "next.ext4"
    shutil.copy(base, nxt)
    _put_file(nxt, "/etc/pingan-release", _release(versions["next"]), "644")
    bundle("next", nxt)
    bad = work / "bad.ext4"
    shutil.copy(nxt, bad)
    _put_file(bad, "/etc/pingan-release", _release(versions["bad"]), "644")
    # A hub that exits at start: its config names an option that does not exist.
    _put_file(
        bad, "/etc/pingan-hub/config.toml", "[hub]\nid = 'VM-0001'\nno_such = 1\n", "640", gid
    )
    bundle("bad", bad)
    stranger = work / "stranger-keys"
    subprocess.run(
        [str(PROJECT / "image" / "update-keys.sh"), str(stranger), "not the fleet's"],
        check=True,
        capture_output=True,
    )
    bundle("forged", nxt, stranger / "update.key.pem", stranger / "update.cert.pem")
    # Unsigned: the bundle's squashfs alone, without rauc's signature behind it.
    unsigned = work / "unsigned.raucb"
    size = bundles["next"].stat().st_size
    with bundles["next"].open("rb") as src:
        src.seek(size - 8)
        sig_size = int.from_bytes(src.read(8), "big")
        src.seek(0)
        unsigned.write_bytes(src.read(size - 8 - sig_size))
    bundles["unsigned"] = unsigned
    for f in (nxt, bad):
        f.unlink()
    return {"versions": versions, "bundles": bundles}


class BundleServer:
    """A plain HTTP server for the bundles, on this machine's loopback only."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def fleet_update(  # noqa: PLR0917 - the command's options, in the order typed
    broker_port: int,
    key: Path,
    number: int,
    version: str,
    bundle: Path,
    follow_s: float,
    log: Path,
) -> subprocess.Popen[str]:
    """`pingan-hub fleet update ... --follow`, as the admin would type it."""
    argv = [
        sys.executable,
        "-m",
        "hub",
        "fleet",
        "update",
        "--host",
        "127.0.0.1",
        "--port",
        str(broker_port),
        "--key",
        str(key),
        "--hub",
        HUB_ID,
        "--number",
        str(number),
        "--version",
        version,
        "--url",
        f"http://{GUEST_HOST}:{GUEST_HTTP_PORT}/{bundle.name}",
        "--bundle",
        str(bundle),
        "--follow",
        str(follow_s),
    ]
    return subprocess.Popen(
        argv, stdout=log.open("a"), stderr=subprocess.STDOUT, text=True, cwd=PROJECT
    )


def _running(vm: Vm) -> tuple[str, str]:
    _, release = vm.sh("sed -n 's/^VERSION=//p' /etc/pingan-release")
    _, cmdline = vm.sh("cat /proc/cmdline")
    slot = next((w.split("=")[1] for w in cmdline.split() if w.startswith("rauc.slot=")), "")
    return release.strip(), slot


def _after_reboot(vm: Vm) -> tuple[str, str]:
    vm.wait_shell(1200)
    vm.wait_for("systemctl is-active -q pingan-hub.service", 900)
    return _running(vm)


def update_test(build: Path, workdir: Path, accel: str = "") -> dict[str, Any]:
    """Run the five steps; returns what each showed (and the overall checks)."""
    started = time.monotonic()
    made = make_bundles(build, workdir)
    versions, bundles = made["versions"], made["bundles"]
    sizes = {name: round(path.stat().st_size / 2**20) for name, path in bundles.items()}
    print(f"[host] bundles made in {time.monotonic() - started:.0f} s (MiB): {sizes}", flush=True)
    disk = workdir / "disk.img"
    prepare_disk(build / "pingan-hub.img", disk)
    server = BundleServer(workdir)
    fleet_key = build / "keys" / "fleet.pem"
    log = workdir / "fleet.log"
    results: dict[str, Any] = {"versions": versions, "bundle_mib": sizes, "steps": {}}
    checks: dict[str, bool] = {}
    with host_side(workdir) as (broker, centre):
        centre.centre.resolve = True  # alarms close, so the reboot may go ahead
        vm = Vm(disk, workdir, broker.port, http_port=server.port, accel=accel)
        vm.start()
        try:
            vm.wait_shell(900)
            vm.wait_for("pingan-hub status --json | grep -q '\"connected\": true'", 900)
            checks["boots N in slot A"] = _running(vm) == (versions["n"], "A")

            def step(name: str, number: int, version: str, bundle: Path, sos: bool) -> str:
                t0 = time.monotonic()
                before = log.stat().st_size if log.exists() else 0
                proc = fleet_update(broker.port, fleet_key, number, version, bundle, 2400, log)
                sos_ok = None
                if sos:
                    vm.wait_for(
                        'grep -q \'"phase":"installing"\' /var/lib/pingan-hub/update/state.json',
                        600,
                    )
                    got_before = len(centre.received("sos"))
                    vm.sh("pingan-hub press sos", timeout=120, check=True)
                    print("[vm] SOS pressed while rauc writes the other slot", flush=True)
                    deadline = time.monotonic() + 300
                    while time.monotonic() < deadline and len(centre.received("sos")) <= got_before:
                        time.sleep(1)
                    sos_ok = len(centre.received("sos")) > got_before
                proc.wait(2500)
                out = log.read_text()[before:]
                print(out, end="", flush=True)
                final = out.strip().splitlines()[-1] if out.strip() else ""
                results["steps"][name] = {
                    "seconds": round(time.monotonic() - t0),
                    "final": final,
                    "exit": proc.returncode,
                    "sos_during_install_delivered": sos_ok,
                }
                return out

            out = step("N -> N+1", 1, versions["next"], bundles["next"], sos=True)
            checks["N+1 committed"] = "] committed" in out
            checks["SOS during the install delivered"] = bool(
                results["steps"]["N -> N+1"]["sos_during_install_delivered"]
            )
            checks["runs N+1 in slot B"] = _after_reboot(vm) == (versions["next"], "B")

            out = step("N+1 -> N", 2, versions["n"], bundles["back"], sos=False)
            checks["back to N committed"] = "] committed" in out
            checks["runs N in slot A"] = _after_reboot(vm) == (versions["n"], "A")

            out = step("bad bundle", 3, versions["bad"], bundles["bad"], sos=False)
            checks["bad bundle rolled back"] = "] rolled_back" in out
            checks["runs N in slot A after the rollback"] = _after_reboot(vm) == (
                versions["n"],
                "A",
            )

            out = step("forged bundle", 4, versions["next"], bundles["forged"], sos=False)
            checks["forged bundle refused"] = "] failed" in out and "bundle_signature" in out
            out = step("unsigned bundle", 5, versions["next"], bundles["unsigned"], sos=False)
            checks["unsigned bundle refused"] = "] failed" in out
            stranger = workdir / "stranger-fleet.pem"
            subprocess.run(
                [sys.executable, "-m", "hub", "keygen", "--key", str(stranger)],
                check=True,
                capture_output=True,
            )
            before = log.stat().st_size
            proc = fleet_update(
                broker.port, stranger, 6, versions["next"], bundles["next"], 120, log
            )
            proc.wait(200)
            out = log.read_text()[before:]
            print(out, end="", flush=True)
            checks["command from a stranger's key rejected"] = "rejected: unknown_key" in out
            checks["still N in slot A"] = _running(vm) == (versions["n"], "A")
        except VmError as exc:
            print(f"[host] {exc}", flush=True)
            checks["no VM step failed"] = False
        finally:
            vm.poweroff()
            server.close()
    results["checks"] = checks
    results["elapsed_s"] = round(time.monotonic() - started)
    return results


def main() -> int:
    """Run the round trip and print what it showed; exit 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", type=Path, default=PROJECT / "image" / "build")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--accel", choices=("kvm", "tcg"), default="", help="default: kvm for amd64 if usable"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pingan-update-", dir="/var/tmp") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = update_test(args.build.resolve(), workdir, accel=args.accel)
    print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    for name, ok in results["checks"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(results["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

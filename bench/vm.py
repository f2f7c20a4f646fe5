"""The hub's image in a QEMU arm64 VM (`-M virt`, TCG): start, talk to, cut off, inspect.

Shared by image/boot-test.sh (`python -m bench.vm_boot_test`), bench/vm_power_cut.py and
bench/vm_update.py. The VM boots the image file itself: UEFI firmware (qemu-efi-aarch64)
-> the image's GRUB -> the kernel of the chosen root slot. Its network is QEMU's user-mode
stack with `restrict=on`: the guest reaches nothing but the forwards given here, each of
which ends on this machine's loopback (the broker, the bundle server). A root shell on the
virtio console (hvc0) is enabled by adding `EFI/pingan/cmdline.cfg` to the VM's copy of
the firmware partition (mtools, no mount); the serial console (ttyAMA0) goes to a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

IMAGE_DIR: Final = Path(__file__).resolve().parent.parent / "image"
FIRMWARE_CODE: Final = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
FIRMWARE_VARS: Final = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
GUEST_HOST: Final = "10.0.2.100"  # the broker and bundle server as the guest sees them
GUEST_BROKER_PORT: Final = 1883
GUEST_HTTP_PORT: Final = 8080
# The VM's disk: the image grown to this, so the data partition (grown at first boot)
# has room for a downloaded bundle.
DISK_BYTES: Final = 8 * 1024**3
MEMORY_MB: Final = 512  # the design's floor for a hub (a Pi 3 has 1 GB, a Zero 2 W 512 MB)


class VmError(RuntimeError):
    """The VM did not do what was asked in time."""


def layout() -> dict[str, int]:
    """image/layout.sh's numbers (MiB)."""
    out = subprocess.run(
        ["bash", "-c", f". {IMAGE_DIR}/layout.sh; set | grep -E '^[A-Z_]+=[0-9x]+$'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {k: int(v, 0) for k, v in (line.split("=", 1) for line in out.split())}


def prepare_disk(image: Path, disk: Path, *, console: bool = True) -> None:
    """Copy the image (sparse), grow it, and enable the maintenance shell on the copy."""
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    os.truncate(disk, DISK_BYTES)
    if console:
        offset = layout()["FIRMWARE_START"] * 1024 * 1024
        cfg = disk.parent / "cmdline.cfg"
        cfg.write_text('extra_cmdline="console=ttyAMA0,115200 pingan.console=hvc0"\n')
        subprocess.run(
            ["mcopy", "-o", "-i", f"{disk}@@{offset}", str(cfg), "::/EFI/pingan/cmdline.cfg"],
            check=True,
        )


def partition_bytes(disk: Path, name: str, size_mb: int | None = None) -> bytes:
    """The bytes of a partition of the disk file (name: ROOT_A, ROOT_B, DATA ...)."""
    lay = layout()
    start = lay[f"{name}_START"] * 1024 * 1024
    size = (size_mb or lay["SLOT_MB" if name.startswith("ROOT") else f"{name}_MB"]) * 1024**2
    with disk.open("rb") as handle:
        handle.seek(start)
        return handle.read(size)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Vm:
    """One QEMU process running the disk file; the shell on hvc0 runs commands as root."""

    disk: Path
    workdir: Path
    broker_port: int
    http_port: int | None = None
    watchdog: bool = True
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    boots: int = field(default=0)

    @property
    def console_log(self) -> Path:
        """The serial console's output (kernel messages, GRUB's slot choice)."""
        return self.workdir / f"console-{self.boots}.log"

    def command(self) -> list[str]:
        """The qemu-system-aarch64 command line."""
        vars_fd = self.workdir / "efivars.fd"
        if not vars_fd.exists():
            shutil.copy(FIRMWARE_VARS, vars_fd)
        forwards = [
            f"guestfwd=tcp:{GUEST_HOST}:{GUEST_BROKER_PORT}-"
            f"cmd:socat STDIO TCP:127.0.0.1:{self.broker_port}"
        ]
        if self.http_port:
            forwards.append(
                f"guestfwd=tcp:{GUEST_HOST}:{GUEST_HTTP_PORT}-"
                f"cmd:socat STDIO TCP:127.0.0.1:{self.http_port}"
            )
        argv = [
            "qemu-system-aarch64",
            "-M",
            "virt",
            "-cpu",
            "cortex-a72",
            "-smp",
            "2",
            "-m",
            str(MEMORY_MB),
            "-drive",
            f"if=pflash,format=raw,readonly=on,file={FIRMWARE_CODE}",
            "-drive",
            f"if=pflash,format=raw,file={vars_fd}",
            "-drive",
            f"if=none,id=disk,format=raw,file={self.disk},cache=writeback",
            "-device",
            "virtio-blk-device,drive=disk",
            "-netdev",
            "user,id=net,restrict=on," + ",".join(forwards),
            "-device",
            "virtio-net-device,netdev=net",
            "-device",
            "virtio-serial-device",
            "-chardev",
            f"socket,id=shell,path={self.workdir / 'shell.sock'},server=on,wait=off",
            "-device",
            "virtconsole,chardev=shell",
            "-serial",
            f"file:{self.console_log}",
            "-display",
            "none",
            "-monitor",
            "none",
            "-nodefaults",
        ]
        if self.watchdog:
            argv += ["-device", "i6300esb", "-action", "watchdog=reset"]
        return argv

    def start(self) -> None:
        """Power on."""
        self.boots += 1
        (self.workdir / "shell.sock").unlink(missing_ok=True)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            ["nice", "-n", "10", *self.command()],
            stdin=subprocess.DEVNULL,
            stdout=(self.workdir / "qemu.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not (self.workdir / "shell.sock").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise VmError(f"qemu did not start: see {self.workdir / 'qemu.log'}")
            time.sleep(0.05)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(str(self.workdir / "shell.sock"))
        self._buffer = b""

    def cut_power(self) -> None:
        """SIGKILL the QEMU process: the guest's page cache and its disk's queue are gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._close_sock()

    def _close_sock(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def wait_shell(self, timeout: float) -> float:
        """Wait until the shell on hvc0 answers; seconds since power-on."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sh("stty -echo", timeout=5)
                return time.monotonic() - self.started_at
            except VmError:
                if self.proc is None or self.proc.poll() is not None:
                    raise
                if time.monotonic() > deadline:
                    raise
                # The shell restarts when hvc0 is reset at boot: reconnect.
                self._close_sock()
                time.sleep(1)
                try:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.connect(str(self.workdir / "shell.sock"))
                except OSError:
                    self._close_sock()

    def sh(self, cmd: str, timeout: float = 60.0, check: bool = False) -> tuple[int, str]:
        """Run a shell command in the guest as root; (exit status, output)."""
        if self._sock is None:
            raise VmError("no shell")
        tag = uuid.uuid4().hex[:8]
        line = f"echo B{tag}; {cmd}; echo E{tag}$?\n"
        self._sock.sendall(line.encode())
        end = re.compile(rb"\nE" + tag.encode() + rb"(\d+)\r?\n")
        deadline = time.monotonic() + timeout
        self._sock.settimeout(1.0)
        while True:
            match = end.search(self._buffer)
            begin = self._buffer.find(b"B" + tag.encode() + b"\r\n")
            if begin < 0:
                begin = self._buffer.find(b"B" + tag.encode() + b"\n")
            if match and begin >= 0:
                start = self._buffer.index(b"\n", begin) + 1
                output = self._buffer[start : match.start() + 1].decode(errors="replace")
                self._buffer = self._buffer[match.end() :]
                status = int(match.group(1))
                if check and status != 0:
                    raise VmError(f"{cmd!r} exited {status}: {output[-2000:]}")
                return status, output.replace("\r\n", "\n").strip("\n")
            if time.monotonic() > deadline:
                raise VmError(f"no answer to {cmd!r} in {timeout} s")
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise VmError(f"shell closed: {exc}") from exc
            if not chunk:
                raise VmError("shell closed")
            self._buffer += chunk

    def wait_for(self, cmd: str, timeout: float, every: float = 1.0) -> float:
        """Run `cmd` until it exits 0; seconds since power-on when it did."""
        deadline = time.monotonic() + timeout
        while True:
            status, _ = self.sh(cmd, timeout=max(5.0, deadline - time.monotonic()))
            if status == 0:
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise VmError(f"{cmd!r} still failing after {timeout} s")
            time.sleep(every)

    def poweroff(self, timeout: float = 120.0) -> None:
        """A clean shutdown (systemctl poweroff), then wait for QEMU to exit."""
        if self.proc is None:
            return
        with contextlib.suppress(VmError):
            self.sh("systemctl poweroff", timeout=5)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.cut_power()
        self._close_sock()

    def wait_exit(self, timeout: float) -> None:
        """Wait for the guest to stop QEMU (a reboot inside the guest is handled by QEMU)."""
        if self.proc is not None:
            self.proc.wait(timeout)


def hub_pid(vm: Vm) -> int:
    """The hub's main pid in the guest (0 when not running)."""
    _, out = vm.sh("systemctl show -p MainPID --value pingan-hub.service")
    return int(out.strip() or 0)


def guest_rss_mib(vm: Vm, pid: int) -> float:
    """VmRSS of a guest process in MiB."""
    _, out = vm.sh(f"grep VmRSS /proc/{pid}/status")
    return int(out.split()[1]) / 1024

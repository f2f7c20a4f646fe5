"""The hub's image in a QEMU VM: start, talk to, cut off, inspect.

Shared by image/boot-test.sh (`python -m bench.vm_boot_test`), bench/vm_power_cut.py and
bench/vm_update.py. The VM boots the image file itself: UEFI firmware -> the image's GRUB
-> the kernel of the chosen root slot. The image's architecture is read from its firmware
partition (which EFI program GRUB is): the Pi image (arm64) runs under
qemu-system-aarch64 `-M virt` with AAVMF, emulated (TCG) on an x86-64 machine; the amd64
variant of the same recipe (`image/build.sh --arch amd64`) under qemu-system-x86_64
`-M q35` with OVMF, on KVM when /dev/kvm is usable (TCG otherwise). Its network is QEMU's user-mode
stack with `restrict=on`: the guest reaches nothing but the forwards given here, each of
which ends on this machine's loopback (the broker, the bundle server). A root shell on the
virtio console (hvc0) is enabled by adding `EFI/pingan/cmdline.cfg` to the VM's copy of
the firmware partition (mtools, no mount); the serial console (ttyAMA0 on arm64, ttyS0 on
amd64) goes to a file.
"""

from __future__ import annotations

import contextlib
import json
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
from typing import Any, Final

IMAGE_DIR: Final = Path(__file__).resolve().parent.parent / "image"
# UEFI firmware per architecture. arm64: AAVMF's code (read-only pflash) and a template of
# its variables (a writable copy per VM). amd64: OVMF whole, as a ROM (-bios), variables
# in RAM: on a KVM host without read-only memory slots (a nested one like this machine)
# pflash is executed as MMIO, which KVM cannot emulate ("KVM internal error ... emulation
# failure" at OVMF's first FPU instruction). Both boot EFI/BOOT's removable-media
# program, so no variable needs to persist.
FIRMWARE: Final = {
    "arm64": (Path("/usr/share/AAVMF/AAVMF_CODE.fd"), Path("/usr/share/AAVMF/AAVMF_VARS.fd")),
    "amd64": (Path("/usr/share/ovmf/OVMF.fd"), None),
}
# The EFI program the firmware starts, in the image's firmware partition.
EFI_PROGRAM: Final = {"arm64": "BOOTAA64.EFI", "amd64": "BOOTX64.EFI"}
SERIAL: Final = {"arm64": "ttyAMA0", "amd64": "ttyS0"}
GUEST_HOST: Final = "10.0.2.100"  # the broker and bundle server as the guest sees them
GUEST_BROKER_PORT: Final = 1883
GUEST_HTTP_PORT: Final = 8080
# The VM's disk: the image grown to this, so the data partition (grown at first boot)
# has room for a downloaded bundle.
DISK_BYTES: Final = 8 * 1024**3
# QEMU's niceness, whatever the caller's: `nice -n 10` under a script already started with
# nice 10 ran it at 19, where other work on a shared machine left it a few % of a core.
QEMU_NICE: Final = 10
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


def image_arch(image: Path) -> str:
    """arm64 or amd64: which EFI program the image's firmware partition holds."""
    offset = layout()["FIRMWARE_START"] * 1024 * 1024
    listing = subprocess.run(
        ["mdir", "-b", "-i", f"{image}@@{offset}", "::/EFI/BOOT"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.upper()
    found = [arch for arch, program in EFI_PROGRAM.items() if program in listing]
    if len(found) != 1:
        raise VmError(f"{image}: no single EFI program in EFI/BOOT ({listing.split()})")
    return found[0]


def kvm_usable() -> bool:
    """Whether this machine lets QEMU use KVM."""
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def prepare_disk(image: Path, disk: Path, *, console: bool = True) -> None:
    """Copy the image (sparse), grow it, and enable the maintenance shell on the copy."""
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    os.truncate(disk, DISK_BYTES)
    if console:
        offset = layout()["FIRMWARE_START"] * 1024 * 1024
        cfg = disk.parent / "cmdline.cfg"
        serial = SERIAL[image_arch(image)]
        cfg.write_text(f'extra_cmdline="console={serial},115200 pingan.console=hvc0"\n')
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
    arch: str = ""  # "" means: read it from the disk (image_arch)
    accel: str = ""  # kvm or tcg; "" means kvm for an amd64 guest when /dev/kvm is usable
    disk_format: str = "raw"  # qcow2 for an overlay over a saved state's disk
    incoming: Path | None = None  # a saved machine state (save_state) to resume from
    monitor: bool = False  # a QMP socket (save_state needs it)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    _monitor: Any = None
    boots: int = field(default=0)

    def __post_init__(self) -> None:
        if not self.arch:
            self.arch = image_arch(self.disk)
        if not self.accel:
            self.accel = "kvm" if self.arch == "amd64" and kvm_usable() else "tcg"
        if self.accel == "kvm" and self.arch != "amd64":
            raise VmError(f"an {self.arch} guest cannot run on this machine's KVM")

    @property
    def accelerator(self) -> str:
        """kvm when the guest runs natively on this machine's CPU, tcg when emulated."""
        return self.accel

    @property
    def console_log(self) -> Path:
        """The serial console's output (kernel messages, GRUB's slot choice)."""
        return self.workdir / f"console-{self.boots}.log"

    def command(self) -> list[str]:
        """The qemu-system-aarch64 or qemu-system-x86_64 command line."""
        code_fd, vars_template = FIRMWARE[self.arch]
        if vars_template is None:
            firmware = ["-bios", str(code_fd)]
        else:
            vars_fd = self.workdir / "efivars.fd"
            if not vars_fd.exists():
                shutil.copy(vars_template, vars_fd)
            firmware = [
                "-drive",
                f"if=pflash,format=raw,readonly=on,file={code_fd}",
                "-drive",
                f"if=pflash,format=raw,file={vars_fd}",
            ]
        forwards = [
            f"guestfwd=tcp:{GUEST_HOST}:{GUEST_BROKER_PORT}-"
            f"cmd:socat STDIO TCP:127.0.0.1:{self.broker_port}"
        ]
        if self.http_port:
            forwards.append(
                f"guestfwd=tcp:{GUEST_HOST}:{GUEST_HTTP_PORT}-"
                f"cmd:socat STDIO TCP:127.0.0.1:{self.http_port}"
            )
        if self.arch == "arm64":
            machine = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72"]
            bus = "device"  # virtio-mmio on -M virt
        elif self.accelerator == "kvm":
            # arch-capabilities off: QEMU 7.2 aborts on a nested KVM host that refuses
            # that MSR ("failed to set MSR 0x10a"), as this machine's does.
            machine = [
                "qemu-system-x86_64",
                "-M",
                "q35,accel=kvm",
                "-cpu",
                "host,-arch-capabilities",
            ]
            bus = "pci"
        else:
            machine = ["qemu-system-x86_64", "-M", "q35,accel=tcg", "-cpu", "max"]
            bus = "pci"
        argv = [
            *machine,
            "-smp",
            "2",
            "-m",
            str(MEMORY_MB),
            *firmware,
            "-drive",
            f"if=none,id=disk,format={self.disk_format},file={self.disk},cache=writeback",
            "-device",
            f"virtio-blk-{bus},drive=disk",
            "-netdev",
            "user,id=net,restrict=on," + ",".join(forwards),
            "-device",
            f"virtio-net-{bus},netdev=net",
            "-device",
            f"virtio-serial-{bus}",
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
        if self.monitor:
            argv += ["-qmp", f"unix:{self.workdir / 'monitor.sock'},server=on,wait=off"]
        if self.incoming is not None:
            argv += ["-incoming", f"exec:cat {self.incoming}"]
        if self.watchdog:
            argv += ["-device", "i6300esb", "-action", "watchdog=reset"]
        return argv

    def start(self) -> None:
        """Power on."""
        self.boots += 1
        (self.workdir / "shell.sock").unlink(missing_ok=True)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [
                "nice",
                "-n",
                str(max(0, QEMU_NICE - os.getpriority(os.PRIO_PROCESS, 0))),
                *self.command(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=(self.workdir / "qemu.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        # QEMU binds the socket before it listens: the file may exist and still refuse.
        deadline = time.monotonic() + 30
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.workdir / "shell.sock"))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.cut_power()  # never leave a QEMU behind
                    raise VmError(f"qemu did not start: see {self.workdir / 'qemu.log'}") from None
                time.sleep(0.05)
        self._sock = sock
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

    def _qmp(self, timeout: float) -> Any:
        """A QMP session on the monitor socket: a function running one command."""
        mon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mon.connect(str(self.workdir / "monitor.sock"))
        mon.settimeout(timeout)
        reader = mon.makefile("rb")

        def qmp(command: str, **arguments: object) -> Any:
            request: dict[str, object] = {"execute": command}
            if arguments:
                request["arguments"] = arguments
            mon.sendall(json.dumps(request).encode() + b"\n")
            while True:  # events ({"event": ...}) may come first
                line = reader.readline()
                if not line:
                    raise VmError(f"QEMU's monitor closed during {command}")
                answer = json.loads(line)
                if "error" in answer:
                    raise VmError(f"{command}: {answer['error']}")
                if "return" in answer:
                    return answer["return"]

        json.loads(reader.readline())  # the greeting
        qmp("qmp_capabilities")
        self._monitor = (mon, reader)
        return qmp

    def _close_qmp(self) -> None:
        if self._monitor is not None:
            for part in self._monitor:
                part.close()
            self._monitor = None

    def save_state(self, state: Path, timeout: float = 600.0) -> None:
        """Pause the guest, write its whole machine state (RAM, devices) to `state`, stop.

        The disk is left as it was at the pause: a copy-on-write overlay over it plus the
        state resume the very same running system (`incoming` + `resume`), as often as
        wanted.
        """
        qmp = self._qmp(timeout)
        try:
            qmp("stop")
            qmp("migrate", uri=f"exec:cat > {state}")
            deadline = time.monotonic() + timeout
            while True:
                status = qmp("query-migrate").get("status")
                if status == "completed":
                    break
                if status in {"failed", "cancelled"} or time.monotonic() > deadline:
                    raise VmError(f"saving the machine state: migration {status}")
                time.sleep(0.5)
        finally:
            self._close_qmp()
        self.cut_power()

    def resume(self, timeout: float = 600.0) -> float:
        """Run a machine started from a saved state once it is loaded (it was saved paused);
        seconds since QEMU started."""
        qmp = self._qmp(timeout)
        try:
            deadline = time.monotonic() + timeout
            while qmp("query-status").get("status") == "inmigrate":
                if time.monotonic() > deadline:
                    raise VmError(f"the saved state did not load in {timeout} s")
                time.sleep(0.2)
            qmp("cont")
        finally:
            self._close_qmp()
        return time.monotonic() - self.started_at

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

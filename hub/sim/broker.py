"""A private mosquitto broker on a free loopback port (demo and tests; no root needed)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hub.errors import HubError


def _ephemeral_low() -> int:
    """The first port the kernel hands out for outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, below the ephemeral range.

    Below it, because a hub retrying a broker that is down (a test's stopped broker) could
    otherwise be given that very port as its own local port and connect to itself (TCP
    simultaneous open: it read back its own CONNECT), holding the port so the broker
    cannot start there.
    """
    rng = random.Random()
    high = max(_ephemeral_low() - 1, 10001)
    for _ in range(200):
        port = rng.randint(10000, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded range: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str:
    """The mosquitto binary (Debian installs it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise HubError(
            "mosquitto is not installed: run `sudo apt-get install mosquitto` "
            "(the ./dev script does this for you when run as root)"
        )
    return found


def wait_listening(
    proc: subprocess.Popen[bytes], name: str, port: int, timeout: float, why: Callable[[], str]
) -> None:
    """Wait until a broker process accepts connections on `port`; HubError (with `why()`,
    e.g. its log) if it exits first or does not listen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubError(f"{name} exited at start: {why().strip()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.05)
    raise HubError(f"{name} did not listen on port {port} within {timeout} s")


def terminate(proc: subprocess.Popen[bytes] | None, grace_s: float = 5.0) -> None:
    """SIGTERM (brokers save their state on it), SIGKILL after `grace_s`."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Mosquitto:
    """A mosquitto process with its own config, stoppable and restartable on the same port."""

    def __init__(
        self,
        port: int | None = None,
        workdir: Path | None = None,
        *,
        extra: str = "",
        anonymous: bool = True,
    ) -> None:
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="pingan-broker-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.binary = find_mosquitto()
        self.proc: subprocess.Popen[bytes] | None = None
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            # Started as root, mosquitto drops to the 'mosquitto' user and then cannot
            # read our private temp directory; stay the user that started it.
            ("user root\n" if os.geteuid() == 0 else "")
            + f"listener {self.port} 127.0.0.1\n"
            + extra
            + f"allow_anonymous {'true' if anonymous else 'false'}\n"
            # Keep sessions and retained messages across a broker restart, like a real one.
            + "persistence true\n"
            + f"persistence_location {self.workdir}/\n"
            + "log_dest none\n"
            + "max_queued_messages 100000\n"
            # Deliver small alarm packets at once (mosquitto leaves Nagle on by default).
            + "set_tcp_nodelay true\n"
        )
        self.conf = conf

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        stderr = self.proc.stderr
        wait_listening(
            self.proc,
            "mosquitto",
            self.port,
            timeout,
            lambda: stderr.read().decode(errors="replace") if stderr else "",
        )

    def stop(self) -> None:
        """Stop (SIGTERM: it saves its persistence file)."""
        terminate(self.proc)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def close(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

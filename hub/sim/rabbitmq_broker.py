"""A third broker for the contract tests: RabbitMQ's MQTT plugin (Debian rabbitmq-server).

RabbitMQ is the kind of clustered broker DESIGN.md expects the cloud to run. Debian 12
ships 3.10, whose MQTT plugin speaks 3.1.1 only (MQTT 5 arrived in 3.13) and has no
shared subscriptions. It takes ~10 s to start here, so its tests are opt-in
(`PINGAN_RABBITMQ=1`); nothing in the default test run starts it.

Everything is private and on loopback: its own epmd (started here, on a free port, so
it is ours to stop), its own node name, data and log directories, the MQTT listener on
127.0.0.1 and Erlang distribution bound to 127.0.0.1. Same interface as
`hub.sim.broker.Mosquitto`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from hub.errors import HubError
from hub.sim.broker import free_port, terminate, wait_listening

_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def rabbitmq_installed() -> bool:
    """Whether Debian's rabbitmq-server and epmd are here."""
    return Path(_SERVER).exists() and shutil.which("epmd") is not None


class RabbitMQ:
    """A private RabbitMQ node with the MQTT plugin, anonymous MQTT on a free port."""

    name = "rabbitmq"

    def __init__(self, port: int | None = None, workdir: Path | None = None) -> None:
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="pingan-rmq-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.proc: subprocess.Popen[bytes] | None = None
        self.epmd: subprocess.Popen[bytes] | None = None
        self.epmd_port = free_port()
        self.node = f"pingan{uuid.uuid4().hex[:8]}@localhost"
        self.log = self.workdir / "rabbitmq.out"
        (self.workdir / "rabbitmq.conf").write_text(
            "listeners.tcp = none\n"  # no AMQP listener: only MQTT is tested
            f"mqtt.listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n"
        )
        (self.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")

    def _env(self) -> dict[str, str]:
        w = self.workdir
        return {
            **os.environ,
            "HOME": str(w),  # the Erlang cookie lives here
            "RABBITMQ_CONFIG_FILE": str(w / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_PID_FILE": str(w / "pid"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
            ),
        }

    def start(self, timeout: float = 60.0) -> None:
        """Start epmd and the node; wait until the MQTT listener accepts connections."""
        if not rabbitmq_installed():
            raise HubError("rabbitmq-server is not installed: apt-get install rabbitmq-server")
        epmd = shutil.which("epmd") or "epmd"
        self.epmd = subprocess.Popen(
            [epmd, "-address", "127.0.0.1", "-port", str(self.epmd_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [_SERVER], stdout=out, stderr=subprocess.STDOUT, env=self._env()
            )
        wait_listening(
            self.proc, "rabbitmq", self.port, timeout, lambda: self.log.read_text(errors="replace")
        )

    def stop(self) -> None:
        """Stop the node (SIGTERM: Erlang shuts down cleanly), then its epmd."""
        for proc in (self.proc, self.epmd):
            terminate(proc, grace_s=15)
        self.proc = self.epmd = None

    def close(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> RabbitMQ:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A second broker implementation for the contract tests: amqtt, as a real subprocess.

amqtt (https://github.com/Yakifo/amqtt) is a pure-Python asyncio MQTT 3.1.1 broker. It
is nothing like mosquitto inside, which is the point: the hub's MQTT contract must hold
on whatever broker the cloud runs (DESIGN.md: EMQX, VerneMQ, HiveMQ, RabbitMQ MQTT).
It speaks MQTT 3.1.1 only, so a hub with `mqtt.protocol = "auto"` must fall back from 5.
It keeps sessions and retained messages in memory only: a restart forgets them.

Same interface as `hub.sim.broker.Mosquitto` (port, start, stop, close, with).
Installed with the `test` extra (`amqtt` on PyPI); imported only in the subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hub.errors import HubError
from hub.sim.broker import free_port, terminate, wait_listening


class Amqtt:
    """An amqtt broker process on a free loopback port, anonymous, no persistence."""

    name = "amqtt"

    def __init__(self, port: int | None = None, workdir: Path | None = None) -> None:
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="pingan-amqtt-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / "amqtt.log"
        self.conf = self.workdir / "amqtt.yaml"
        # JSON is YAML. No logging plugins: amqtt's packet logger costs CPU per packet.
        self.conf.write_text(
            json.dumps(
                {
                    "listeners": {
                        "default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"},
                    },
                    "plugins": {
                        "amqtt.plugins.authentication.AnonymousAuthPlugin": {
                            "allow_anonymous": True
                        },
                    },
                },
                indent=1,
            )
        )

    def start(self, timeout: float = 20.0) -> None:
        """Start and wait until it accepts connections."""
        if importlib.util.find_spec("amqtt") is None:
            raise HubError("amqtt is not installed: pip install 'amqtt>=0.12,<0.13'")
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_listening(
            self.proc, "amqtt", self.port, timeout, lambda: self.log.read_text(errors="replace")
        )

    def stop(self) -> None:
        """Stop the process (its sessions and retained messages are lost)."""
        terminate(self.proc)
        self.proc = None

    def close(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> Amqtt:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

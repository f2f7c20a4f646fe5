"""A RabbitMQ cluster on one machine: several nodes of Debian's rabbitmq-server, clustered.

What a city's alarm service runs, small: N nodes (3 by default, the smallest cluster
RabbitMQ's MQTT plugin supports: its client-id tracking is a Raft group and needs a
majority), each with its own node name, data and log directories, Erlang distribution
port and MQTT listener on 127.0.0.1, all registered in one private epmd (started here on
a free port, so it is ours to stop) and sharing one Erlang cookie. The nodes find each
other through `classic_config` peer discovery: the first node boots alone, the others
join it when they boot.

Durable MQTT sessions (clean session off) are quorum queues (`mqtt.durable_queue_type
= quorum`, RabbitMQ 3.10+): a hub's session and the messages queued in it are
replicated on every node and outlive the loss of the node that held them. With
RabbitMQ's default (classic queues) a session lives on one node only, and when that node
dies the hub cannot subscribe anywhere else until it comes back (seen while building
this runner; tests/test_broker_list.py plays such a node through a proxy that drops
SUBSCRIBE, tests/test_rabbitmq_cluster.py runs the quorum case).

`kill(i)` is SIGKILL of a node's Erlang VM (no goodbye to clients, no last wills sent:
a crashed or unplugged server); `stop(i)` is a clean shutdown; `start(i)` brings a node
back into the cluster.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from hub.errors import HubError
from hub.sim.broker import free_port, terminate, wait_listening
from hub.sim.rabbitmq_broker import rabbitmq_installed

_SERVER: Final = "/usr/lib/rabbitmq/bin/rabbitmq-server"
_CTL: Final = "/usr/lib/rabbitmq/bin/rabbitmqctl"
# A node's boot takes ~10 s here alone, ~20 s when two boot at once on two busy cores.
_BOOT_TIMEOUT_S: Final = 120.0
# Mnesia's and Raft's own timeouts are in this range; a clean stop of a node holding
# thousands of sessions takes a few seconds more.
_STOP_GRACE_S: Final = 60.0
# /proc/net/tcp's state codes (include/net/tcp_states.h) named here.
_TCP_STATES: Final = {"01": "established", "06": "time_wait", "08": "close_wait"}
_TCP_LISTEN: Final = "0A"


class ClusterNode:
    """One node of the cluster: its name, ports, directories and process."""

    def __init__(self, cluster: RabbitCluster, index: int, name: str) -> None:
        self.cluster = cluster
        self.index = index
        self.name = name
        self.port = free_port()
        self.dist_port = free_port()
        self.dir = cluster.workdir / f"node{index + 1}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "rabbitmq.out"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """`127.0.0.1:port` of this node's MQTT listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The Erlang VM's process id while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def _write_config(self) -> None:
        peers = "".join(
            f"cluster_formation.classic_config.nodes.{n + 1} = {node.name}\n"
            for n, node in enumerate(self.cluster.nodes)
        )
        (self.dir / "rabbitmq.conf").write_text(
            "listeners.tcp = none\n"  # no AMQP listener: only MQTT is used
            f"mqtt.listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n"
            # A city's reconnect storm arrives at once: the default backlog is 128.
            "mqtt.tcp_listen_options.backlog = 4096\n"
            "mqtt.num_acceptors.tcp = 20\n"
            f"mqtt.durable_queue_type = {self.cluster.session_queues}\n"
            "cluster_formation.peer_discovery_backend = classic_config\n"
            + peers
            # A killed node is partitioned away; the survivors keep serving (the MQTT
            # plugin itself needs a majority of the nodes).
            + "cluster_partition_handling = pause_minority\n"
            # Several nodes share one machine: each may use a fraction of its memory.
            + f"vm_memory_high_watermark.relative = {self.cluster.memory_fraction}\n"
            + "log.file.level = warning\n"
        )

    def _env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "HOME": str(self.cluster.workdir),  # the shared Erlang cookie lives here
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.cluster.workdir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.cluster.epmd_port),
            # Exec the Erlang VM in place of the start script, so that proc.pid is the
            # VM and kill() kills the broker itself, not a wrapper shell.
            "RUNNING_UNDER_SYSTEMD": "true",
            **(
                {"RABBITMQ_SCHEDULER_BIND_TYPE": self.cluster.scheduler_bind_type}
                if self.cluster.scheduler_bind_type
                else {}
            ),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
                + (
                    f" -rabbit quorum_tick_interval {self.cluster.quorum_tick_ms}"
                    if self.cluster.quorum_tick_ms
                    else ""
                )
                + (
                    f" -rabbit file_handles_high_watermark {self.cluster.file_handle_limit}"
                    if self.cluster.file_handle_limit
                    else ""
                )
            ),
        }

    def launch(self) -> None:
        """Start the node's VM (returns at once; `wait` waits for its MQTT listener)."""
        self._write_config()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [_SERVER],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # a Ctrl-C in the terminal is for the harness
            )

    def wait(self, timeout: float = _BOOT_TIMEOUT_S) -> None:
        """Wait until the node's MQTT listener accepts connections."""
        assert self.proc is not None
        wait_listening(
            self.proc,
            f"rabbitmq node {self.name}",
            self.port,
            timeout,
            lambda: self.log.read_text(errors="replace")[-4000:],
        )

    def kill(self) -> None:
        """SIGKILL the VM: the node vanishes as in a crash or power loss."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """Shut the node down cleanly (SIGTERM)."""
        terminate(self.proc, grace_s=_STOP_GRACE_S)
        self.proc = None


class RabbitCluster:
    """N RabbitMQ nodes on loopback forming one cluster, anonymous MQTT on each."""

    name = "rabbitmq-cluster"

    def __init__(
        self,
        size: int = 3,
        workdir: Path | None = None,
        *,
        session_queues: str = "quorum",
        memory_fraction: float = 0.3,
        quorum_tick_ms: int | None = None,
        file_handle_limit: int | None = None,
        scheduler_bind_type: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        if session_queues not in ("quorum", "classic"):
            raise ValueError("session_queues: 'quorum' or 'classic'")
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="pingan-rmqc-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.session_queues = session_queues
        self.memory_fraction = memory_fraction
        # Every replica of every quorum queue wakes up this often (RabbitMQ's
        # `quorum_tick_interval`, 5,000 ms by default) to publish its metrics and check
        # its members: with a queue per hub session that is work per hub, not per node.
        self.quorum_tick_ms = quorum_tick_ms
        # RabbitMQ 3.10 counts file handles in its own book (file_handle_cache), sized from
        # the descriptor limit: each quorum queue replica reserves some (measured: 5 for a
        # leader, 2 for a follower) and each MQTT socket one, whatever is really open. A
        # new socket waits, with no log line, until the book has room. None: RabbitMQ's
        # own size (the ulimit less 100); a number sets `file_handles_high_watermark`.
        self.file_handle_limit = file_handle_limit
        # RabbitMQ starts the Erlang VM with `+stbt db`: scheduler N bound to logical
        # core N-1. Made for one node per host; here every node binds its first scheduler
        # to core 0, and the kernel cannot move a busy node to the idle core. None keeps
        # RabbitMQ's default; "u" leaves the schedulers unbound.
        self.scheduler_bind_type = scheduler_bind_type
        self.epmd_port = free_port()
        self.epmd: subprocess.Popen[bytes] | None = None
        tag = uuid.uuid4().hex[:6]
        self.nodes: list[ClusterNode] = []
        for i in range(size):
            self.nodes.append(ClusterNode(self, i, f"pingan{tag}n{i + 1}@localhost"))
        cookie = self.workdir / ".erlang.cookie"
        if not cookie.exists():  # Erlang refuses a cookie file others may read
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        (self.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")

    @property
    def addresses(self) -> list[str]:
        """Every node's MQTT address, `127.0.0.1:port`, in node order."""
        return [node.address for node in self.nodes]

    @property
    def port(self) -> int:
        """The first node's MQTT port (for code that takes one broker)."""
        return self.nodes[0].port

    def start(self, timeout: float = _BOOT_TIMEOUT_S) -> None:
        """Start epmd and every node: the first alone, then the rest joining it."""
        if not rabbitmq_installed():
            raise HubError("rabbitmq-server is not installed: apt-get install rabbitmq-server")
        if self.epmd is None:
            epmd = shutil.which("epmd") or "epmd"
            self.epmd = subprocess.Popen(
                [epmd, "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        first, rest = self.nodes[0], self.nodes[1:]
        # Booted together, every node could find no running peer and form a cluster of
        # its own: the first boots alone, then the others join it (two at a time is fine).
        first.launch()
        first.wait(timeout)
        for node in rest:
            node.launch()
        for node in rest:
            node.wait(timeout)
        self.await_members(len(self.nodes), timeout)

    def start_node(self, index: int, timeout: float = _BOOT_TIMEOUT_S) -> None:
        """Start one node again (after kill or stop); it rejoins the cluster."""
        node = self.nodes[index]
        node.launch()
        node.wait(timeout)

    def kill(self, index: int) -> None:
        """SIGKILL node `index` (0-based): a crash, no clean goodbye to anyone."""
        self.nodes[index].kill()

    def stop_node(self, index: int) -> None:
        """Stop node `index` cleanly."""
        self.nodes[index].stop()

    def running(self) -> list[int]:
        """Indexes of the nodes whose VM is running."""
        return [n.index for n in self.nodes if n.pid is not None]

    def ctl(self, *args: str, node: int | None = None, timeout: float = 60.0) -> str:
        """Run rabbitmqctl against a running node (the first running one by default)."""
        index = node if node is not None else self.running()[0]
        target = self.nodes[index]
        env = target._env()
        env.pop("RUNNING_UNDER_SYSTEMD", None)
        done = subprocess.run(
            [_CTL, "-n", target.name, *args],
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise HubError(
                f"rabbitmqctl {' '.join(args)}: {done.stderr.decode(errors='replace')[-2000:]}"
            )
        return done.stdout.decode(errors="replace")

    def members(self) -> list[str]:
        """Node names the first running node counts as running members of its cluster."""
        out = self.ctl("eval", "rabbit_nodes:all_running().")
        return sorted(name.strip(" '[]\n") for name in out.split(",") if name.strip(" '[]\n"))

    def await_members(self, count: int, timeout: float = _BOOT_TIMEOUT_S) -> None:
        """Wait until `count` nodes run as one cluster; HubError otherwise."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                seen = self.members()
            except (HubError, subprocess.TimeoutExpired):
                seen = []
            if len(seen) >= count:
                return
            time.sleep(0.5)
        raise HubError(f"the cluster has {len(seen)} running members, not {count}: {seen}")

    def memory_kib(self) -> dict[int, int]:
        """Resident memory (VmRSS, KiB) of each running node's Erlang VM."""
        out: dict[int, int] = {}
        for node in self.nodes:
            pid = node.pid
            if pid is None:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[node.index] = int(line.split()[1])
        return out

    def sockets(self) -> dict[int, Counter[str]]:
        """Each running node's MQTT connections on the node's side, by TCP state
        ("established", "close_wait", "time_wait", "other"; the listening socket left
        out; a socket in TIME-WAIT holds no descriptor).

        CLOSE-WAIT is a connection its client has closed and the node not yet: mostly an
        abandoned CONNECT the node is still working on. After a node kill on too little
        CPU those piled up by the thousand on the survivors until one ran out of file
        descriptors (bench/README.md, issue 21): bench/fleet.py prints these, and
        tests/test_rabbitmq_cluster.py checks none are left.
        """
        found = {n.port: Counter[str]() for n in self.nodes if n.pid is not None}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
                next(lines)
                for line in lines:
                    fields = line.split(None, 4)
                    port = int(fields[1].rsplit(":", 1)[1], 16)
                    if port in found and fields[3] != _TCP_LISTEN:
                        found[port][_TCP_STATES.get(fields[3], "other")] += 1
        return {n.index: found[n.port] for n in self.nodes if n.port in found}

    def file_handle_book(self) -> dict[int, tuple[int, int, int]]:
        """Each running node's file handle book (RabbitMQ's file_handle_cache): (limit,
        used, sockets). When used reaches the limit, new connections wait unanswered: the
        book, not the kernel, is full (see `file_handle_limit`). Nodes that do not answer
        are left out."""
        out: dict[int, tuple[int, int, int]] = {}
        for index in self.running():
            with contextlib.suppress(HubError, subprocess.TimeoutExpired):
                text = self.ctl(
                    "eval",
                    "[V || {_, V} <- file_handle_cache:info([total_limit, total_used,"
                    " sockets_used])].",
                    node=index,
                    timeout=30,
                )
                limit, used, sockets = (int(v) for v in text.strip(" []\n").split(","))
                out[index] = (limit, used, sockets)
        return out

    def open_fds(self) -> dict[int, int]:
        """How many file descriptors each running node's VM holds."""
        out: dict[int, int] = {}
        for node in self.nodes:
            if node.pid is not None:
                with contextlib.suppress(OSError):
                    out[node.index] = len(os.listdir(f"/proc/{node.pid}/fd"))
        return out

    def stop(self) -> None:
        """Stop every node (in parallel: each waits for its peers' goodbyes), then epmd."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))
        terminate(self.epmd)
        self.epmd = None

    def close(self) -> None:
        """Stop everything and remove the working directory."""
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> RabbitCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

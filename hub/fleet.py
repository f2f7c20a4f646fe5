"""Fleet admin tools: `keygen`, `sign-config`, `fleet push`, `fleet status`.

These run on the admin's machine, not on a hub. The private key never leaves it: hubs
hold only the public key (`[fleet] public_keys` in their local config).

A group push is one envelope, signed once with `"group": G`, published retained to each
listed hub's own `{prefix}/{hub}/config/desired`. There is no group topic: every hub
reads only topics under its own root, so the broker's per-hub ACL (e.g. mosquitto's
`pattern read pingan/v1/%c/#`) stays one rule, and a hub that joins late still finds its
config retained on its own topic. The admin names the hubs (`--hub`, or `--hubs FILE`
with one id per line); the hub itself checks that it is in the group.

At city scale (README "Fleet at city scale"): `fleet push` publishes at a steady rate
(`--rate`, per second) with a bounded number awaiting PUBACK, moves to the next node of
the cluster (`--broker` repeated) when its connection is lost, and writes each hub whose
envelope the broker PUBACKed to a journal beside the envelope: run the same command
again after an interruption and it goes on with the hubs not yet done. `fleet watch`
(hub.fleet_watch) keeps the fleet's state in a file; `fleet status --state FILE` reads
it: counts by state, software and config version first, then the hubs asked for
(`--lagging`, `--offline-since`, `--all`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
import ssl
import sys
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import aiomqtt

from hub.config import parse_config
from hub.errors import ConfigError, HubError, UplinkError
from hub.sync import ota
from hub.sync.brokers import BrokerAddress, parse_broker

if TYPE_CHECKING:  # cryptography (~7 MB) is loaded only by the commands that sign
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# How long `fleet status` listens: retained messages arrive right after SUBSCRIBE, so a
# couple of seconds is plenty on a LAN; a big fleet over a slow link may want more.
DEFAULT_STATUS_WAIT_S: Final = 2.0
# A hub whose retained status says online but whose heartbeat is older than this is
# shown as "silent": its broker session may still look alive while it has stopped.
DEFAULT_STALE_S: Final = 180.0
_CONNECT_TIMEOUT_S: Final = 10.0
# Topic filters per SUBSCRIBE packet when `fleet status` names its hubs.
_SUBSCRIBE_BATCH: Final = 100
# `fleet push` publishes per second by default. Each envelope costs the broker a retained
# store write and a replicated enqueue, and each hub answers with a report and a
# heartbeat; a 3-node RabbitMQ 3.10 cluster on 2 cores took ~300 pushes/s while 20,000
# hubs stayed connected (bench/README.md "Fleet at city scale"): 84,000 hubs in under
# 10 min at 200/s, leaving headroom for alarms.
DEFAULT_PUSH_RATE: Final = 200.0
# Envelopes awaiting their PUBACK at once: enough to keep a LAN's round trips busy at
# the default rate, few enough that a lost connection re-sends little.
PUSH_WINDOW: Final = 200
# A push gives up (the journal keeps its progress) after every node failed this often.
_PUSH_ROUNDS: Final = 5
_PUSH_RETRY_S: Final = 2.0
# The journal is fsynced this often; a crash loses at most this much progress (those
# hubs are pushed again and ignore the copy: same version, hub.sync.ota REPLAY).
_JOURNAL_SYNC_S: Final = 0.5
# A fleet larger than this shows counts only unless hubs are asked for.
LIST_UNASKED: Final = 50

_LOGGER = logging.getLogger(__name__)


class FleetError(HubError):
    """An admin tool could not do what was asked (bad key file, broker unreachable)."""


@dataclass(frozen=True)
class Broker:
    """Where and how the admin tools connect."""

    host: str = "localhost"
    port: int = 1883
    prefix: str = "pingan/v1"
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    brokers: tuple[str, ...] = ()  # a cluster's nodes, host:port; replaces host and port

    def nodes(self) -> tuple[BrokerAddress, ...]:
        """The nodes to use, in order: `brokers`, or the one `host`:`port`."""
        if self.brokers:
            return tuple(dict.fromkeys(parse_broker(b, self.port) for b in self.brokers))
        return (BrokerAddress(self.host, self.port),)

    def client(
        self,
        node: BrokerAddress | None = None,
        *,
        identifier: str | None = None,
        persistent: bool = False,
        inflight: int | None = None,
    ) -> aiomqtt.Client:
        """An admin client on `node` (the first by default): clean session and a unique id,
        or a persistent session under `identifier`."""
        target = node or self.nodes()[0]
        tls_context = None
        if self.tls:
            tls_context = ssl.create_default_context(cafile=self.ca_file or None)
            if self.cert_file:
                tls_context.load_cert_chain(self.cert_file, self.key_file or None)
        return aiomqtt.Client(
            target.host,
            target.port,
            username=self.username or None,
            password=self.password or None,
            identifier=identifier or f"pingan-admin-{uuid.uuid4().hex[:12]}",
            clean_session=not persistent,
            tls_context=tls_context,
            timeout=_CONNECT_TIMEOUT_S,
            max_inflight_messages=inflight,
        )


# -- keys and signing ---------------------------------------------------------------------


def keygen(private_path: Path) -> str:
    """Write a new Ed25519 key (PEM, mode 0600) and `<path>.pub`; returns the public key text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = ota.public_key_text(key)
    try:
        # O_EXCL: never overwrite a fleet key, losing it would orphan every hub.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise FleetError(f"{private_path} exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise FleetError(f"cannot write {private_path}: {exc}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    Path(f"{private_path}.pub").write_text(public + "\n", encoding="ascii")
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 signing key in a PEM file written by keygen."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise FleetError(f"cannot read {path}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise FleetError(f"{path}: not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise FleetError(f"{path}: not an Ed25519 key")
    return key


def read_overlay(path: Path, *, check: bool = True) -> dict[str, Any]:
    """A partial config from TOML; ConfigError when a hub would refuse it outright.

    The check merges it over the defaults: a hub merges it over its own file, so this
    catches unknown options, wrong types and forbidden sections, not every cross-check.
    """
    try:
        overlay = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    if check:
        problems = ota.check_overlay(overlay)
        if problems:
            raise ConfigError(problems)
        parse_config(ota.merge_config({"hub": {"id": "fleet-check"}}, overlay))
    return overlay


def sign_config(
    key_path: Path,
    version: int,
    config_path: Path,
    *,
    hub: str | None = None,
    group: str | None = None,
    now: datetime | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """The signed envelope for a TOML partial config."""
    if not 1 <= version <= ota.MAX_VERSION:
        raise FleetError(f"--version must be from 1 to {ota.MAX_VERSION}")
    overlay = read_overlay(config_path, check=check)
    key = load_private_key(key_path)
    return ota.sign_envelope(key, version, overlay, now or datetime.now(UTC), hub=hub, group=group)


# -- push ---------------------------------------------------------------------------------


def desired_topics(broker: Broker, envelope: dict[str, Any], hubs: Iterable[str]) -> list[str]:
    """The `config/desired` topics an envelope goes to (its own hub, or each listed hub)."""
    listed = list(dict.fromkeys(hubs))
    target = envelope.get("hub")
    if isinstance(target, str):
        if listed and listed != [target]:
            raise FleetError(f"the envelope is signed for hub {target}; do not list other hubs")
        listed = [target]
    elif not listed:
        raise FleetError("a group envelope needs the hubs to send it to (--hub or --hubs)")
    return [f"{broker.prefix}/{hub_id}/config/desired" for hub_id in listed]


def envelope_payload(envelope: dict[str, Any]) -> bytes:
    """The bytes `fleet push` publishes for an envelope."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


class PushJournal:
    """The hubs whose envelope the broker PUBACKed, appended to a file as they come.

    The first line names the envelope (its digest): a journal is only ever resumed for
    the very envelope it was written for.
    """

    def __init__(self, path: Path, payload: bytes) -> None:
        self.path = path
        self.digest = hashlib.sha256(payload).hexdigest()
        self.done: set[str] = set()
        self._unsynced = 0
        self._last_sync = time.monotonic()
        header = json.dumps({"envelope_sha256": self.digest})
        try:
            if path.exists():
                lines = path.read_text(encoding="utf-8").splitlines()
                if not lines or lines[0] != header:
                    raise FleetError(
                        f"{path} is the journal of another envelope; remove it to push"
                        " this one from the start, or give another --journal"
                    )
                self.done = {line for line in lines[1:] if line}
                self._file: IO[str] = path.open("a", encoding="utf-8")
            else:
                self._file = path.open("w", encoding="utf-8")
                self._file.write(header + "\n")
                self.sync()
        except OSError as exc:
            raise FleetError(f"cannot use the push journal {path}: {exc}") from exc

    def add(self, hub_id: str) -> None:
        """Record a PUBACKed hub (on disk at the next sync)."""
        self.done.add(hub_id)
        self._file.write(hub_id + "\n")
        self._unsynced += 1
        if time.monotonic() - self._last_sync >= _JOURNAL_SYNC_S:
            self.sync()

    def sync(self) -> None:
        """Flush and fsync what was added."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close."""
        self.sync()
        self._file.close()


@dataclass
class PushProgress:
    """How far a push got: for the admin's terminal and for the benchmark."""

    total: int
    done: int = 0
    skipped: int = 0  # already in the journal when this run started
    reconnects: int = 0
    node: str = ""


def _hub_of(topic: str) -> str:
    return topic.rsplit("/", 3)[-3]


async def push(
    broker: Broker,
    envelope: dict[str, Any],
    hubs: Iterable[str] = (),
    *,
    rate: float | None = None,
    window: int = PUSH_WINDOW,
    journal: Path | None = None,
    progress: Callable[[PushProgress], None] | None = None,
) -> list[str]:
    """Publish the envelope retained, QoS 1, to each target; returns the topics once PUBACKed.

    At most `rate` publishes a second (None: as fast as `window` PUBACKs allow), over the
    broker's nodes in turn when a connection is lost; with `journal`, hubs done in an
    earlier run are skipped and each PUBACK is recorded. UplinkError when every node
    failed `_PUSH_ROUNDS` times; the journal then holds what was done.
    """
    topics = desired_topics(broker, envelope, hubs)
    payload = envelope_payload(envelope)
    log = PushJournal(journal, payload) if journal is not None else None
    state = PushProgress(total=len(topics))
    try:
        pending = [t for t in topics if log is None or _hub_of(t) not in log.done]
        state.skipped = len(topics) - len(pending)
        state.done = state.skipped
        await _Pusher(broker, payload, rate, window, log, state, progress).run(pending)
    finally:
        if log is not None:
            log.close()
    return topics


@dataclass
class _Pusher:
    """One push's settings and progress, over as many connections as it takes."""

    broker: Broker
    payload: bytes
    rate: float | None
    window: int
    log: PushJournal | None
    state: PushProgress
    progress: Callable[[PushProgress], None] | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(self, pending: list[str]) -> None:
        """Publish to every pending topic, moving to the next node when a connection fails."""
        nodes = self.broker.nodes()
        index = failures = 0
        while pending:
            node = nodes[index % len(nodes)]
            self.state.node = str(node)
            acked: set[str] = set()
            try:
                async with self.broker.client(node, inflight=self.window) as client:
                    client.pending_calls_threshold = self.window + 10  # in flight by design
                    failures = 0
                    await self._publish_paced(client, pending, acked)
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                failures += 1
                self.state.reconnects += 1
                left = len(pending) - len(acked)
                _LOGGER.warning("fleet push via %s: %s; %d left", node, exc, left)
                if failures >= _PUSH_ROUNDS * len(nodes):
                    raise UplinkError(
                        f"broker {node}: {exc}; {left} hub(s) not pushed"
                        " (run the same command again to go on)"
                    ) from exc
                index += 1
                if failures % len(nodes) == 0:  # every node failed once: pause a moment
                    await asyncio.sleep(_PUSH_RETRY_S)
            finally:
                pending[:] = [t for t in pending if t not in acked]
                if self.progress is not None:
                    self.progress(self.state)

    async def _publish_paced(
        self, client: aiomqtt.Client, pending: list[str], acked: set[str]
    ) -> None:
        """Publish each pending topic at the rate, `window` awaiting PUBACK; stop at the
        first failure (after the ones in flight have settled) and raise it."""
        slots = asyncio.Semaphore(self.window)
        failed: list[BaseException] = []
        tasks: set[asyncio.Task[None]] = set()

        async def one(topic: str) -> None:
            try:
                await client.publish(topic, self.payload, qos=1, retain=True)
            except (aiomqtt.MqttError, OSError) as exc:
                failed.append(exc)
                return
            finally:
                slots.release()
            acked.add(topic)
            self.state.done += 1
            if self.log is not None:
                self.log.add(_hub_of(topic))

        start = self.clock()
        try:
            for n, topic in enumerate(list(pending)):
                await slots.acquire()
                if failed:
                    slots.release()
                    break
                if self.rate:
                    delay = start + n / self.rate - self.clock()
                    if delay > 0:
                        await self.sleep(delay)
                task = asyncio.create_task(one(topic))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            # Interrupted (the admin's Ctrl-C): nothing may run on after the journal closes.
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            raise failed[0]


# -- status -------------------------------------------------------------------------------


@dataclass
class HubRow:
    """What the retained topics say about one hub."""

    hub: str
    state: str = "unknown"  # online | offline | silent | unknown (no status seen)
    last_heartbeat: str = ""
    software: str = ""
    running_config: int | None = None  # from the heartbeat: what the hub actually runs
    config_version: int | None = None  # from config/reported: the last version judged
    config_status: str = ""
    config_error: str = ""


def _decode(payload: Any) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload if isinstance(payload, (bytes, str)) else b"")
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def fold_messages(
    prefix: str, messages: Iterable[tuple[str, Any]], now: datetime, stale_s: float
) -> list[HubRow]:
    """Hub rows from (topic, payload) pairs of status and config/reported, sorted by hub id."""
    rows: dict[str, HubRow] = {}
    start = f"{prefix}/"
    for topic, payload in messages:
        if not topic.startswith(start):
            continue
        hub_id, _, rest = topic[len(start) :].partition("/")
        obj = _decode(payload)
        if not hub_id or obj is None or rest not in ("status", "config/reported"):
            continue
        row = rows.setdefault(hub_id, HubRow(hub_id))
        if rest == "status":
            row.state = str(obj.get("state", "unknown"))[:20]
            row.last_heartbeat = str(obj.get("ts", ""))[:40]
            row.software = str(obj.get("version", ""))[:40]
            running = obj.get("config_version")
            row.running_config = running if isinstance(running, int) else None
            if row.state == "online" and _age_s(row.last_heartbeat, now) > stale_s:
                row.state = "silent"
        else:
            version = obj.get("version")
            row.config_version = version if isinstance(version, int) else None
            row.config_status = str(obj.get("status", ""))[:20]
            error = obj.get("error")
            row.config_error = str(error.get("reason", ""))[:40] if isinstance(error, dict) else ""
    return [rows[k] for k in sorted(rows)]


def _age_s(ts: str, now: datetime) -> float:
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return (now - then).total_seconds()
    except (ValueError, TypeError):
        return float("inf")


async def collect_status(
    broker: Broker, wait_s: float = DEFAULT_STATUS_WAIT_S, hubs: Iterable[str] = ()
) -> list[Any]:
    """The retained status and config/reported messages, as (topic, payload) pairs.

    With `hubs`, each hub's own topics are subscribed exactly instead of with a `+`
    wildcard: some brokers (RabbitMQ's MQTT plugin before 4.x) send retained messages
    only to subscriptions without wildcards.
    """
    listed = list(dict.fromkeys(hubs))
    leaves = ("status", "config/reported")
    filters = [f"{broker.prefix}/{hub}/{leaf}" for hub in listed for leaf in leaves] or [
        f"{broker.prefix}/+/{leaf}" for leaf in leaves
    ]
    seen: dict[str, Any] = {}
    node = broker.nodes()[0]
    try:
        async with broker.client(node) as client:
            for start in range(0, len(filters), _SUBSCRIBE_BATCH):
                batch = filters[start : start + _SUBSCRIBE_BATCH]
                await client.subscribe([(topic, 1) for topic in batch])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    async for message in client.messages:
                        seen[message.topic.value] = message.payload
    except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
        raise UplinkError(f"broker {node}: {exc}") from exc
    return list(seen.items())


def judge_silence(rows: list[HubRow], now: datetime, stale_s: float) -> None:
    """Rows that say online with a heartbeat older than `stale_s` become "silent"."""
    for row in rows:
        if row.state == "online" and _age_s(row.last_heartbeat, now) > stale_s:
            row.state = "silent"


def running_version(row: HubRow) -> int | None:
    """The config version a hub runs: its report of applying it, or its last heartbeat's."""
    reported = row.config_version if row.config_status == "applied" else None
    if reported is not None and (row.running_config is None or reported > row.running_config):
        return reported
    return row.running_config


def summarize(rows: list[HubRow]) -> dict[str, Any]:
    """Counts of the fleet by state, software, running config and last config report."""

    def counts(values: Iterable[str]) -> dict[str, int]:
        return dict(Counter(values).most_common())

    return {
        "hubs": len(rows),
        "state": counts(r.state for r in rows),
        "software": counts(r.software or "-" for r in rows),
        "config": counts(_config_name(running_version(r)) for r in rows),
        "report": counts(_report_name(r) for r in rows),
    }


def _config_name(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def _report_name(row: HubRow) -> str:
    if row.config_version is None:
        return "none"
    reason = f" ({row.config_error})" if row.config_error else ""
    return f"v{row.config_version} {row.config_status}{reason}"


def target_version(rows: list[HubRow]) -> int | None:
    """The newest config version any hub runs or reported: what laggards lack."""
    versions = [v for r in rows for v in (running_version(r), r.config_version) if v is not None]
    return max(versions) if versions else None


def lagging(rows: list[HubRow], version: int | None) -> list[HubRow]:
    """Hubs not online, or not running `version`."""
    return [r for r in rows if r.state != "online" or running_version(r) != version]


_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime) -> datetime:
    """`90s`, `15m`, `2h`, `3d` ago, or an ISO-8601 time; ValueError otherwise."""
    match = _AGE.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def offline_since(rows: list[HubRow], since: datetime, now: datetime) -> list[HubRow]:
    """Hubs not online whose last heartbeat is older than `since` (or never known)."""
    limit = (now - since).total_seconds()
    return [r for r in rows if r.state != "online" and _age_s(r.last_heartbeat, now) >= limit]


def format_summary(summary: dict[str, Any]) -> str:
    """The counts, one line per kind, largest first."""

    def line(title: str, counts: dict[str, int]) -> str:
        return f"{title:<9}" + "   ".join(f"{name} {n:,}" for name, n in counts.items())

    return "\n".join(
        [
            f"{summary['hubs']:,} hubs",
            line("state", summary["state"]),
            line("software", summary["software"]),
            line("config", summary["config"]),
            line("report", summary["report"]),
        ]
    )


def format_status(rows: list[HubRow], fleet: list[HubRow] | None = None) -> str:
    """A table of `rows` for the admin's terminal, ending with the count of `fleet`
    (default: the rows themselves) and how many of it are online."""
    header = ("HUB", "STATE", "LAST HEARTBEAT", "SOFTWARE", "RUNNING", "REPORTED", "STATUS")
    lines = [header]
    for r in rows:
        shown_error = r.config_error and r.config_error != r.config_status
        status = r.config_status + (f" ({r.config_error})" if shown_error else "")
        running = "-" if r.running_config is None else str(r.running_config)
        version = "-" if r.config_version is None else str(r.config_version)
        lines.append(
            (
                r.hub,
                r.state,
                r.last_heartbeat or "-",
                r.software or "-",
                running,
                version,
                status or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    every = rows if fleet is None else fleet
    if len(rows) == 0:
        out = []
    online = sum(1 for r in every if r.state == "online")
    out.append(f"{len(every)} hubs, {online} online")
    return "\n".join(out)


# -- command line -------------------------------------------------------------------------


def _add_broker(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="localhost", help="broker host (default localhost)")
    p.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    p.add_argument("--prefix", default="pingan/v1", help="topic prefix (default pingan/v1)")
    p.add_argument("--username", default="", help="admin user name")
    p.add_argument(
        "--password-env",
        default="PINGAN_MQTT_PASSWORD",
        help="environment variable holding the password (default PINGAN_MQTT_PASSWORD)",
    )
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca-file", default="", help="fleet CA certificate (PEM)")
    p.add_argument("--cert-file", default="", help="admin client certificate (PEM)")
    p.add_argument("--key-file", default="", help="admin client key (PEM)")
    p.add_argument(
        "--broker",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a node of the broker cluster (repeat; used in turn; replaces --host/--port)",
    )


def _broker(args: argparse.Namespace) -> Broker:
    return Broker(
        host=args.host,
        port=args.port,
        prefix=args.prefix,
        username=args.username,
        password=os.environ.get(args.password_env, ""),
        tls=args.tls,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
        brokers=tuple(args.broker),
    )


def add_fleet_commands(subparsers: Any) -> None:
    """Add `keygen`, `sign-config` and `fleet push|status` to the CLI's sub-commands."""
    keygen_p = subparsers.add_parser("keygen", help="make a fleet signing key (admin machine)")
    keygen_p.add_argument(
        "--key", type=Path, default=Path("fleet-key.pem"), help="private key file to create"
    )
    keygen_p.set_defaults(fleet_command="keygen")

    sign = subparsers.add_parser("sign-config", help="sign a partial config for a hub or group")
    sign.add_argument("--key", type=Path, required=True, help="private key from keygen")
    sign.add_argument("--version", type=int, required=True, help="config version, increasing")
    target = sign.add_mutually_exclusive_group(required=True)
    target.add_argument("--hub", help="the one hub this config is for")
    target.add_argument("--group", help="the group of hubs this config is for")
    sign.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    sign.add_argument(
        "--no-check", action="store_true", help="skip the validation against the defaults"
    )
    sign.add_argument("file", type=Path, help="TOML with only the options to change")
    sign.set_defaults(fleet_command="sign-config")

    fleet = subparsers.add_parser("fleet", help="push signed configs, list hubs")
    fleet_sub = fleet.add_subparsers(dest="fleet_action", metavar="ACTION")
    push_p = fleet_sub.add_parser("push", help="publish a signed config (retained)")
    _add_broker(push_p)
    push_p.add_argument("--hub", action="append", default=[], help="a hub of the group (repeat)")
    push_p.add_argument("--hubs", type=Path, default=None, help="file with one hub id per line")
    push_p.add_argument("envelope", type=Path, help="the JSON from sign-config")
    push_p.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_PUSH_RATE,
        help=f"publishes per second (default {DEFAULT_PUSH_RATE:g}; 0: no limit)",
    )
    push_p.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="progress file, resumed by the same command (default: ENVELOPE.pushed)",
    )
    push_p.set_defaults(fleet_command="fleet-push")
    watch_p = fleet_sub.add_parser(
        "watch", help="keep every hub's status in a file for `fleet status --state`"
    )
    _add_broker(watch_p)
    watch_p.add_argument("--state", type=Path, required=True, help="SQLite file to keep")
    watch_p.add_argument(
        "--name", default="default", help="watcher name: its session on the broker"
    )
    watch_p.set_defaults(fleet_command="fleet-watch")
    status_p = fleet_sub.add_parser("status", help="hubs, heartbeat and config version")
    _add_broker(status_p)
    status_p.add_argument(
        "--state", type=Path, default=None, help="read the file `fleet watch` keeps instead"
    )
    status_p.add_argument(
        "--lagging",
        nargs="?",
        type=int,
        const=-1,
        default=None,
        metavar="VERSION",
        help="list hubs not online or not running VERSION (default: the newest seen)",
    )
    status_p.add_argument(
        "--offline-since",
        default=None,
        metavar="AGE|TIME",
        help="list hubs not online since 90s, 15m, 2h, 3d ago, or an ISO time",
    )
    status_p.add_argument("--all", action="store_true", help="list every hub")
    status_p.add_argument(
        "--wait", type=float, default=DEFAULT_STATUS_WAIT_S, help="seconds to listen"
    )
    status_p.add_argument(
        "--stale", type=float, default=DEFAULT_STALE_S, help="heartbeat age shown as silent"
    )
    status_p.add_argument("--json", action="store_true", help="machine-readable output")
    status_p.add_argument(
        "--hub", action="append", default=[], help="list only these hubs (repeat)"
    )
    status_p.add_argument(
        "--hubs", type=Path, default=None, help="file with one hub id per line to list"
    )
    status_p.set_defaults(fleet_command="fleet-status")
    fleet.set_defaults(fleet_command="fleet")


def _hub_ids(args: argparse.Namespace) -> list[str]:
    ids = list(args.hub)
    if args.hubs is not None:
        try:
            text = args.hubs.read_text(encoding="utf-8")
        except OSError as exc:
            raise FleetError(f"cannot read {args.hubs}: {exc}") from exc
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    return ids


def _read_envelope(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise FleetError(f"{path}: not a signed envelope: {exc}") from exc
    if not isinstance(obj, dict) or "sig" not in obj:
        raise FleetError(f"{path}: not a signed envelope (no 'sig')")
    return obj


def _fleet_push(args: argparse.Namespace) -> int:
    """`fleet push`: paced, journaled, printing its progress to stderr."""
    journal = args.journal or args.envelope.with_name(args.envelope.name + ".pushed")
    last = [0.0]

    def report(p: PushProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or p.done == p.total:
            last[0] = now
            print(
                f"pushed {p.done:,}/{p.total:,} via {p.node}"
                + (f" ({p.skipped:,} done before)" if p.skipped else "")
                + (f", {p.reconnects} reconnect(s)" if p.reconnects else ""),
                file=sys.stderr,
            )

    envelope = _read_envelope(args.envelope)
    topics = asyncio.run(
        push(
            _broker(args),
            envelope,
            _hub_ids(args),
            rate=args.rate or None,
            journal=journal,
            progress=report,
        )
    )
    print(f"published to {len(topics)} hub(s); journal {journal}")
    return 0


def _fleet_status(args: argparse.Namespace) -> int:
    """`fleet status`: counts first, then the hubs asked for."""
    listed = _hub_ids(args)
    now = datetime.now(UTC)
    header = ""
    if args.state is not None:
        from hub.fleet_watch import describe_freshness, read_state, to_rows

        try:
            known, meta = read_state(args.state)
        except (OSError, sqlite3.Error) as exc:
            raise FleetError(f"cannot read {args.state}: {exc}") from exc
        rows = to_rows(known)
        judge_silence(rows, now, args.stale)
        header = describe_freshness(meta, now.timestamp())
        if listed:
            wanted = set(listed)
            rows = [r for r in rows if r.hub in wanted]
    else:
        pairs = asyncio.run(collect_status(_broker(args), args.wait, listed))
        rows = fold_messages(args.prefix, pairs, now, args.stale)
    heard = {r.hub for r in rows}
    # A listed hub that never said anything is shown too: that is the news.
    rows = sorted(rows + [HubRow(h) for h in listed if h not in heard], key=lambda r: r.hub)
    summary = summarize(rows)
    shown: list[HubRow] | None = None  # None: counts only
    if args.lagging is not None:
        version = target_version(rows) if args.lagging < 0 else args.lagging
        summary["lagging_behind"] = version
        shown = lagging(rows, version)
    if args.offline_since is not None:
        try:
            since = parse_since(args.offline_since, now)
        except ValueError as exc:
            raise FleetError(f"--offline-since {args.offline_since!r}: {exc}") from exc
        summary["offline_since"] = since.isoformat().replace("+00:00", "Z")
        late = offline_since(rows, since, now)
        shown = late if shown is None else [r for r in shown if r in late]
    if shown is None and (args.all or listed or args.json or len(rows) <= LIST_UNASKED):
        shown = rows
    if args.json:
        doc: dict[str, Any] = {"as_of": now.isoformat().replace("+00:00", "Z"), "counts": summary}
        if header:
            doc["source"] = header
        doc["hubs"] = [asdict(r) for r in shown or []]
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0
    if header:
        print(header)
    print(format_summary(summary))
    if "lagging_behind" in summary:
        print(
            f"lagging: {len(shown or []):,} hub(s) not online or not running"
            f" {_config_name(summary['lagging_behind'])}"
        )
    if shown is None:
        print("(hubs not listed: --all, --lagging, --offline-since or --hub)")
        shown = []
    print(format_status(shown, rows))
    return 0


def run_fleet_command(args: argparse.Namespace) -> int:
    """Run the admin command that add_fleet_commands parsed; the exit status (2: bad input)."""
    command = getattr(args, "fleet_command", None)
    try:
        if command == "keygen":
            public = keygen(args.key)
            print(f"private key: {args.key} (keep it secret; it signs configs for every hub)")
            print(f"public key:  {args.key}.pub")
            print("put this in each hub's config:")
            print("[fleet]")
            print(f'public_keys = ["{public}"]')
            return 0
        if command == "sign-config":
            envelope = sign_config(
                args.key,
                args.version,
                args.file,
                hub=args.hub,
                group=args.group,
                check=not args.no_check,
            )
            text = json.dumps(envelope, ensure_ascii=False, indent=1) + "\n"
            if args.out is None:
                sys.stdout.write(text)
            else:
                args.out.write_text(text, encoding="utf-8")
                print(f"signed version {args.version} written to {args.out}")
            return 0
        if command == "fleet-push":
            return _fleet_push(args)
        if command == "fleet-watch":
            from hub.fleet_watch import watch

            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(watch(_broker(args), args.state, args.name))
            return 0
        if command == "fleet-status":
            return _fleet_status(args)
        print("usage: pingan-hub fleet push|status ...", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except (FleetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

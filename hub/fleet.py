"""Fleet admin tools: `keygen`, `sign-config`, `fleet push`, `fleet status`.

These run on the admin's machine, not on a hub. The private key never leaves it: hubs
hold only the public key (`[fleet] public_keys` in their local config).

A group push is one envelope, signed once with `"group": G`, published retained to each
listed hub's own `{prefix}/{hub}/config/desired`. There is no group topic: every hub
reads only topics under its own root, so the broker's per-hub ACL (e.g. mosquitto's
`pattern read pingan/v1/%c/#`) stays one rule, and a hub that joins late still finds its
config retained on its own topic. The admin names the hubs (`--hub`, or `--hubs FILE`
with one id per line); the hub itself checks that it is in the group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import sys
import tomllib
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiomqtt

from hub.config import parse_config
from hub.errors import ConfigError, HubError, UplinkError
from hub.fleet_keys import FleetError, keygen, load_private_key
from hub.sync import ota

if TYPE_CHECKING:  # cryptography (~7 MB) is loaded only by the commands that sign
    pass

# How long `fleet status` listens: retained messages arrive right after SUBSCRIBE, so a
# couple of seconds is plenty on a LAN; a big fleet over a slow link may want more.
DEFAULT_STATUS_WAIT_S: Final = 2.0
# A hub whose retained status says online but whose heartbeat is older than this is
# shown as "silent": its broker session may still look alive while it has stopped.
DEFAULT_STALE_S: Final = 180.0
_CONNECT_TIMEOUT_S: Final = 10.0
# Topic filters per SUBSCRIBE packet when `fleet status` names its hubs.
_SUBSCRIBE_BATCH: Final = 100


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

    def client(self) -> aiomqtt.Client:
        """A clean-session admin client with a unique id."""
        tls_context = None
        if self.tls:
            tls_context = ssl.create_default_context(cafile=self.ca_file or None)
            if self.cert_file:
                tls_context.load_cert_chain(self.cert_file, self.key_file or None)
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username or None,
            password=self.password or None,
            identifier=f"pingan-admin-{uuid.uuid4().hex[:12]}",
            tls_context=tls_context,
            timeout=_CONNECT_TIMEOUT_S,
        )


# -- signing ----------------------------------------------------------------------------


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


async def push(broker: Broker, envelope: dict[str, Any], hubs: Iterable[str] = ()) -> list[str]:
    """Publish the envelope retained, QoS 1, to each target; returns the topics once PUBACKed."""
    topics = desired_topics(broker, envelope, hubs)
    payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        async with broker.client() as client:
            # A group push has one publish in flight per hub by design; aiomqtt would
            # log a warning for every one past its default of 10.
            client.pending_calls_threshold = len(topics) + 10
            await asyncio.gather(
                *(client.publish(topic, payload, qos=1, retain=True) for topic in topics)
            )
    except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
        raise UplinkError(f"broker {broker.host}:{broker.port}: {exc}") from exc
    return topics


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
    try:
        async with broker.client() as client:
            for start in range(0, len(filters), _SUBSCRIBE_BATCH):
                batch = filters[start : start + _SUBSCRIBE_BATCH]
                await client.subscribe([(topic, 1) for topic in batch])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    async for message in client.messages:
                        seen[message.topic.value] = message.payload
    except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
        raise UplinkError(f"broker {broker.host}:{broker.port}: {exc}") from exc
    return list(seen.items())


def format_status(rows: list[HubRow]) -> str:
    """A table for the admin's terminal."""
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
    online = sum(1 for r in rows if r.state == "online")
    out.append(f"{len(rows)} hubs, {online} online")
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
    push_p.set_defaults(fleet_command="fleet-push")
    status_p = fleet_sub.add_parser("status", help="hubs, heartbeat and config version")
    _add_broker(status_p)
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
    from hub.update.admin import add_update_command

    add_update_command(fleet_sub, _add_broker)
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
            topics = asyncio.run(push(_broker(args), _read_envelope(args.envelope), _hub_ids(args)))
            print(f"published to {len(topics)} hub(s)")
            return 0
        if command == "fleet-status":
            listed = _hub_ids(args)
            pairs = asyncio.run(collect_status(_broker(args), args.wait, listed))
            rows = fold_messages(args.prefix, pairs, datetime.now(UTC), args.stale)
            heard = {r.hub for r in rows}
            # A listed hub that never said anything is shown too: that is the news.
            rows = sorted(rows + [HubRow(h) for h in listed if h not in heard], key=lambda r: r.hub)
            if args.json:
                print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1))
            else:
                print(format_status(rows))
            return 0
        if command == "fleet-update":
            from hub.update.admin import run_fleet_update

            return run_fleet_update(args, _broker(args))
        print("usage: pingan-hub fleet push|status|update ...", file=sys.stderr)
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

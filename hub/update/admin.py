"""`pingan-hub fleet update` (admin machine) and `pingan-hub update ...` (on the hub, root).

The admin signs an update command with the fleet key (the same key as config pushes) for
a bundle built and signed on the build machine (image/make-bundle.sh), publishes it on
each hub's `cmd/update`, and with `--follow` prints every step each hub reports on
`update/reported` until the update is committed, rolled back, failed or refused.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import ssl
import sys
import tomllib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiomqtt

from hub.errors import UplinkError
from hub.update import command as cmd

# Outcomes after which `--follow` stops listening to a hub.
FINAL: Final = frozenset({"committed", "rolled_back", "failed", "rejected"})


def add_update_command(fleet_sub: Any, add_broker: Any) -> None:
    """Add `fleet update` to the `fleet` sub-commands."""
    p = fleet_sub.add_parser("update", help="start a software update (signed command)")
    add_broker(p)
    p.add_argument("--key", type=Path, required=True, help="fleet private key (from keygen)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--hub", help="the one hub to update")
    target.add_argument("--group", help="the group to update (list its hubs with --to)")
    p.add_argument("--to", action="append", default=[], help="a hub of the group (repeat)")
    p.add_argument(
        "--number", type=int, required=True, help="command number, higher than any before"
    )
    p.add_argument("--version", required=True, help="the image version in the bundle")
    p.add_argument("--url", required=True, help="where the hubs download the bundle")
    p.add_argument("--bundle", type=Path, required=True, help="the same bundle, for its SHA-256")
    p.add_argument(
        "--follow", type=float, default=0.0, help="print each hub's steps for up to S seconds"
    )
    p.set_defaults(fleet_command="fleet-update")


def add_hub_commands(sub: Any) -> None:
    """Add `update apply|health-check|status` (run by systemd on the hub, as root)."""
    p = sub.add_parser("update", help="software update steps on the hub (systemd runs these)")
    p.add_argument("--config", type=Path, default=Path("/etc/pingan-hub/config.toml"))
    p.add_argument("update_action", choices=("apply", "health-check", "status"))


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def _publish_and_follow(
    broker: Any, command: dict[str, Any], hubs: Iterable[str], follow_s: float
) -> dict[str, str]:
    """Publish the command to each hub; with follow_s, print steps until each is final."""
    hubs = list(hubs)
    payload = json.dumps(command, separators=(",", ":")).encode()
    final: dict[str, str] = {}
    try:
        async with broker.client() as client:
            if follow_s > 0:
                for hub in hubs:
                    await client.subscribe(f"{broker.prefix}/{hub}/update/reported", qos=1)
            for hub in hubs:
                await client.publish(f"{broker.prefix}/{hub}/cmd/update", payload, qos=1)
            print(f"update {command['number']} ({command['version']}) sent to {len(hubs)} hub(s)")
            if follow_s <= 0:
                return final
            async with asyncio.timeout(follow_s):
                async for message in client.messages:
                    if message.retain:
                        continue  # an earlier update's report, kept by the broker
                    hub = str(message.topic).split("/")[-3]
                    report = json.loads(message.payload)
                    number = report.get("number")
                    if number not in (None, command["number"]):
                        continue
                    _print_step(hub, report)
                    if report.get("status") in FINAL:
                        final[hub] = report["status"]
                        if len(final) == len(hubs):
                            break
    except TimeoutError:
        pass
    except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
        raise UplinkError(f"broker {broker.host}:{broker.port}: {exc}") from exc
    return final


def _print_step(hub: str, report: dict[str, Any]) -> None:
    progress = f" {report['progress']} %" if report.get("progress") is not None else ""
    err = report.get("error") or {}
    why = f": {err.get('reason')}: {err.get('message')}" if err else ""
    running = report.get("running") or {}
    print(
        f"[{hub}] {report.get('status')}{progress}{why}  "
        f"(running {running.get('version')} in slot {running.get('slot')})",
        flush=True,
    )


def run_fleet_update(args: argparse.Namespace, broker: Any) -> int:
    """`fleet update`: sign, publish, optionally follow; 0 when every followed hub committed."""
    from hub.fleet.signing import load_private_key

    sha, size = _sha256(args.bundle)
    hubs = [args.hub] if args.hub else list(dict.fromkeys(args.to))
    if not hubs:
        print("error: a group update needs the hubs to send it to (--to)", file=sys.stderr)
        return 2
    command = cmd.sign_command(
        load_private_key(args.key),
        number=args.number,
        version=args.version,
        url=args.url,
        sha256=sha,
        size=size,
        issued_at=datetime.now(UTC),
        hub=args.hub,
        group=args.group,
    )
    final = asyncio.run(_publish_and_follow(broker, command, hubs, args.follow))
    if args.follow <= 0:
        return 0
    missing = [h for h in hubs if h not in final]
    for hub in missing:
        print(f"[{hub}] no outcome within {args.follow:.0f} s")
    return 0 if not missing and all(s == "committed" for s in final.values()) else 1


def _paths(config: Path) -> tuple[Path, Path]:
    """The data directory and control socket, even from a config the hub itself refuses.

    The health check must judge a new slot whose config is broken (its hub exits at
    start): it needs only these two paths, so it reads them without validating the rest.
    """
    from hub.config import load_config
    from hub.errors import ConfigError

    try:
        cfg = load_config(config)
    except ConfigError:
        try:
            raw = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        hub: dict[str, Any] = raw["hub"] if isinstance(raw.get("hub"), dict) else {}
        control: dict[str, Any] = raw["control"] if isinstance(raw.get("control"), dict) else {}
        data_dir = Path(str(hub.get("data_dir") or "/var/lib/pingan-hub"))
        socket = str(control.get("socket") or "")
        return data_dir, Path(socket) if socket else data_dir / "control.sock"
    return cfg.data_path, cfg.control_socket


def run_hub_update(args: argparse.Namespace) -> int:
    """`update apply|health-check|status` on the hub."""
    from hub.update import apply, files

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data_dir, socket = _paths(args.config)
    if args.update_action == "apply":
        return apply.apply(data_dir, apply.System.real(), socket)
    if args.update_action == "health-check":
        return apply.health_check(data_dir, apply.System.real(), socket)
    state = files.read_state(data_dir)
    print(
        json.dumps(
            {
                "running": {"version": files.running_version(), "slot": files.booted_slot()},
                "update": json.loads(state.to_json()),
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    return 0

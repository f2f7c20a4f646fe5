"""The admin commands on the command line: `keygen`, `sign-config`, `fleet push|watch|status`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.errors import ConfigError, HubError
from hub.fleet.broker import Broker, FleetError
from hub.fleet.push import DEFAULT_PUSH_RATE, PushProgress, push
from hub.fleet.signing import keygen, sign_config
from hub.fleet.status import (
    DEFAULT_STALE_S,
    DEFAULT_STATUS_WAIT_S,
    LIST_UNASKED,
    HubRow,
    collect_status,
    config_name,
    fold_messages,
    format_status,
    format_summary,
    judge_silence,
    lagging,
    offline_since,
    parse_since,
    summarize,
    target_version,
)


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
    push_p.add_argument(
        "--again",
        action="store_true",
        help="publish to the listed hubs even if the journal has them as done"
        " (the laggards of `fleet status --lagging --ids`)",
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
    status_p.add_argument(
        "--json", action="store_true", help="the counts and the hubs asked for, as JSON"
    )
    status_p.add_argument(
        "--ids",
        action="store_true",
        help="only the ids of the hubs asked for, one a line (for `fleet push --hubs`)",
    )
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


def _fleet_push(args: argparse.Namespace) -> int:
    """`fleet push`: paced, journaled, printing its progress to stderr."""
    journal = args.journal or args.envelope.with_name(args.envelope.name + ".pushed")
    last = [0.0]

    counted: list[PushProgress] = []

    def report(p: PushProgress) -> None:
        counted[:] = [p]
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
            again=args.again,
            progress=report,
        )
    )
    skipped = counted[0].skipped if counted else 0
    if topics and skipped == len(topics):
        print(
            f"nothing published: the journal {journal} has all {skipped:,} hub(s) as done"
            " (a PUBACK is not an `applied`: --again publishes to them once more)"
        )
        return 0
    before = f" ({skipped:,} done before)" if skipped else ""
    print(f"published to {len(topics) - skipped:,} hub(s){before}; journal {journal}")
    return 0


def _fleet_status(args: argparse.Namespace) -> int:
    """`fleet status`: counts first, then the hubs asked for."""
    listed = _hub_ids(args)
    now = datetime.now(UTC)
    header = ""
    if args.state is not None:
        from hub.fleet.watch import describe_freshness, read_state, to_rows

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
    if shown is None and (args.all or listed or len(rows) <= LIST_UNASKED):
        shown = rows
    if args.ids:
        # A file of these is what `fleet push --hubs` reads: push again to the laggards.
        if shown is None:
            raise FleetError(
                "--ids lists the hubs asked for: add --lagging, --offline-since or --all"
            )
        print("\n".join(r.hub for r in shown))
        return 0
    if args.json:
        doc: dict[str, Any] = {"as_of": now.isoformat().replace("+00:00", "Z"), "counts": summary}
        if header:
            doc["source"] = header
        # null: not asked for (a city's 84,000 rows are 19 MB of JSON); [] : none matched.
        doc["hubs"] = None if shown is None else [asdict(r) for r in shown]
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0
    if header:
        print(header)
    print(format_summary(summary))
    if "lagging_behind" in summary:
        print(
            f"lagging: {len(shown or []):,} hub(s) not online or not running"
            f" {config_name(summary['lagging_behind'])}"
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
            from hub.fleet.watch import watch

            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(watch(_broker(args), args.state, args.name))
            return 0
        if command == "fleet-status":
            return _fleet_status(args)
        if command == "fleet-update":
            from hub.update.admin import run_fleet_update

            return run_fleet_update(args, _broker(args))
        print("usage: pingan-hub fleet push|watch|status|update ...", file=sys.stderr)
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

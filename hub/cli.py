"""The `pingan-hub` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub import __version__
from hub.config import load_config, load_raw, parse_config
from hub.control import call
from hub.errors import ConfigError, HubError
from hub.logs import guard_handlers

DEFAULT_CONFIG = Path("/etc/pingan-hub/config.toml")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"the hub's config file (default {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "--socket",
        type=Path,
        default=None,
        help="control socket of the running hub (default from the config)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per task."""
    parser = argparse.ArgumentParser(
        prog="pingan-hub",
        description="平安通 in-home safety hub: SOS button, care checks, durable uplink to the "
        "alarm centre.",
    )
    parser.add_argument("--version", action="version", version=f"pingan-hub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the hub (the systemd service runs this)")
    run.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"config file (default {DEFAULT_CONFIG})",
    )

    demo = sub.add_parser(
        "demo",
        help="the whole SOS loop with simulated devices, a local "
        "broker and a simulated alarm centre; no hardware",
    )
    demo.add_argument(
        "--forever",
        action="store_true",
        help="keep running after the scripted press (Ctrl-C to stop)",
    )
    demo.add_argument(
        "--ack-delay",
        type=float,
        default=2.0,
        help="seconds the simulated centre takes to acknowledge (default 2)",
    )

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file; exit 2 on error")
    check.add_argument("file", type=Path)

    status = sub.add_parser("status", help="connection, outbox depth, open alarms")
    _add_config(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    events = sub.add_parser("events", help="the most recent events, newest first")
    _add_config(events)
    events.add_argument("--last", type=int, default=20, help="how many (default 20)")
    events.add_argument("--json", action="store_true", help="machine-readable output")

    test = sub.add_parser("test-alarm", help="raise an SOS marked test through the real path")
    _add_config(test)

    simulate = sub.add_parser(
        "simulate",
        help="replay a care scenario (plain text) on a fake clock through the real care "
        "checks and print the timeline of events",
    )
    simulate.add_argument("--scenario", type=Path, required=True, help="scenario file")
    simulate.add_argument("--days", type=int, default=None, help="days to run (default: file's)")
    simulate.add_argument(
        "--actions", action="store_true", help="also list spoken prompts, LED and siren"
    )
    simulate.add_argument(
        "--explain",
        action="store_true",
        help="after each event, the rule that decided it and the readings it rested on",
    )
    simulate.add_argument(
        "--at",
        metavar="DAY HH:MM",
        default=None,
        help='stop at that moment (e.g. "3 02:20") and say what every check is waiting '
        "for and on which readings: why there is an alarm then, or none",
    )

    press = sub.add_parser("press", help="press a simulated button (mock pins only)")
    _add_config(press)
    press.add_argument("button", choices=("sos", "ok"))
    press.add_argument("--hold", type=float, default=0.2, help="seconds to hold (default 0.2)")
    devices = sub.add_parser("devices", help="paired sensors and the pairing inbox")
    _add_config(devices)
    dev_sub = devices.add_subparsers(dest="devices_action", metavar="ACTION")
    dev_sub.add_parser("list", help="paired devices, then devices heard but not paired")
    pair = dev_sub.add_parser(
        "pair",
        help="pair a device: its key as `devices list` shows it, or a BLE address in any "
        "case (a4:c1:38:8d:18:b2)",
    )
    pair.add_argument("key")
    pair.add_argument(
        "--kind",
        required=True,
        help="door, motion, smoke, gas, co (carbon monoxide), water, button (pendant), "
        "wearable, sensor",
    )
    pair.add_argument("--name", default="", help="what the family calls it, e.g. 大门")
    pair.add_argument("--room", default="", help="e.g. 厨房")
    pair.add_argument(
        "--body-worn",
        action="store_true",
        help="worn on the body (a thermometer patch, a cuff): its readings enter the health "
        "archive; a wearable always is, a room sensor never",
    )
    remove = dev_sub.add_parser("remove", help="unpair a device")
    remove.add_argument("key")
    rename = dev_sub.add_parser("rename", help="rename a device or move it to another room")
    rename.add_argument("key")
    rename.add_argument("--name", default=None)
    rename.add_argument("--room", default=None)

    pin = sub.add_parser(
        "pin", help="the installer's one-time PIN for the web pages (--family: the family's)"
    )
    _add_config(pin)
    pin.add_argument("--family", action="store_true", help="the read-only family PIN instead")
    pin.add_argument(
        "--new", action="store_true", help="with --family: a new family PIN (the old one stops)"
    )

    health = sub.add_parser("health", help="the health archive: vital signs per bucket")
    _add_config(health)
    health.add_argument("--days", type=float, default=1.0, help="how far back (default 1)")
    health.add_argument("--json", action="store_true", help="machine-readable output")

    voice = sub.add_parser("voice", help="the elder's voice: enrol their own help phrase")
    _add_config(voice)
    voice_sub = voice.add_subparsers(dest="voice_action", metavar="ACTION")
    enrol = voice_sub.add_parser(
        "enrol",
        help="the elder says their own help phrase three times, each after a prompt "
        "(only sound features are kept, never the recording)",
    )
    enrol.add_argument("phrase", help="what the phrase is, for events, e.g. 救命啊 or 'help me'")
    prompts = voice_sub.add_parser(
        "prompts",
        help="what each prompt will play in the configured language: the recorded file "
        "([voice] prompt_pack) or espeak-ng and what it reads, and what is wrong",
    )
    prompts.add_argument(
        "--check",
        action="store_true",
        help="also check what espeak-ng pronounces for each prompt it speaks; exit 1 when "
        "anything is wrong",
    )
    prompts.add_argument(
        "--language", choices=("cmn", "yue", "en"), help="another language than hub.language"
    )
    # Also after the action (`voice prompts --config FILE`); SUPPRESS keeps voice's own.
    prompts.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="config file")

    from hub.fleet.cli import add_fleet_commands
    from hub.update.admin import add_hub_commands

    add_fleet_commands(sub)
    add_hub_commands(sub)
    return parser


def _voice_prompts(args: argparse.Namespace) -> int:
    """List what each prompt plays; with --check, 1 when anything is wrong."""
    import shutil

    from hub.voice.prompt_check import plan_prompts
    from hub.voice.prompt_pack import PromptPack
    from hub.voice.prompts import PROMPTS, PromptRenderer, Voice

    cfg = load_config(args.config)
    voice = Voice(args.language or cfg.hub.language, cfg.voice.rate, cfg.voice.volume)
    pack = (
        PromptPack(Path(cfg.voice.prompt_pack), voice.language) if cfg.voice.prompt_pack else None
    )
    print(
        f"prompts in {voice.language}"
        + (f", recordings from {pack.folder}" if pack else " (no prompt pack: all espeak-ng)")
        + ("" if cfg.voice.prompts else "; [voice] prompts = false: the hub speaks none")
    )
    espeak = shutil.which("espeak-ng") is not None
    # Nothing is written there: the plan renders into memory only.
    renderer = PromptRenderer(cfg.data_path / "prompts")
    problems = 0
    for plan in plan_prompts(voice, pack, renderer, check=args.check and espeak):
        if plan.recorded:
            assert plan.recording is not None
            print(f"  {plan.prompt_id:18} recorded  {plan.recording.path}")
            print(f"  {'':18}           {plan.text}  ({plan.recording.shown()})")
        else:
            print(f"  {plan.prompt_id:18} espeak-ng {plan.text}")
            print(f"  {'':18}           -v {plan.espeak_voice}: {plan.spoken}")
        for problem in plan.problems:
            print(f"  {'':18}           PROBLEM: {problem}")
        problems += len(plan.problems)
    for stray in pack.strays(list(PROMPTS)) if pack else []:
        print(f"  PROBLEM: {stray} is no prompt's file (never played)")
        problems += 1
    if not espeak:
        print("  PROBLEM: espeak-ng is not installed: a prompt with no recording is not heard")
        problems += 1
    print(f"{problems} problem(s)")
    return 1 if args.check and problems else 0


def _socket(args: argparse.Namespace) -> Path:
    if args.socket:
        return Path(args.socket)
    return load_config(args.config).control_socket


def _print_status(st: dict[str, Any]) -> None:
    up = st["uplink"]
    fds = st.get("fds") or {}
    print(
        f"hub {st['hub']}  pingan-hub {st['version']}  up {st['uptime_s']} s"
        f"{'' if st['clock_synced'] else '  (clock not synced)'}"
        + (f"  files {fds['open']}/{fds['limit']}" if fds else "")
    )
    link = (
        f"connected (MQTT {up['protocol']})"
        if up["connected"]
        else f"DISCONNECTED{': ' + up['last_error'] if up['last_error'] else ''}"
    )
    print(f"uplink  {up['broker']}  {link}  published {up['published']}")
    d = st["outbox"]["depth"]
    print(
        f"outbox  alarms {d['0']}  warnings {d['1']}  telemetry {d['2']}  "
        f"({st['outbox']['pending_bytes']} bytes)  last seq {st['outbox']['last_seq']}"
    )
    if st["outbox"].get("queued_telemetry"):
        print(
            f"        {st['outbox']['queued_telemetry']} telemetry queued for the next group write"
        )
    if st["outbox"].get("held"):
        held = st["outbox"]["held"]
        print(f"        {len(held)} refused by the disk, held in memory: {', '.join(held)}")
    dev = st["devices"]
    print(
        f"devices {dev['online']} online  {dev['offline']} offline  "
        f"{dev['low_battery']} battery low"
    )
    if st.get("power"):
        pw = st["power"]
        battery = "" if pw["battery"] is None else f"  battery {pw['battery']} %"
        print(f"power   mains {pw['mains']}{battery}")
    if "ble" in st:
        ble = st["ble"]
        state = f"scanning ({ble['mode']})" if ble["scanning"] else "NOT SCANNING"
        print(
            f"ble     {ble['adapter']} {state}{'  FAULT' if ble['fault'] else ''}  "
            f"{ble['adverts']} adverts, {ble['bthome_readings']} BTHome readings  "
            f"{ble['wearables_connected']} wearables connected"
        )
    if not st["alarms"]:
        print("alarms  none open")
    for a in st["alarms"]:
        who = f"  operator {a['operator']}" if a["operator"] else ""
        print(
            f"alarm   {a['kind']} {a['id']} seq {a['seq']}: {a['state']}"
            f"{' (test)' if a['test'] else ''}{' ESCALATED' if a['escalated'] else ''}"
            f"{who}  {a['age_s']} s ago"
        )


def _run(path: Path) -> int:
    raw = load_raw(path)
    cfg = parse_config(raw)
    from hub.app import Hub

    logging.basicConfig(
        level=cfg.hub.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    guard_handlers()  # repeated failures rate-limited, control characters escaped

    async def serve() -> None:
        # systemd stops us with SIGTERM: stop cleanly (close the database, say STOPPING=1).
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await Hub(cfg, local_raw=raw).run()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(serve())
    return 0


# How `devices list` words a device's last state (hub.reading.State values) per kind.
_STATE_WORDS = {
    ("door", "alarm"): "open",
    ("door", "clear"): "closed",
    ("motion", "alarm"): "motion",
    ("motion", "clear"): "still",
    ("button", "alarm"): "pressed",
}


def _devices(args: argparse.Namespace) -> int:
    sock = _socket(args)
    action = args.devices_action or "list"
    if action == "pair":
        paired = call(
            sock,
            "pair",
            key=args.key,
            kind=args.kind,
            name=args.name,
            room=args.room,
            body_worn=args.body_worn,
        )
        print(f"paired {paired['device']['key']} as {args.kind}")
    elif action == "remove":
        call(sock, "remove", key=args.key)
        print(f"removed {args.key}")
    elif action == "rename":
        call(sock, "rename", key=args.key, name=args.name, room=args.room)
        print(f"renamed {args.key}")
    else:
        listing = call(sock, "devices")
        print(f"{len(listing['devices'])} paired:")
        for d in listing["devices"]:
            battery = " BATTERY LOW" if d["battery_low"] else ""
            state = _STATE_WORDS.get((d["kind"], d.get("state")), d.get("state"))
            said = f"  {state} since {d['state_at']}" if state else ""
            print(
                f"  {d['key']}  {d['kind']}  {d['name']} {d['room']}  "
                f"last seen {d['last_seen'] or 'never'}{said}{battery}"
            )
        print(f"{len(listing['inbox'])} heard but not paired:")
        for h in listing["inbox"]:
            print(
                f"  {h['key']}  looks like {h['kind']}  heard {h['count']}x, last {h['last_heard']}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad config or usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "fleet_command", None):
        from hub.fleet.cli import run_fleet_command

        return run_fleet_command(args)
    try:
        if args.command == "run":
            return _run(args.config)
        if args.command == "update":
            from hub.update.admin import run_hub_update

            return run_hub_update(args)
        if args.command == "demo":
            from hub.demo import run_demo

            return run_demo(forever=args.forever, ack_delay=args.ack_delay)
        if args.command == "config" and args.config_command == "check":
            load_config(args.file)
            print(f"{args.file}: OK")
            return 0
        if args.command == "simulate":
            from hub.care.scenario import explain_at, format_explained, format_timeline, simulate

            title = f"scenario {args.scenario}"
            if args.at is not None:
                explained = explain_at(args.scenario, args.at, include_actions=args.actions)
                print(format_explained(explained, title=title))
                return 0
            entries = simulate(args.scenario, args.days, include_actions=args.actions)
            print(format_timeline(entries, title=title, why=args.explain))
            return 0
        if args.command == "health":
            rows = call(_socket(args), "health", days=args.days)["vitals"]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
                return 0
            for r in rows:
                when = datetime.fromtimestamp(r["bucket"], UTC).isoformat()
                print(
                    f"{when}  {r['device']}  {r['measure']}  mean {r['mean']}  "
                    f"min {r['min']}  max {r['max']}  ({r['n']} readings)"
                )
            return 0
        if args.command == "pin":
            if args.new and not args.family:
                print("error: --new changes the family PIN: give --family too", file=sys.stderr)
                return 2
            r = call(_socket(args), "pin", family=args.family, new=args.new)
            if r["role"] == "family":
                print(f"family PIN (read-only page): {r['pin']}")
            else:
                left = r["expires_in_s"] // 60
                print(f"installer PIN: {r['pin']}  (one use; expires in {left} min)")
            return 0
        if args.command == "voice" and args.voice_action == "prompts":
            return _voice_prompts(args)
        if args.command == "voice" and args.voice_action == "enrol":
            print("the hub will prompt three times; say the phrase after each prompt")
            r = call(_socket(args), "voice-enrol", phrase=args.phrase, timeout=120)
            print(f"enrolled {r['phrase']!r} from {r['takes']} takes")
            if r["takes"] < r.get("recorded", r["takes"]):
                print(
                    f"{r['recorded'] - r['takes']} take(s) did not sound like the others and "
                    "were left out; if she said something else, enrol again"
                )
            return 0
        if args.command == "devices":
            return _devices(args)
        if args.command == "status":
            st = call(_socket(args), "status")
            st.pop("ok", None)
            if args.json:
                print(json.dumps(st, ensure_ascii=False, indent=2))
            else:
                _print_status(st)
            return 0
        if args.command == "events":
            rows = call(_socket(args), "events", last=args.last)["events"]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            for ev in [] if args.json else rows:
                state = f"sent {ev['sent_at']}" if ev["sent_at"] else "QUEUED"
                test = " (test)" if ev["data"].get("test") else ""
                print(
                    f"{ev['seq']:>6}  {ev['ts']}  p{ev['priority']}  {ev['kind']}{test}  "
                    f"{ev['id']}  {state}"
                )
            return 0
        if args.command == "test-alarm":
            r = call(_socket(args), "test-alarm")
            print(f"test alarm raised: id {r['id']} seq {r['seq']}")
            return 0
        if args.command == "press":
            call(
                _socket(args), "press", button=args.button, hold_s=args.hold, timeout=args.hold + 10
            )
            print(f"pressed {args.button} for {args.hold} s")
            return 0
        if args.command == "config":
            parser.parse_args(["config", "--help"])
        parser.print_help()
        return 2
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

"""`fleet watch` and `fleet status` at a city's size, without a broker.

    .venv/bin/python -m bench.fleet_status [--hubs 84000]

The watcher's own code (`FleetState.fold`, `StateFile.write`) takes one heartbeat from
every hub and a config report from most, as the broker would deliver them: this times
the folding and the one-second writes, against the 1,400 heartbeats a second 84,000 hubs
send at a 60 s heartbeat. The fleet: 95 % online on config v2, 3 % online still on v1,
1 % offline (last will), 1 % silent (last heartbeat 10 min old, no last will: their node
crashed). Then `pingan-hub fleet status --state FILE` runs as the admin runs it (a new
process each time) with no option, `--lagging`, `--offline-since 5m` and `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import machine
from hub.fleet.watch import FleetState, StateFile

PREFIX = "pingan/v1"


def iso(when: datetime) -> str:
    """UTC ISO-8601 with a Z, as the hub writes it."""
    return when.isoformat().replace("+00:00", "Z")


def messages(hubs: int, now: datetime) -> list[tuple[str, bytes]]:
    """(topic, payload) of one heartbeat (or last will) and one config report per hub."""
    out: list[tuple[str, bytes]] = []
    for n in range(hubs):
        hub = f"GZ-{n:05d}"
        share = n % 100
        config = 1 if share in (95, 96, 97) else 2
        beat = now - timedelta(seconds=n % 60)
        if share == 99:  # silent: its node crashed ten minutes ago, no last will
            beat = now - timedelta(minutes=10)
        status = {
            "state": "online",
            "hub": hub,
            "ts": iso(beat),
            "version": "0.1.0",
            "config_version": config,
            "uptime_s": 86_400,
            "outbox": {"0": 0, "1": 0, "2": 3},
            "open_alarms": 0,
            "devices": {"online": 6, "offline": 0, "low_battery": 0},
        }
        out.append((f"{PREFIX}/{hub}/status", json.dumps(status).encode()))
        if share == 98:  # went offline cleanly: its last will follows the heartbeat
            will = {"state": "offline", "hub": hub}
            out.append((f"{PREFIX}/{hub}/status", json.dumps(will).encode()))
        if config == 2:
            report = {"version": 2, "status": "applied", "error": None, "at": iso(beat)}
            out.append((f"{PREFIX}/{hub}/config/reported", json.dumps(report).encode()))
    return out


def main() -> None:
    """Build the file with the watcher's code, then time `fleet status` on it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=84_000, help="hubs (default 84000)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    now = datetime.now(UTC)
    pairs = messages(args.hubs, now)
    with tempfile.TemporaryDirectory(prefix="pingan-status-") as tmp:
        path = Path(tmp) / "fleet.sqlite"
        state = FleetState(PREFIX)
        file = StateFile(path)
        t0 = time.perf_counter()
        for topic, payload in pairs:
            state.fold(topic, payload, time.time())
        fold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        changed = [state.hubs[h] for h in sorted(state.dirty)]
        meta = {
            "updated_at": str(time.time()),
            "watching_since": str(time.time() - 3600),
            "connected_to": "mq1.gz.example:8883",
        }
        file.write(changed, meta)
        write_s = time.perf_counter() - t0
        file.close()
        heartbeats_per_s = args.hubs / 60
        print(
            f"watcher: folded {len(pairs):,} messages in {fold_s:.2f} s"
            f" ({len(pairs) / fold_s:,.0f}/s; {args.hubs:,} hubs at a 60 s heartbeat send"
            f" {heartbeats_per_s:,.0f}/s: {heartbeats_per_s / (len(pairs) / fold_s) * 100:.1f} %"
            f" of a core); wrote {len(changed):,} rows in one transaction in {write_s:.2f} s;"
            f" file {path.stat().st_size / 2**20:.1f} MiB after the checkpoint at close"
        )
        for argv in ([], ["--lagging"], ["--offline-since", "5m"], ["--json"]):
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "hub", "fleet", "status", "--state", str(path), *argv],
                capture_output=True,
                text=True,
                check=True,
            )
            took = time.perf_counter() - t0
            lines = done.stdout.splitlines()
            print(
                f"`pingan-hub fleet status --state FILE {' '.join(argv)}`: {took:.2f} s,"
                f" {len(lines):,} lines, {len(done.stdout) / 1024:.0f} KiB"
            )
            if not argv:
                for line in lines:
                    print(f"    {line}")
            elif argv[0] != "--json":
                for line in lines[6:9]:
                    print(f"    {line}")
                print("    ...")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import hub.fleet.cli"], check=True)
        took = time.perf_counter() - t0
        print(f"(of which starting Python and importing the fleet tools: {took:.2f} s)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Every property test of a decoder or inbound parser, with large example counts.

Runs the suite's Hypothesis tests (`pytest -m hypothesis`: RFLink lines, modem lines, SMS
PDUs, GATT values, BTHome adverts, ack/cmd payloads, config envelopes, whole config
documents) under the `fuzz` profile (tests/fuzzing.py): each test's CI example count
times `--factor`. Prints examples and time per test; any failure is a crash (the test
says what a clean error is), and a test running past `--timeout` is a hang.

    .venv/bin/python -m bench.fuzz [--factor 10] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from bench.common import machine

_TEST = re.compile(r"^(tests/\S+::\S+):\s*$")
_PASSING = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid")
_ANY_PHASE = re.compile(r"- during \w+ phase \(([\d.]+) seconds\)")


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=int, default=10, help="multiplier of CI example counts")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds before a test hangs")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k rflink)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    env = {**os.environ, "HYPOTHESIS_PROFILE": "fuzz", "FUZZ_FACTOR": str(args.factor)}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "hypothesis",
            "-q",
            "--hypothesis-show-statistics",
            f"--timeout={args.timeout}",
            "tests/",
            *args.pytest_args,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    # Hypothesis reports each phase (reuse of the example database, generate, shrink) with
    # its own counts: a test's figures are their sums.
    totals: dict[str, list[float]] = {}
    current = ""
    seconds = 0.0
    for line in proc.stdout.splitlines():
        if m := _TEST.match(line.strip()):
            current = m.group(1)
            totals.setdefault(current, [0, 0, 0.0])
        elif m := _ANY_PHASE.search(line):
            seconds = float(m.group(1))
        elif (m := _PASSING.search(line)) and current:
            row = totals[current]
            row[0] += int(m.group(1))
            row[1] += int(m.group(3))
            row[2] += seconds
    rows = [(name, int(r[0]), int(r[1]), r[2]) for name, r in totals.items()]
    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'property test':{width}}  {'examples':>9}  {'invalid':>8}  {'seconds':>8}")
    for name, passing, invalid, secs in rows:
        print(f"{name:{width}}  {passing:9d}  {invalid:8d}  {secs:8.1f}")
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "(no output)"
    hangs = proc.stdout.count("Timeout")
    print(f"factor {args.factor}: {sum(r[1] for r in rows)} examples in {len(rows)} tests")
    print(f"pytest: {summary}; hangs (past {args.timeout} s): {hangs}; wall {elapsed:.0f} s")
    print(f"load average: {os.getloadavg()}")
    if proc.returncode != 0:
        print(proc.stdout[-6000:])
        print(proc.stderr[-2000:])
    raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()

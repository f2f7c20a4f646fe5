"""Resident memory of `pingan-hub run`, idle after start-up (target <= 45 MB).

Starts a private mosquitto and the real daemon (`python -m hub run`) on mock pins,
waits until it is connected, lets it idle, and reads VmRSS from /proc.

    .venv/bin/python -m bench.memory [--idle 5] [--web [--visit]]
    .venv/bin/python -m bench.memory --listen --engines pocketsphinx,whisper   (Mandarin stage)

--web turns the installer and family pages on (aiohttp is imported only when the first
phone connects); --visit opens the login page once before idling (aiohttp loaded).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import machine, rss_kib
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto, free_port


def main() -> None:
    """Run and print the figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading")
    parser.add_argument("--web", action="store_true", help="with [web] enabled (aiohttp)")
    parser.add_argument(
        "--listen",
        action="store_true",
        help="with [voice] listen = true: the pocketsphinx spotter loaded (no microphone here)",
    )
    parser.add_argument(
        "--second-pass",
        choices=("neural", "words"),
        default="neural",
        help="with --listen: voice.second_pass (neural loads onnxruntime)",
    )
    parser.add_argument(
        "--engines",
        default="pocketsphinx",
        help="with --listen: voice.engines; an engine in its own process (whisper) is "
        "measured apart",
    )
    parser.add_argument("--visit", action="store_true", help="open a page first (with --web)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    bare = subprocess.run(
        [sys.executable, "-c", "import bench.common as c; print(c.rss_kib())"],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"bare python interpreter: {int(bare.stdout) / 1024:.1f} MiB")
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        config = Path(tmp) / "hub.toml"
        config.write_text(f"""
[hub]
id = "MEM-1"
data_dir = "{tmp}/data"
log_level = "WARNING"
[mqtt]
host = "127.0.0.1"
port = {broker.port}
[gpio]
pin_factory = "mock"
[voice]
prompts = false
listen = {"true" if args.listen else "false"}
second_pass = "{args.second_pass}"
engines = "{args.engines}"
""")
        web_port = free_port()
        if args.web:
            with config.open("a") as f:
                f.write(f'[web]\nenabled = true\nlisten = "127.0.0.1"\nport = {web_port}\n')
        proc = subprocess.Popen([sys.executable, "-m", "hub", "run", "--config", str(config)])
        try:
            deadline = time.monotonic() + 120  # the Mandarin stage loads Whisper first
            while True:
                try:
                    if call(Path(tmp) / "data" / "control.sock", "status")["uplink"]["connected"]:
                        break
                except ControlError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("hub did not connect")
                time.sleep(0.1)
            if args.web and args.visit:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login") as page:
                    page.read()
            time.sleep(args.idle)
            rss = rss_kib(proc.pid)
            status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            split = ", ".join(
                line.replace("\t", " ").replace("  ", "")
                for line in status
                if line.startswith(("RssAnon", "RssFile"))
            )
            children = [
                int(pid)
                for task in Path(f"/proc/{proc.pid}/task").iterdir()
                for pid in (task / "children").read_text().split()
            ]
            for child in children:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                status = Path(f"/proc/{child}/status").read_text().splitlines()
                kept = ", ".join(
                    line.replace("\t", " ").replace("  ", "")
                    for line in status
                    if line.startswith(("VmRSS", "VmHWM", "RssAnon", "RssFile"))
                )
                print(f"child {b' '.join(argv[:4]).decode()}: {kept}")
        finally:
            proc.terminate()
            proc.wait(10)
    verdict = "MET" if rss / 1024 <= 45 else "MISSED"
    print(
        f"pingan-hub run{' with [web] on' if args.web else ''}"
        f"{f' listening (second pass {args.second_pass})' if args.listen else ''}"
        f"{', after one page visit' if args.web and args.visit else ''}, "
        f"idle {args.idle:.0f} s after connecting: VmRSS {rss / 1024:.1f} MiB "
        f"(target <= 45 MiB): {verdict}; {split}"
    )


if __name__ == "__main__":
    main()

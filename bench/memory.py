"""Resident memory of `pingan-hub run`, idle after start-up, per configuration (issue 23).

Starts a private mosquitto and the real daemon (`python -m hub run`) on mock pins, waits
until it is connected, lets it idle, and reads VmRSS, RssAnon and RssFile from
/proc/PID/status: the hub's and, apart, every process it started (the voice processes).

    .venv/bin/python -m bench.memory --budget            (every configuration, a table)
    .venv/bin/python -m bench.memory [--idle 5] [--web [--visit]] [--rflink] [--ble]
    .venv/bin/python -m bench.memory --listen --engines pocketsphinx,whisper --speech

--web turns the installer and family pages on (aiohttp is imported only when the first
phone connects); --visit opens the login page once before idling (aiohttp loaded).
--rflink gives the hub an RFLink gateway on a pty, fed a line a second (PIR, weather).
--ble runs the real BLE stack (bleak, dbus-fast, bthome-ble) against python-dbusmock's
BlueZ on a private system bus, fed 20 BTHome adverts/s from 5 devices by a feeder
process (as bench.sensor_cpu's D-Bus run; the mock, dbus-daemon and the feeder are not
counted). --speech puts a fake `arecord` first on the hub's PATH that plays ordinary
talk (flite: no call for help) in real time, so the engines judge speech as they would
in a living room (onnxruntime's arenas are allocated at the first inference); without
it no microphone exists here, and the engines are loaded but never run. The fake
microphone is a process of its own, listed but not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import machine
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto, free_port

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CORE_TARGET_MIB = 64.0  # issue 23: the core with BLE + RFLink + pages
FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
FAKE_MIC = "fake-arecord"
# Ordinary talk in a room (flite voices): nothing here is a call for help.
TALK = ("what time is it", "good morning", "the kettle is boiling", "tell me a story")
RF_LINES = (
    b"20;%02X;Eurodomest;ID=000111;PIR=ON;\r\n",
    b"20;%02X;Cresta;ID=3001;TEMP=00b4;HUM=50;BAT=OK;\r\n",
)
ENROLLED = "pocketsphinx,enrolled"
BLE_DEVICES = [f"A4:C1:38:00:00:0{i}" for i in range(1, 5)] + ["A4:C1:38:8D:18:B2"]


@dataclass(frozen=True)
class Setup:
    """One configuration of the hub."""

    label: str
    rflink: bool = False
    ble: bool = False
    web: bool = False
    visit: bool = False
    listen: bool = False
    engines: str = "pocketsphinx"
    second_pass: str = "neural"
    speech: bool = False
    idle: float = 5.0
    push: bool = False  # a signed config push applied after the idle (loads cryptography)


@dataclass
class Proc:
    """One process's memory lines, in KiB."""

    pid: int
    argv: str
    kib: dict[str, int] = field(default_factory=dict)
    cryptography: bool = False  # cryptography's Rust binding is mapped

    def mib(self, name: str) -> float:
        return self.kib.get(name, 0) / 1024


ALL = Setup("core + RFLink + BLE + pages visited", rflink=True, ble=True, web=True, visit=True)
VOICE = replace(ALL, listen=True, speech=True, idle=20)
BUDGET = [
    Setup("core (no RFLink, BLE, pages or voice)"),
    Setup("core + RFLink", rflink=True),
    Setup("core + RFLink + BLE", rflink=True, ble=True),
    ALL,
    replace(ALL, label="core + RFLink + BLE + pages visited + a signed config push", push=True),
    replace(VOICE, label="all + voice: pocketsphinx, words check", second_pass="words"),
    replace(VOICE, label="all + voice: pocketsphinx, neural check (default)"),
    replace(VOICE, label="all + voice: pocketsphinx neural + enrolled", engines=ENROLLED),
    replace(
        VOICE,
        label="all + voice: pocketsphinx neural + enrolled + whisper",
        engines=f"{ENROLLED},whisper",
        idle=45,
    ),
]


def read_proc(pid: int) -> Proc:
    """A process's memory lines from /proc/PID/status."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    proc = Proc(pid, b" ".join(a for a in argv[:5] if a).decode(errors="replace"))
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in FIELDS:
            proc.kib[name] = int(value.split()[0])
    proc.cryptography = "/cryptography/" in Path(f"/proc/{pid}/maps").read_text()
    return proc


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, their children...)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found.append(kid)
            found.extend(descendants(kid))
    return found


def talk_pcm(workdir: Path) -> bytes:
    """A minute-long loop of ordinary talk: phrases with a second or two between them."""
    from hub.voice.corpus import render

    silence = b"\x00\x00" * 16000
    pcm = b""
    for n, text in enumerate(TALK):
        pcm += render(text, ("slt", "rms", "awb", "kal")[n % 4], 1.0, workdir) + silence
    return pcm


def fake_arecord(bindir: Path, pcm: Path) -> None:
    """An `arecord` that plays pcm in a loop in real time (30 ms frames) on stdout."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / "arecord"
    script.write_text(f"""#!{sys.executable}
import sys, time
pcm = open({str(pcm)!r}, "rb").read()
out, step, at = sys.stdout.buffer, 960, time.monotonic()
while True:
    for i in range(0, len(pcm) - step + 1, step):
        out.write(pcm[i:i + step]); out.flush()
        at += step / 32000
        time.sleep(max(0.0, at - time.monotonic()))
""")
    script.chmod(0o755)


def rf_writer(master: int, stop: threading.Event) -> None:
    """The gateway's side of the pty: a line a second."""
    n = 0
    while not stop.wait(1.0):
        os.write(master, RF_LINES[n % len(RF_LINES)] % (n & 0xFF))
        n += 1


@contextmanager
def bluez(stack: ExitStack) -> Iterator[None]:
    """python-dbusmock's BlueZ on a private system bus (inherited by the hub through
    DBUS_SYSTEM_BUS_ADDRESS), an adapter, and a feeder sending 20 adverts/s."""
    from dbusmock import BusType, PrivateDBus, SpawnedMock

    from bench.sensor_cpu import DBUS_FEEDER

    bus = PrivateDBus(BusType.SYSTEM)
    bus.start()
    stack.callback(bus.stop)
    mock = SpawnedMock.spawn_with_template(
        "bluez5", None, BusType.SYSTEM, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    stack.callback(mock.terminate)
    mock.obj.AddAdapter("hci0", "bench", dbus_interface="org.bluez.Mock")
    feeder = subprocess.Popen(
        [sys.executable, "-c", DBUS_FEEDER, ",".join(BLE_DEVICES)], stdout=subprocess.PIPE
    )
    stack.callback(feeder.wait, 10)
    stack.callback(feeder.terminate)
    assert feeder.stdout is not None
    feeder.stdout.readline()  # "ready"
    yield


def enrol_templates(data: Path, workdir: Path) -> None:
    """An enrolled phrase's templates, as `pingan-hub voice enrol` leaves them."""
    from hub.voice.corpus import render
    from hub.voice.enrolled import TEMPLATES_FILE, EnrolledPhrase

    takes = [render("help me", "slt", speed, workdir) for speed in (1.0, 1.1, 0.9)]
    data.mkdir(parents=True, exist_ok=True)
    EnrolledPhrase("help me", takes).save(data / TEMPLATES_FILE)


def push_config(port: int, hub_id: str, key: Ed25519PrivateKey) -> None:
    """Publish a signed config push (retained, as the fleet tool does) and wait until the
    hub reports it applied: the hub verifies the Ed25519 signature, loading cryptography."""
    import paho.mqtt.client as mqtt

    from hub.sync.ota import sign_envelope

    env = sign_envelope(key, 1, {"sos": {"ack_timeout_s": 20.0}}, datetime.now(UTC), hub=hub_id)
    reported = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-fleet")
    root = f"pingan/v1/{hub_id}"

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if json.loads(msg.payload).get("status") == "applied":
            reported.set()

    client.on_connect = lambda c, *_: c.subscribe(f"{root}/config/reported", qos=1)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(f"{root}/config/desired", json.dumps(env), qos=1, retain=True)
        if not reported.wait(30):
            raise SystemExit("the hub did not apply the signed config push")
    finally:
        client.loop_stop()
        client.disconnect()


def measure(setup: Setup, verbose: bool = True) -> tuple[Proc, list[Proc]]:
    """Run the hub in this configuration; its figures and its descendants'."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        broker = stack.enter_context(Mosquitto())
        env = dict(os.environ)
        config = tmp / "hub.toml"
        text = f"""
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
listen = {"true" if setup.listen else "false"}
second_pass = "{setup.second_pass}"
engines = "{setup.engines}"
"""
        web_port = free_port()
        fleet_key = None
        if setup.push:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            from hub.sync.ota import public_key_text

            fleet_key = Ed25519PrivateKey.generate()
            text += f'[fleet]\npublic_keys = ["{public_key_text(fleet_key)}"]\n'
        if setup.web:
            text += f'[web]\nenabled = true\nlisten = "127.0.0.1"\nport = {web_port}\n'
        stop = threading.Event()
        stack.callback(stop.set)
        if setup.rflink:
            master, slave = os.openpty()
            stack.callback(os.close, master)
            stack.callback(os.close, slave)
            text += f'[rflink]\nport = "{os.ttyname(slave)}"\n'
            threading.Thread(target=rf_writer, args=(master, stop), daemon=True).start()
        if setup.ble:
            stack.enter_context(bluez(stack))
            env["DBUS_SYSTEM_BUS_ADDRESS"] = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
            text += "[ble]\nenabled = true\n"
        if setup.listen and "enrolled" in setup.engines:
            enrol_templates(tmp / "data", tmp / "speech")
        if setup.speech:
            pcm = tmp / "talk.raw"
            pcm.write_bytes(talk_pcm(tmp / "speech"))
            fake_arecord(tmp / FAKE_MIC, pcm)
            env["PATH"] = f"{tmp / FAKE_MIC}:{env['PATH']}"
        config.write_text(text)
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--config", str(config)], env=env
        )
        try:
            deadline = time.monotonic() + 120  # the Mandarin stage loads Whisper first
            while True:
                try:
                    status = call(tmp / "data" / "control.sock", "status")
                    if status["uplink"]["connected"]:
                        break
                except ControlError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("hub did not connect")
                time.sleep(0.1)
            if setup.visit:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login") as page:
                    page.read()
            time.sleep(setup.idle)
            if setup.ble:
                ble = call(tmp / "data" / "control.sock", "status").get("ble", {})
                if not ble.get("scanning") or not ble.get("adverts"):
                    raise SystemExit(f"BLE did not scan: {ble}")
            if fleet_key is not None:
                push_config(broker.port, "MEM-1", fleet_key)
                time.sleep(setup.idle)
            hub = read_proc(proc.pid)
            kids = [read_proc(pid) for pid in descendants(proc.pid)]
        finally:
            proc.terminate()
            proc.wait(10)
    if verbose:
        print(f"  {setup.label}: {line(hub)}")
        for kid in kids:
            print(f"    child {kid.argv[:90]}: {line(kid)}")
    return hub, kids


def line(p: Proc) -> str:
    figures = ", ".join(f"{name} {p.mib(name):.1f} MiB" for name in FIELDS)
    return f"{figures}; cryptography {'loaded' if p.cryptography else 'not loaded'}"


def budget(setups: list[Setup], runs: int) -> None:
    """Every configuration (each `runs` times): a markdown table, children apart."""
    print(
        "| configuration | hub VmRSS | RssAnon | RssFile | VmHWM "
        "| other processes: VmRSS (anon) | VmRSS, hub + others | RssAnon, hub + others "
        "| cryptography in the hub |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for setup in setups:
        results = [measure(setup) for _ in range(runs)]

        def span(values: list[float]) -> str:
            lo, hi = min(values), max(values)
            return f"{lo:.1f}" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f}"

        hubs = [h for h, _ in results]
        cells = [span([h.mib(f) for h in hubs]) for f in FIELDS]
        kids_text, totals, anon = [], [], []
        for hub, kids in results:
            counted = [k for k in kids if FAKE_MIC not in k.argv]
            totals.append(hub.mib("VmRSS") + sum(k.mib("VmRSS") for k in counted))
            # Library pages the processes share (libpython, libc...) count in each VmRSS:
            # the sum of VmRSS overstates what they take together, the sum of RssAnon
            # (never shared here) understates it.
            anon.append(hub.mib("RssAnon") + sum(k.mib("RssAnon") for k in counted))
        for kid in results[-1][1]:
            if FAKE_MIC in kid.argv:
                continue
            name = kid.argv.split(" -m ")[-1].split()[0] if " -m " in kid.argv else kid.argv
            kids_text.append(f"{name} {kid.mib('VmRSS'):.1f} ({kid.mib('RssAnon'):.1f})")
        print(
            f"| {setup.label} | {cells[0]} | {cells[2]} | {cells[3]} | {cells[1]} "
            f"| {'; '.join(kids_text) or '-'} | {span(totals)} | {span(anon)} "
            f"| {'/'.join(sorted({'loaded' if h.cryptography else 'no' for h in hubs}))} |",
            flush=True,
        )


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", action="store_true", help="every configuration, a table")
    parser.add_argument("--runs", type=int, default=1, help="with --budget: runs of each")
    parser.add_argument(
        "--only", default="", help="with --budget: only configurations whose label has this"
    )
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading")
    parser.add_argument("--web", action="store_true", help="with [web] enabled (aiohttp)")
    parser.add_argument("--visit", action="store_true", help="open a page first (with --web)")
    parser.add_argument("--rflink", action="store_true", help="an RFLink gateway on a pty")
    parser.add_argument("--ble", action="store_true", help="BLE on mocked BlueZ (D-Bus)")
    parser.add_argument(
        "--listen", action="store_true", help="with [voice] listen = true (the spotter loaded)"
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
        help="with --listen: voice.engines; processes the hub starts are measured apart",
    )
    parser.add_argument(
        "--speech", action="store_true", help="with --listen: a fake arecord plays talk"
    )
    parser.add_argument(
        "--push", action="store_true", help="a signed config push applied after the idle"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    bare = subprocess.run(
        [sys.executable, "-c", "import bench.common as c; print(c.rss_kib())"],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"bare python interpreter: {int(bare.stdout) / 1024:.1f} MiB")
    if (args.speech or args.budget) and not (shutil.which("flite") and shutil.which("sox")):
        raise SystemExit("--speech needs flite and sox (Debian packages)")
    if args.budget:
        budget([s for s in BUDGET if args.only in s.label], args.runs)
        return
    setup = Setup(
        "this configuration",
        rflink=args.rflink,
        ble=args.ble,
        web=args.web,
        visit=args.visit,
        listen=args.listen,
        engines=args.engines,
        second_pass=args.second_pass,
        speech=args.speech,
        idle=args.idle,
        push=args.push,
    )
    hub, _ = measure(setup)
    rss = hub.mib("VmRSS")
    parts = [
        "[web] on" if args.web else "",
        "RFLink" if args.rflink else "",
        "BLE" if args.ble else "",
        f"listening ({args.engines}, second pass {args.second_pass})" if args.listen else "",
        "hearing talk" if args.speech else "",
        "after one page visit" if args.web and args.visit else "",
        "after a signed config push" if args.push else "",
    ]
    with_ = ", ".join(p for p in parts if p)
    verdict = "MET" if rss <= CORE_TARGET_MIB else "MISSED"
    print(
        f"pingan-hub run{f' ({with_})' if with_ else ''}, idle {args.idle:.0f} s after "
        f"connecting: VmRSS {rss:.1f} MiB (core target <= {CORE_TARGET_MIB:.0f} MiB): "
        f"{verdict}; RssAnon {hub.mib('RssAnon'):.1f} MiB, RssFile {hub.mib('RssFile'):.1f} MiB"
    )


if __name__ == "__main__":
    main()

"""What polling Modbus RTU detectors costs the hub: CPU (% of one core) and memory.

A child process plays the RS-485 bus: pymodbus's RTU server answering for N detectors on
one pseudo-terminal, joined to a second pty that the hub opens. The real daemon
(`python -m hub run`) polls them with the detectors paired, and its CPU time is read from
/proc over a window; a hub without [modbus] over the same window is the baseline.

    .venv/bin/python -m bench.modbus_poll [--detectors 4] [--poll 2.0] [--window 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

from bench.common import machine, rss_kib
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def serve(units: int) -> None:
    """The bus: pymodbus RTU server for units 1..N, reached through a pty pair relay."""
    from pymodbus.framer import FramerType
    from pymodbus.server import ModbusSerialServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    def pty() -> tuple[int, int]:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        return master, slave

    hub_side, det_side = pty(), pty()
    loop = asyncio.get_running_loop()

    def carry(src: int, dst: int) -> None:
        with contextlib.suppress(OSError):  # a side closed: bytes lost, as on a cut wire
            os.write(dst, os.read(src, 4096))

    loop.add_reader(hub_side[0], carry, hub_side[0], det_side[0])
    loop.add_reader(det_side[0], carry, det_side[0], hub_side[0])

    def regs() -> list[SimData]:
        return [SimData(0, values=[0, 11, 0, 0], datatype=DataType.REGISTERS)]

    def bits() -> list[SimData]:
        return [SimData(0, values=[False] * 8, datatype=DataType.BITS)]

    devices = [SimDevice(u, simdata=(bits(), bits(), regs(), regs())) for u in range(1, units + 1)]
    server = ModbusSerialServer(devices, framer=FramerType.RTU, port=os.ttyname(det_side[1]))
    await server.serve_forever(background=True)
    print(os.ttyname(hub_side[1]), flush=True)
    await asyncio.Event().wait()


def run_hub(tmp: Path, broker: Mosquitto, modbus: str) -> subprocess.Popen[bytes]:
    """The daemon with the given [modbus] TOML text; returns once it is connected."""
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    config = tmp / "hub.toml"
    config.write_text(f"""
[hub]
id = "BENCH-MB"
data_dir = "{tmp}/data"
log_level = "WARNING"
[mqtt]
host = "127.0.0.1"
port = {broker.port}
[gpio]
pin_factory = "mock"
[voice]
prompts = false
{modbus}
""")
    proc = subprocess.Popen([sys.executable, "-m", "hub", "run", "--config", str(config)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call(tmp / "data" / "control.sock", "status")["uplink"]["connected"]:
                return proc
        except ControlError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the hub did not come up")


def measure(proc: subprocess.Popen[bytes], window: float) -> tuple[float, int]:
    """(% of one core over the window, VmRSS KiB at its end)."""
    time.sleep(3)  # start-up work done
    start_cpu, start = cpu_s(proc.pid), time.monotonic()
    time.sleep(window)
    used = cpu_s(proc.pid) - start_cpu
    return 100 * used / (time.monotonic() - start), rss_kib(proc.pid)


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--detectors", type=int, default=4)
    parser.add_argument("--poll", type=float, default=2.0, help="poll_s")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()}")
    bus = subprocess.Popen(
        [sys.executable, "-m", "bench.modbus_poll", "--serve", str(args.detectors)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert bus.stdout is not None
        port = bus.stdout.readline().decode().strip()
        with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
            base = run_hub(Path(tmp) / "base", broker, "")
            try:
                base_cpu, base_rss = measure(base, args.window)
            finally:
                base.terminate()
                base.wait()
            detectors = "".join(
                f"[[modbus.detectors]]\nunit = {u}\nalarm = [2]\nfault = [3]\n"
                "concentration_address = 1\nscale = 0.1\n"
                for u in range(1, args.detectors + 1)
            )
            polled = run_hub(
                Path(tmp) / "modbus",
                broker,
                f'[modbus]\nport = "{port}"\npoll_s = {args.poll}\n{detectors}',
            )
            try:
                sock = Path(tmp) / "modbus" / "data" / "control.sock"
                for u in range(1, args.detectors + 1):
                    call(sock, "pair", key=f"modbus:{port}:{u}", kind="gas", room="厨房")
                cpu, rss = measure(polled, args.window)
                events = call(sock, "events", last=50)["events"]
                heard = sum(1 for d in call(sock, "devices")["devices"] if d["last_seen"])
            finally:
                polled.terminate()
                polled.wait()
    finally:
        bus.kill()
        bus.wait()
    rate = args.detectors / args.poll
    print(
        f"{args.detectors} detectors every {args.poll} s = {rate:.1f} polls/s, {args.window:.0f} s"
    )
    print(f"hub without modbus: {base_cpu:.2f} % of one core, VmRSS {base_rss / 1024:.1f} MiB")
    print(f"hub polling:        {cpu:.2f} % of one core, VmRSS {rss / 1024:.1f} MiB")
    print(
        f"polling costs:      {cpu - base_cpu:.2f} % of one core, "
        f"+{(rss - base_rss) / 1024:.1f} MiB"
    )
    print(f"paired detectors heard: {heard} of {args.detectors}")
    print(f"events sent while polling (normal state; expect none): {len(events)}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

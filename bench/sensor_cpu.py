"""Hub CPU while receiving 20 BLE adverts/s and 5 RFLink lines/s (issue 9: target < 5 %
of one core), and what the BLE path adds to resident memory.

    .venv/bin/python -m bench.sensor_cpu [--seconds 60]

Each configuration runs in a fresh child process: a real Hub (mock pins, a private
mosquitto in its own process, SQLite outbox) with its RFLink source on a real pty, fed
5 lines/s from a writer thread, and -- with BLE -- its BleSource fed 20 adverts/s
through `BleSource.detected`, bleak's detection callback, with bleak's own BLEDevice and
AdvertisementData objects (no radio exists here, so no scanner runs: the D-Bus
unmarshalling that bleak does before that callback is not in this figure).

Every advert is a new BTHome advert (the packet id advances), so each one is decoded by
bthome-ble and goes the whole way: registry attribution, supervision, care checks,
presence. Devices: 4 paired thermometers (4 adverts/s each) and the elder's pendant
(4 adverts/s, tracked for presence). RFLink: a paired PIR (motion events, coalesced by
storm control), an unpaired weather sensor (pairing inbox).

A third run ("ble over D-Bus") drives the real scanner instead: bleak on
python-dbusmock's BlueZ on a private system bus, the adverts sent as BlueZ's
PropertiesChanged signals by a feeder process, so bleak's D-Bus unmarshalling is
counted too (the mock, dbus-daemon and the feeder are other processes: not counted).

CPU is the child's process time (all its threads) over wall time after a warm-up;
memory is its VmRSS at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import machine, rss_kib

THERMOMETERS = [f"A4:C1:38:00:00:0{i}" for i in range(1, 5)]
PENDANT = "A4:C1:38:8D:18:B2"
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
RF_LINES = [
    b"20;%02X;Eurodomest;ID=000111;PIR=ON;\r\n",
    b"20;%02X;Cresta;ID=3001;TEMP=00b4;HUM=50;BAT=OK;\r\n",
]
PIR_KEY = "rflink:Eurodomest:000111"


def thermometer_adv(packet: int, temp_centi: int) -> bytes:
    """ATC thermometer BTHome v2: packet id, battery 93 %, temperature, humidity 63.27 %."""
    return (
        bytes([0x40, 0x00, packet & 0xFF, 0x01, 0x5D, 0x02])
        + (temp_centi & 0xFFFF).to_bytes(2, "little")
        + bytes([0x03, 0xB7, 0x18])
    )


def pendant_adv(packet: int) -> bytes:
    """Shelly BLU Button1: packet id, battery 94 %, no press."""
    return bytes([0x44, 0x00, packet & 0xFF, 0x01, 0x5E, 0x3A, 0x00])


# The feeder of the D-Bus run: BlueZ's side of 20 adverts/s, as PropertiesChanged.
DBUS_FEEDER = r"""
import sys, time, dbus
from dbusmock import BusType
addresses = sys.argv[1].split(",")
conn = BusType.SYSTEM.get_connection()
mock = conn.get_object("org.bluez", "/")
paths = {}
for a in addresses:
    paths[a] = str(mock.AddDevice("hci0", a, "bench", dbus_interface="org.bluez.Mock"))
    conn.get_object("org.bluez", paths[a]).UpdateProperties("org.bluez.Device1", {
        "ManufacturerData": dbus.Dictionary({}, signature="qv"),
        "ServiceData": dbus.Dictionary({}, signature="sv")},
        dbus_interface="org.freedesktop.DBus.Mock")
objs = {a: conn.get_object("org.bluez", p) for a, p in paths.items()}
print("ready", flush=True)
n, next_at = 0, time.monotonic()
while True:
    a = addresses[n % len(addresses)]
    packet = (n // len(addresses)) & 0xFF
    if a == addresses[-1]:
        data = bytes([0x44, 0x00, packet, 0x01, 0x5E, 0x3A, 0x00])
    else:
        t = 2100 + packet % 50
        data = bytes([0x40, 0x00, packet, 0x01, 0x5D, 0x02, t & 0xFF, t >> 8, 0x03, 0xB7, 0x18])
    objs[a].UpdateProperties("org.bluez.Device1", {
        "RSSI": dbus.Int16(-60 - n % 7),
        "ServiceData": dbus.Dictionary(
            {"BTHOME_UUID": dbus.Array(data, signature="y")}, signature="sv")},
        dbus_interface="org.freedesktop.DBus.Mock")
    n += 1
    next_at += 1 / 20
    time.sleep(max(0.0, next_at - time.monotonic()))
""".replace("BTHOME_UUID", BTHOME_UUID)


class NoScanner:
    """The radio cannot exist here: adverts are injected instead."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


def rf_writer(master: int, rate: float, stop: threading.Event) -> None:
    """Write RFLink lines to the gateway side of the pty at `rate` lines/s."""
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        line = RF_LINES[n % len(RF_LINES)] % (n & 0xFF)
        os.write(master, line)
        n += 1
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))


async def child(seconds: float, warmup: float, mode: str) -> dict[str, Any]:
    from gpiozero.pins.mock import MockFactory

    from hub.app import Hub
    from hub.config import parse_config
    from hub.sim.broker import Mosquitto

    ble = mode == "ble"
    bluez = None
    if mode == "dbus":
        from dbusmock import BusType, PrivateDBus, SpawnedMock

        bus = PrivateDBus(BusType.SYSTEM)
        bus.start()  # sets DBUS_SYSTEM_BUS_ADDRESS for this process
        # Its call log must go somewhere: an unread pipe fills and blocks the mock.
        bluez = SpawnedMock.spawn_with_template(
            "bluez5", None, BusType.SYSTEM, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        bluez.obj.AddAdapter("hci0", "bench", dbus_interface="org.bluez.Mock")
    master, slave = os.openpty()
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(workdir=Path(tmp)) as broker:
        raw: dict[str, Any] = {
            "hub": {"id": "BENCH-1", "data_dir": f"{tmp}/data", "log_level": "WARNING"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "gpio": {"pin_factory": "mock"},
            "voice": {"prompts": False},
            "rflink": {"port": os.ttyname(slave)},
            "care": {"wearable_devices": [PENDANT]},
        }
        if mode == "dbus":
            raw["ble"] = {"enabled": True}
        hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
        await hub.start()
        await asyncio.to_thread(
            hub.registry.pair, PIR_KEY, protocol="rflink", address=PIR_KEY, kind="motion"
        )
        source = None
        if mode != "rf":
            for address in [*THERMOMETERS, PENDANT]:
                kind = "button" if address == PENDANT else "sensor"
                await asyncio.to_thread(
                    hub.registry.pair, address, protocol="bthome", address=address, kind=kind
                )
        feeder_proc = None
        if mode == "dbus":
            assert hub.ble is not None
            source = hub.ble.source
            for _ in range(200):
                if source.scanning:
                    break
                await asyncio.sleep(0.05)
            feeder_proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                DBUS_FEEDER,
                ",".join([*THERMOMETERS, PENDANT]),
                stdout=subprocess.PIPE,
            )
            assert feeder_proc.stdout is not None
            await feeder_proc.stdout.readline()  # "ready"
        if ble:
            from bleak.backends.device import BLEDevice
            from bleak.backends.scanner import AdvertisementData

            from hub.ble_link import BleLink

            link = BleLink(hub, scanner_factory=lambda _cb, _passive: NoScanner())
            link.start()
            hub.ble = link
            source = link.source
            devices = {a: BLEDevice(a, None, {"path": ""}) for a in [*THERMOMETERS, PENDANT]}

        stop = threading.Event()
        writer = threading.Thread(target=rf_writer, args=(master, 5.0, stop), daemon=True)
        writer.start()
        rss_before_load = rss_kib()

        async def feed_adverts() -> None:
            assert source is not None
            n = 0
            next_at = time.monotonic()
            order = [*THERMOMETERS, PENDANT]
            while True:
                address = order[n % len(order)]
                packet = n // len(order)
                data = (
                    pendant_adv(packet)
                    if address == PENDANT
                    else thermometer_adv(packet, 2100 + packet % 50)
                )
                adv = AdvertisementData(
                    local_name=None,
                    manufacturer_data={},
                    service_data={BTHOME_UUID: data},
                    service_uuids=[BTHOME_UUID],
                    tx_power=None,
                    rssi=-60 - n % 7,
                    platform_data=(),
                )
                source.detected(devices[address], adv)
                n += 1
                next_at += 1 / 20
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        feeder = asyncio.create_task(feed_adverts()) if ble else None
        await asyncio.sleep(warmup)
        cpu0, wall0 = time.process_time(), time.monotonic()
        adverts0 = source.adverts if source else 0
        decoded0 = source.decoded if source else 0
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        adverts1 = source.adverts if source else 0
        decoded1 = source.decoded if source else 0
        result = {
            "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
            "adverts_per_s": (adverts1 - adverts0) / (wall1 - wall0),
            "decoded_per_s": (decoded1 - decoded0) / (wall1 - wall0),
            "rss_mib": rss_kib() / 1024,
            "rss_before_load_mib": rss_before_load / 1024,
            "inbox": [h.key for h in hub.registry.inbox()],
            "events": len(await hub.outbox.recent(10_000)),
        }
        if feeder:
            feeder.cancel()
        if feeder_proc is not None:
            feeder_proc.terminate()
            await feeder_proc.wait()
        stop.set()
        await hub.stop()
    os.close(master)
    os.close(slave)
    if bluez is not None:
        bluez.terminate()
        bus.stop()
    return result


def main() -> None:
    """Run both configurations in fresh processes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured wall time")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--child", choices=("ble", "rf", "dbus"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-dbus", action="store_true", help="skip the run through bleak on mocked BlueZ"
    )
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(child(args.seconds, args.warmup, args.child))
        print(json.dumps(result))
        return
    print(f"machine: {machine()}")
    rows = {}
    for mode in ("rf", "ble") if args.no_dbus else ("rf", "ble", "dbus"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.sensor_cpu",
                "--child",
                mode,
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    rf, ble = rows["rf"], rows["ble"]
    print(
        f"5 RFLink lines/s only:               CPU {rf['cpu_pct']:.2f} % of one core, "
        f"VmRSS {rf['rss_mib']:.1f} MiB"
    )
    print(
        f"5 RFLink lines/s + {ble['adverts_per_s']:.1f} BLE adverts/s "
        f"({ble['decoded_per_s']:.1f} decoded to readings/s): CPU "
        f"{ble['cpu_pct']:.2f} % of one core, VmRSS {ble['rss_mib']:.1f} MiB"
    )
    print(
        f"the BLE path adds {ble['rss_mib'] - rf['rss_mib']:.1f} MiB resident "
        f"and {ble['cpu_pct'] - rf['cpu_pct']:.2f} % CPU; target < 5 %: "
        f"{'MET' if ble['cpu_pct'] < 5 else 'MISSED'}"
    )
    if "dbus" in rows:
        dbus = rows["dbus"]
        print(
            f"same, through bleak on mocked BlueZ ({dbus['adverts_per_s']:.1f} adverts/s, "
            f"{dbus['decoded_per_s']:.1f} decoded/s): CPU {dbus['cpu_pct']:.2f} % of one core, "
            f"VmRSS {dbus['rss_mib']:.1f} MiB; target < 5 %: "
            f"{'MET' if dbus['cpu_pct'] < 5 else 'MISSED'}"
        )
    print(
        f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )


if __name__ == "__main__":
    main()

"""Decoding throughput of the BLE decoders (readings/s on one core) and bthome-ble's RAM cost.

Run from the repository root:  .venv/bin/python -m bench.decode [--seconds 1.0]

Throughput: each decoder is fed its recorded test vectors in a loop for about
`--seconds` seconds in this one process (one core). Memory: fresh interpreters are
started and their resident set (VmRSS, /proc/self/status) printed after importing
nothing, the hub's bthome module, bthome-ble itself, and after a first decode.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hub.errors import DecodeError
from hub.sensors import bthome, gatt

TS = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ADDRESS = "54:48:E6:8F:80:A5"
MOTION_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")

GATT_VECTORS: dict[str, tuple[int, bytes]] = {
    "gatt heart rate 0x2A37 (72 bpm + 2 RR)": (0x2A37, bytes.fromhex("16 48 5503 4003")),
    "gatt PLX spot-check 0x2A5E (+timestamp)": (
        0x2A5E,
        bytes.fromhex("01 6100 4800 ea07 0b 17 07 2d 0a"),
    ),
    "gatt PLX continuous 0x2A5F": (0x2A5F, bytes.fromhex("00 6000 4600")),
    "gatt blood pressure 0x2A35 (+ts, pulse)": (
        0x2A35,
        bytes.fromhex("06 8000 5400 ff07 ea07 0b 17 07 1e 00 4400"),
    ),
    "gatt battery level 0x2A19": (0x2A19, bytes.fromhex("57")),
}

BTHOME_VECTORS: dict[str, tuple[bytes, bytes | None]] = {
    "bthome button press (plaintext)": (b"\x44\x00\x21\x01\x5e\x3a\x01", None),
    "bthome temp/humidity/battery (plaintext)": (
        b"\x40\x00\x09\x01\x5d\x02\x5d\x09\x03\xb7\x18",
        None,
    ),
    "bthome motion (AES-CCM encrypted)": (
        b"\x41\x87\xb9\x00\x11\x22\x33\x72\xb0\x23\x1f",
        MOTION_KEY,
    ),
    "bthome corrupt advert (DecodeError)": (b"\x40\xfe\xca\x09", None),
}

_RSS_SNIPPET = (
    "import re\n"
    "with open('/proc/self/status') as f:\n"
    "    print(re.search(r'VmRSS:\\s+(\\d+)', f.read()).group(1))\n"
)

MEMORY_CASES: dict[str, str] = {
    "bare python -c": "",
    "import hub.sensors.gatt": "import hub.sensors.gatt\n",
    "import hub.sensors.bthome (lazy)": "import hub.sensors.bthome\n",
    "import bthome_ble": "import bthome_ble.parser\n",
    "import bleak + bleak_retry_connector": "import bleak, bleak_retry_connector\n",
    "  ... + bthome_ble (its cost on a BLE hub)": (
        "import bleak, bleak_retry_connector, bthome_ble.parser\n"
    ),
    "hub.sensors.bthome + first decode": (
        "from hub.sensors.bthome import decode_advert\n"
        "decode_advert(b'\\x40\\x11\\x01', address='A4:C1:38:8D:18:B2')\n"
    ),
    "cryptography AESCCM only (a lighter path)": (
        "from cryptography.hazmat.primitives.ciphers.aead import AESCCM\n"
    ),
}


def _rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of `call`, measured for about `seconds`."""
    for _ in range(50):  # warm caches and the lazy import before timing
        call()
    count = 0
    batch = 200
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            call()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _gatt_call(uuid: int, data: bytes) -> Callable[[], object]:
    def call() -> object:
        return gatt.decode_characteristic(uuid, data, ADDRESS, TS)

    return call


def _bthome_call(data: bytes, key: bytes | None) -> Callable[[], object]:
    def call() -> object:
        try:
            return bthome.decode_advert(data, address=ADDRESS, rssi=-60, ts=TS, bindkey=key)
        except DecodeError as exc:
            return exc

    return call


def _rss_kb(code: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", code + _RSS_SNIPPET],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[-1])


def main() -> None:
    """Print throughput per decoder, then resident memory per import."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per decoder")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}, one process, {args.seconds:g} s per decoder")
    print(f"{'decoder':<45} {'readings/s':>12} {'us/reading':>11}")
    for name, (uuid, data) in GATT_VECTORS.items():
        rate = _rate(_gatt_call(uuid, data), args.seconds)
        print(f"{name:<45} {rate:>12,.0f} {1e6 / rate:>11.1f}")
    for name, (data, key) in BTHOME_VECTORS.items():
        rate = _rate(_bthome_call(data, key), args.seconds)
        print(f"{name:<45} {rate:>12,.0f} {1e6 / rate:>11.1f}")

    print()
    print(f"{'resident memory (VmRSS) of a fresh interpreter':<45} {'kB':>12} {'delta':>11}")
    base = _rss_kb(MEMORY_CASES["bare python -c"])
    for name, code in MEMORY_CASES.items():
        rss = base if not code else _rss_kb(code)
        print(f"{name:<45} {rss:>12,} {rss - base:>+11,}")


if __name__ == "__main__":
    main()

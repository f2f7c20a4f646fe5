"""cryptography stays unloaded on the BLE path until an encrypted device needs it (issue 23).

Each check runs in a fresh interpreter: in this one, other tests have long loaded
cryptography, and the stand-ins (hub.sensors.deferred_crypto) are only used when it is not.
The encrypted adverts are bthome-ble's own test vectors (tests/test_bthome.py says where
each comes from).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.test_bthome import (
    BATTERY_TEMP_ADV,
    DOOR,
    DOOR_OPEN_ADV,
    ENCRYPTED_PENDANT,
    ENCRYPTED_PENDANT_KEY,
    ENCRYPTED_PENDANT_PRESS_ADV,
    MOTION_ADV,
    MOTION_KEY,
    MOTION_SENSOR,
    PENDANT,
    PENDANT_BUTTON_PRESS_ADV,
    TOO_SHORT_ENCRYPTED_ADV,
)

# (service data, address, bindkey): the wrong key comes first, so the very first
# decryption in a fresh interpreter is a failed one (bthome-ble's `except InvalidTag`).
ENCRYPTED_CASES = [
    (MOTION_ADV, MOTION_SENSOR, ENCRYPTED_PENDANT_KEY),
    (MOTION_ADV, MOTION_SENSOR, MOTION_KEY),
    (ENCRYPTED_PENDANT_PRESS_ADV, ENCRYPTED_PENDANT, ENCRYPTED_PENDANT_KEY),
    (MOTION_ADV, PENDANT, MOTION_KEY),  # spoofed address: the nonce differs
    (TOO_SHORT_ENCRYPTED_ADV, MOTION_SENSOR, MOTION_KEY),
    (PENDANT_BUTTON_PRESS_ADV, PENDANT, ENCRYPTED_PENDANT_KEY),  # plaintext from a keyed one
    (MOTION_ADV, MOTION_SENSOR, ENCRYPTED_PENDANT_KEY),
]

DECODE_SCRIPT = """
import json, sys
if sys.argv[1] == "cryptography-first":  # as before this change: the real names
    import cryptography.hazmat.primitives.ciphers.aead
from hub.sensors.bthome import BTHomeDecoder, decode_advert
from hub.errors import DecodeError
plain = BTHomeDecoder()
for n, (data, address) in enumerate(json.loads(sys.argv[2])):
    plain.decode(bytes.fromhex(data), address=address, monotonic=float(n))
out = {"after_plaintext": "cryptography" in sys.modules, "results": []}
for data, address, key in json.loads(sys.argv[3]):
    try:
        reading = decode_advert(bytes.fromhex(data), address=address, bindkey=bytes.fromhex(key))
        out["results"].append(repr(reading))
    except DecodeError as exc:
        out["results"].append(f"{type(exc).__name__}: {exc}")
out["at_end"] = "cryptography" in sys.modules
import bthome_ble.parser as parser, cryptography.exceptions as real
out["real_names"] = parser.InvalidTag is real.InvalidTag and isinstance(parser.AESCCM, type)
print(json.dumps(out))
"""


def decode_in_fresh_interpreter(mode: str) -> dict[str, Any]:
    plaintext = [(DOOR_OPEN_ADV.hex(), DOOR), (BATTERY_TEMP_ADV.hex(), DOOR)]
    encrypted = [(data.hex(), address, key.hex()) for data, address, key in ENCRYPTED_CASES]
    done = subprocess.run(
        [sys.executable, "-c", DECODE_SCRIPT, mode, json.dumps(plaintext), json.dumps(encrypted)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_plaintext_devices_never_load_cryptography_and_encrypted_ones_decode_as_before() -> None:
    deferred = decode_in_fresh_interpreter("deferred")
    before = decode_in_fresh_interpreter("cryptography-first")

    assert deferred["after_plaintext"] is False  # the BLE libraries are loaded, not it
    assert deferred["at_end"] is True  # the first bindkey loaded the real one
    assert deferred["real_names"] and before["real_names"]  # and the library has its names
    # Every encrypted advert, right key, wrong key, spoofed, cut short or downgraded,
    # gives exactly what it gives with cryptography imported the ordinary way.
    assert deferred["results"] == before["results"]
    wrong, motion, press, spoofed, short, downgrade, wrong_again = deferred["results"]
    assert "cannot decrypt" in wrong and wrong == wrong_again
    assert "kind='motion'" in motion and "'motion': True" in motion
    assert "kind='button'" in press and "'button': 'press'" in press
    assert "cannot decrypt" in spoofed
    assert "too short" in short
    assert "plaintext advert" in downgrade


SIGNED_PUSH_SCRIPT = """
import json, sys
from datetime import UTC, datetime, timedelta
from hub.sensors.bthome import decode_advert
decode_advert(bytes.fromhex(sys.argv[1]), address=sys.argv[2])
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hub.sync import ota
import bluetooth_data_tools
key = Ed25519PrivateKey.generate()
issued = datetime(2026, 12, 3, tzinfo=UTC)
local = {"hub": {"id": "H-1", "data_dir": "/tmp/x"}, "mqtt": {"host": "h"}}
env = ota.sign_envelope(key, 5, {"sos": {"ack_timeout_s": 20.0}}, issued, hub="H-1")
def judge(env):
    try:
        ota.verify_envelope(json.dumps(env).encode(), public_keys=[ota.public_key_text(key)],
            hub_id="H-1", groups=[], current_version=4, base=local,
            now=issued + timedelta(minutes=1), clock_synced=True)
        return "accepted"
    except ota.Rejected as exc:
        return exc.reason
# A private address resolved with an identity key (habluetooth's helper, never used by
# the hub): its deferred Cipher must work too. 0x40... is a resolvable private address.
cipher = bluetooth_data_tools.get_cipher_for_irk(bytes(16))
rpa = bluetooth_data_tools.resolve_private_address(cipher, "40:00:00:00:00:00")
print(json.dumps([judge(env), judge({**env, "version": 6}), rpa]))
"""


def test_a_signed_config_push_still_verifies_after_the_ble_libraries_deferred_cryptography() -> (
    None
):
    done = subprocess.run(
        [sys.executable, "-c", SIGNED_PUSH_SCRIPT, DOOR_OPEN_ADV.hex(), DOOR],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    accepted, tampered, resolved = json.loads(done.stdout)
    assert accepted == "accepted"
    assert tampered == "bad_signature"
    assert resolved is False  # AES of the zero key does not give this hash

"""Device keys (pure): the one spelling of every key a source reports, and whether a key a
person typed can ever match a reading.

The sources report keys spelled like this, and the registry stores only these spellings:

    BLE (BTHome adverts, GATT wearables, presence)   A4:C1:38:8D:18:B2
        upper case with colons, as BlueZ reports an address;
    RFLink 433 MHz                                   rflink:eurodomest:123456:01
        rflink:<protocol>:<id>[:<switch>], all lower case, as the `rflink` parser gives
        the protocol and id (the gateway prints `Eurodomest;ID=123456;SWITCH=01`);
    Modbus RTU detectors                             modbus:/dev/ttyUSB0:3
        modbus:<port>:<unit>, the port exactly as configured (a path keeps its case).
    mmWave radars                                    radar:/dev/ttyAMA0
        radar:<port>, the port exactly as configured in [[radar.devices]].

A person types a key from a label on the box, a phone or a page: `canonical_key` takes a
BLE address in any case, with ':' or '-' or no separators (and a `bthome:` or `ble:` in
front), an RFLink key in any case, a unit id with leading zeros, and gives the spelling
above. `pairable` also refuses a key no source can ever report, so that an installer is
told at once instead of a pendant whose presses never raise anything.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# A BLE address as people write it: 6 octets, ':' or '-' between them, or none.
_MAC = re.compile(
    r"^(?:(?:bthome|ble|ble_gatt):)?((?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}|[0-9a-f]{12})$",
    re.IGNORECASE,
)
# The spelling BlueZ reports: every advert's address is checked against it first, cheaply.
_CANONICAL_MAC = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}")
_HOST_BUTTONS = ("gpio:sos", "gpio:ok")
_SHAPES = (
    "a BLE address (A4:C1:38:8D:18:B2; any case, ':' '-' or no separators), "
    "an RFLink key as `devices list` shows it (rflink:<protocol>:<id>[:<switch>]), "
    "a Modbus detector of [modbus] (modbus:<port>:<unit>), "
    "or a radar of [[radar.devices]] (radar:<port>)"
)


def ble_address(text: str) -> str | None:
    """`text` as an upper-case, colon-separated BLE address; None when it is not one."""
    if _CANONICAL_MAC.fullmatch(text):
        return text
    match = _MAC.match(text.strip())
    if match is None:
        return None
    digits = re.sub("[:-]", "", match[1]).upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def canonical_key(text: str) -> str:
    """The spelling the sources report for the device `text` names (unknown shapes: as typed,
    without surrounding blanks)."""
    key = text.strip()
    address = ble_address(key)
    if address is not None:
        return address
    prefix, sep, rest = key.partition(":")
    if not sep:
        return key
    if prefix.lower() == "rflink":
        return ":".join(["rflink", *(part.strip().lower() for part in rest.split(":"))])
    if prefix.lower() == "radar":
        return f"radar:{rest.strip()}"
    if prefix.lower() == "modbus":
        port, sep, unit = rest.rpartition(":")
        unit = unit.strip()
        if sep and unit.isdigit():  # isdigit: an ASCII unit id, "03" is unit 3
            return f"modbus:{port}:{int(unit)}"
        return f"modbus:{rest}"
    return key


def pairable(text: str, modbus_keys: Collection[str] = (), radar_keys: Collection[str] = ()) -> str:
    """The canonical key of a device the installer may pair; ValueError says why a key can
    never match a reading. `modbus_keys` and `radar_keys` are the keys of the configured
    Modbus detectors and radars."""
    key = canonical_key(text)
    if ble_address(key) is not None:
        return key
    parts = key.split(":")
    if parts[0] == "rflink":
        if len(parts) in (3, 4) and all(parts[1:]):
            return key
        raise ValueError(
            f"{text!r} is not an RFLink key: it is rflink:<protocol>:<id>[:<switch>], "
            "as `devices list` shows it once the device has sent (rflink:eurodomest:123456:01)"
        )
    if parts[0] == "modbus":
        if key in {canonical_key(k) for k in modbus_keys}:
            return key
        configured = ", ".join(sorted(modbus_keys)) or "none"
        raise ValueError(
            f"{text!r} is not a detector of [modbus]: the hub polls only the detectors listed "
            f"there (configured: {configured})"
        )
    if parts[0] == "radar":
        if key in radar_keys:
            return key
        configured = ", ".join(sorted(radar_keys)) or "none"
        raise ValueError(
            f"{text!r} is not a radar of [[radar.devices]]: the hub reads only the radars "
            f"listed there (configured: {configured})"
        )
    if key.lower() in _HOST_BUTTONS:
        raise ValueError(f"{text!r} is one of the hub's own buttons: they need no pairing")
    raise ValueError(f"{text!r} is not a key any source reports; give {_SHAPES}")

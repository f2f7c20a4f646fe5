"""[ble] options that are lists in a string: wearable addresses and BTHome bindkeys (pure).

TOML keeps them as one line each (``gatt_devices = "A4:C1:38:8D:18:B2, ..."``) so the
generic option checks of hub.config apply; this module splits and validates them.
"""

from __future__ import annotations

import re
from typing import Protocol

from hub.sensors.keys import ble_address

_KEY = re.compile(r"^[0-9a-fA-F]{32}$")


class BleOptions(Protocol):
    """The [ble] options checked here (hub.config.BleSection)."""

    @property
    def gatt_devices(self) -> str: ...
    @property
    def bindkeys(self) -> str: ...
    @property
    def presence_near_dbm(self) -> int: ...
    @property
    def presence_away_dbm(self) -> int: ...


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_addresses(text: str) -> tuple[str, ...]:
    """Comma-separated BLE addresses (any case, ':' '-' or no separators) as BlueZ spells
    them; ValueError names a bad one."""
    out = []
    for item in _items(text):
        address = ble_address(item)
        if address is None:
            raise ValueError(f"{item!r} is not a BLE address like A4:C1:38:8D:18:B2")
        out.append(address)
    return tuple(out)


def parse_bindkeys(text: str) -> dict[str, bytes]:
    """``ADDRESS=KEY, ...`` as {address: 16-byte key}; ValueError names a bad entry."""
    keys: dict[str, bytes] = {}
    for item in _items(text):
        typed, sep, key = item.partition("=")
        address = ble_address(typed)
        key = key.strip()
        if not sep or address is None or not _KEY.match(key):
            raise ValueError(
                f"the entry for {typed.strip()[:17]!r} is not ADDRESS=KEY "
                "(a BLE address, '=', 32 hex digits)"
            )
        keys[address] = bytes.fromhex(key)
    return keys


def ble_problems(ble: BleOptions) -> list[str]:
    """Problems with the [ble] options that involve parsing or more than one option."""
    problems = []
    try:
        parse_addresses(ble.gatt_devices)
    except ValueError as exc:
        problems.append(f"ble.gatt_devices: {exc}; separate addresses with commas")
    try:
        parse_bindkeys(ble.bindkeys)
    except ValueError as exc:
        # The key is a secret: the message names the entry by its address only.
        problems.append(f"ble.bindkeys: {exc}")
    if ble.presence_away_dbm >= ble.presence_near_dbm:
        problems.append(
            "ble.presence_away_dbm: must be below ble.presence_near_dbm (e.g. -85 and -75), "
            "or presence would flap at the edge of range"
        )
    return problems

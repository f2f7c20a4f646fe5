"""BTHome v2 adverts (service data under UUID 0xFCD2) decoded into the hub's Reading.

The decoding itself is the `bthome-ble` library's, as Home Assistant uses it; this
module only maps its `SensorUpdate` onto a `Reading`. It is pure: the BLE source hands
in the service-data bytes, the sender's address, RSSI and time, and gets back one
Reading or a `DecodeError` (never another exception, whatever the bytes).

Memory: importing `bthome_ble` pulls in habluetooth, bleak, dbus-fast and cryptography:
+27 MB resident over a bare interpreter, +11 MB over the bleak stack the BLE source
loads anyway (x86-64, `python -m bench.decode`). The hub floor is a 512 MB Pi, so the
library is imported on the first decode, never when this module is imported: a hub
with no BLE configured does not pay for it.

Mapping (the contract the rest of the hub relies on):
  * one advert -> one Reading; `kind` is the most urgent thing the advert carries:
    button > smoke > gas > water > door > tamper > motion > temperature > humidity
    > moisture > battery > sensor;
  * a button event comes out as kind "button" with `values["button"]` the event type
    ("press", "double_press", "long_press", "hold_press", ...); a multi-button device
    gives "button_2", "button_3"... `is_button_press` says whether a Reading is a press,
    which is what raises SOS for a paired pendant;
  * binary sensors become booleans: "open" (opening, door, window), "motion", "smoke",
    "gas", "water" (BTHome moisture binary, i.e. a leak), "tamper", "battery_low", ...;
  * measurements keep a unit suffix: "temperature_c", "humidity_pct", "battery_pct",
    "voltage_v", ...; the battery percentage also goes to `Reading.battery`;
  * objects repeated in one advert get bthome-ble's "_2", "_3" postfix after the name.

`decode_advert` is stateless (a fresh bthome-ble parser per call). The BLE source uses
`BTHomeDecoder`, which holds the bindkeys and drops the repeats of each advert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.errors import DecodeError
from hub.reading import Reading

if TYPE_CHECKING:
    from bthome_ble.parser import BTHomeBluetoothDeviceData
    from sensor_state_data import SensorUpdate

PROTOCOL = "bthome"
# BTHome v2 service data UUID (bthome.io/format, SIG member UUID 0xFCD2).
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"

# Button event types that mean "someone pressed" (bthome.io/format, object 0x3A);
# "hold_release" is the end of a hold already reported as "hold_press".
PRESS_EVENTS = frozenset(
    {
        "press",
        "double_press",
        "triple_press",
        "long_press",
        "long_double_press",
        "long_triple_press",
        "hold_press",
    }
)

_BINARY_NAMES = {
    "opening": "open",
    "door": "open",
    "window": "open",
    "garage_door": "open",
    "moisture": "water",
    "carbon_monoxide": "co",
    "battery": "battery_low",
    "battery_charging": "battery_charging",
    "generic": "state",
}

_SENSOR_NAMES = {
    "temperature": "temperature_c",
    "dew_point": "dew_point_c",
    "humidity": "humidity_pct",
    "moisture": "moisture_pct",
    "battery": "battery_pct",
    "voltage": "voltage_v",
    "illuminance": "illuminance_lux",
    "pressure": "pressure_mbar",
    "carbon_dioxide": "co2_ppm",
    "packet_id": "packet_id",
}

_UNIT_SLUGS = {"%": "pct", "°C": "c", "°F": "f", "µg/m³": "ugm3", "m³": "m3"}

# Which values make which kind, most urgent first: a pendant that also reports its
# battery is still a button press, a smoke alarm that reports temperature is smoke.
_KIND_BY_BINARY = (
    ("smoke", "smoke"),
    ("gas", "gas"),
    ("carbon_monoxide", "gas"),
    ("moisture", "water"),
    ("opening", "door"),
    ("door", "door"),
    ("window", "door"),
    ("garage_door", "door"),
    ("tamper", "tamper"),
    ("motion", "motion"),
    ("occupancy", "motion"),
    ("presence", "motion"),
)
_KIND_BY_SENSOR = ("temperature", "humidity", "moisture", "battery")

# bthome-ble treats the same packet id within 4 s as a repeat (parser.py,
# _skip_old_or_duplicated_advertisement); BTHomeDecoder does the same for identical bytes.
REPEAT_WINDOW_S = 4.0
# Adverts come from any BTHome device in radio range, paired or not: bound the memory.
# (Evicting a device only means one repeat of its next advert may get through.)
MAX_TRACKED_DEVICES = 256

_POSTFIX = re.compile(r"^(?P<base>.+?)(?P<postfix>_\d+)?$")


def is_button_press(reading: Reading) -> bool:
    """Whether `reading` is a BTHome button press (any button, any press type)."""
    if reading.kind != "button":
        return False
    return any(
        _split(key)[0] == "button" and value in PRESS_EVENTS
        for key, value in reading.values.items()
    )


def decode_advert(
    service_data: bytes,
    *,
    address: str,
    rssi: int | None = None,
    ts: datetime | None = None,
    bindkey: bytes | None = None,
) -> Reading:
    """The BTHome v2 service data of `address` as one Reading, or DecodeError (stateless)."""
    return _decode(
        _new_parser(bindkey),
        service_data,
        address=address,
        rssi=rssi,
        ts=ts,
        bindkey=bindkey,
    )


class BTHomeDecoder:
    """Decodes the adverts of many devices, dropping the repeats each device sends.

    A BTHome device sends every advert several times (a Shelly button repeats a press
    for about a second); the SOS flow must see one press, not five.

    Each advert still gets a fresh bthome-ble parser: a long-lived one accumulates
    values, so a later advert would come back with an earlier advert's readings (a
    motion that is long over would be reported again). That also means bthome-ble's
    encryption-counter replay check is not used; it is weak anyway (counters under 100
    always pass) and a strict one would silence a pendant whose counter restarted
    after a battery change, which is worse for an elder than a replayed press.
    """

    def __init__(self, bindkeys: Mapping[str, bytes] | None = None) -> None:
        self._bindkeys = {addr.upper(): key for addr, key in (bindkeys or {}).items()}
        self._last: dict[str, tuple[bytes, float]] = {}

    def decode(
        self,
        service_data: bytes,
        *,
        address: str,
        monotonic: float,
        rssi: int | None = None,
        ts: datetime | None = None,
    ) -> Reading | None:
        """A Reading for a new advert, None for a repeat of the last one, or DecodeError."""
        key = address.upper()
        last = self._last.pop(key, None)
        if last is not None and last[0] == service_data and monotonic - last[1] < REPEAT_WINDOW_S:
            self._last[key] = last
            return None
        # The window runs from the first copy: a sensor whose value never changes still
        # gives a Reading every REPEAT_WINDOW_S, so supervision keeps hearing it.
        self._last[key] = (service_data, monotonic)  # re-inserted last: LRU order
        if len(self._last) > MAX_TRACKED_DEVICES:
            del self._last[next(iter(self._last))]
        bindkey = self._bindkeys.get(key)
        return _decode(
            _new_parser(bindkey),
            service_data,
            address=address,
            rssi=rssi,
            ts=ts,
            bindkey=bindkey,
        )


def _new_parser(bindkey: bytes | None) -> BTHomeBluetoothDeviceData:
    from bthome_ble.parser import BTHomeBluetoothDeviceData

    if bindkey is not None and len(bindkey) != 16:
        raise DecodeError("BTHome: a bindkey is 16 bytes")
    return BTHomeBluetoothDeviceData(bindkey=bindkey)


def _decode(
    parser: BTHomeBluetoothDeviceData,
    service_data: bytes,
    *,
    address: str,
    rssi: int | None,
    ts: datetime | None,
    bindkey: bytes | None,
) -> Reading:
    from bthome_ble.parser import EncryptionScheme
    from habluetooth import BluetoothServiceInfoBleak

    info = BluetoothServiceInfoBleak(
        # The name only feeds bthome-ble's titles; the address makes it skip the
        # per-vendor name matching.
        name=address,
        address=address,
        rssi=rssi if rssi is not None else 0,
        manufacturer_data={},
        service_data={BTHOME_UUID: service_data},
        service_uuids=[BTHOME_UUID],
        source="",
        # bthome-ble never reads `.device`; building a bleak BLEDevice per advert buys nothing.
        device=None,  # type: ignore[arg-type]
        advertisement=None,
        connectable=False,
        time=0.0,  # only used by bthome-ble's de-duplication across adverts
        tx_power=None,
    )
    try:
        update = parser.update(info)
    # The library indexes into the payload without bounds checks (an empty service
    # data raises IndexError): translate whatever it raises at this boundary.
    except Exception as exc:
        raise DecodeError(f"BTHome: undecodable advert {service_data.hex()}: {exc!r}") from exc
    if parser.downgrade_detected:
        # bthome-ble refuses plaintext from a device we hold a key for: a spoofed
        # pendant must not be able to skip the encryption (bthome.io/encryption).
        raise DecodeError(f"BTHome: plaintext advert from {address}, which has a bindkey")
    if parser.encryption_scheme is EncryptionScheme.BTHOME_BINDKEY:
        if bindkey is None:
            raise DecodeError(f"BTHome: encrypted advert from {address}, no bindkey configured")
        if parser.decryption_failed:
            raise DecodeError(
                f"BTHome: cannot decrypt advert from {address} (wrong bindkey, or cut short)"
            )
    if not update.devices:
        raise DecodeError(f"BTHome: not a BTHome v2 advert: {service_data.hex()}")
    return _to_reading(update, address, rssi, ts, service_data)


def _split(key: str) -> tuple[str, str]:
    match = _POSTFIX.match(key)
    if match is None:  # pragma: no cover - the pattern matches any non-empty key
        return key, ""
    return match["base"], match["postfix"] or ""


def _slug(unit: str) -> str:
    slug = _UNIT_SLUGS.get(unit, unit).lower()
    return re.sub(r"[^a-z0-9]+", "_", slug.replace("/", "_per_")).strip("_")


def _to_reading(
    update: SensorUpdate,
    address: str,
    rssi: int | None,
    ts: datetime | None,
    service_data: bytes,
) -> Reading:
    values: dict[str, Any] = {}
    kinds: set[str] = set()
    battery: int | None = None

    for dkey, event in update.events.items():
        base, postfix = _split(dkey.key)
        values[dkey.key] = event.event_type
        kinds.add(f"event:{base}")
        for prop, prop_value in (event.event_properties or {}).items():
            values[f"{base}{postfix}_{prop}"] = prop_value

    for dkey, binary in update.binary_entity_values.items():
        base, postfix = _split(dkey.key)
        values[_BINARY_NAMES.get(base, base) + postfix] = bool(binary.native_value)
        kinds.add(f"binary:{base}")

    for dkey, sensor in update.entity_values.items():
        base, postfix = _split(dkey.key)
        if base == "signal_strength":
            continue  # bthome-ble echoes the RSSI we gave it; it is Reading.rssi
        name = _SENSOR_NAMES.get(base)
        if name is None:
            description = update.entity_descriptions.get(dkey)
            unit = description.native_unit_of_measurement if description else None
            name = f"{base}_{_slug(str(unit))}" if unit else base
        value = sensor.native_value
        values[name + postfix] = value.isoformat() if isinstance(value, datetime) else value
        kinds.add(f"sensor:{base}")
        if base == "battery" and not postfix and isinstance(value, int | float):
            battery = int(value)

    kind = _kind(kinds)
    if kind is None:
        raise DecodeError(f"BTHome: no measurement in advert {service_data.hex()}")
    return Reading(
        device=address,
        protocol=PROTOCOL,
        kind=kind,
        values=values,
        battery=battery,
        rssi=rssi,
        ts=ts,
    )


def _kind(kinds: set[str]) -> str | None:
    if "event:button" in kinds:
        return "button"
    for base, kind in _KIND_BY_BINARY:
        if f"binary:{base}" in kinds:
            return kind
    for base in _KIND_BY_SENSOR:
        if f"sensor:{base}" in kinds:
            return base
    if any(k.startswith("event:") for k in kinds):
        return "event"
    if kinds - {"sensor:packet_id"}:
        return "sensor"
    return None

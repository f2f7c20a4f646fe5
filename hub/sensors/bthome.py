"""BTHome v2 adverts (service data under UUID 0xFCD2) decoded into the hub's Reading.

The decoding itself is the `bthome-ble` library's, as Home Assistant uses it; this
module only maps its `SensorUpdate` onto a `Reading`. It is pure: the BLE source hands
in the service-data bytes, the sender's address, RSSI and time, and gets back one
Reading or a `DecodeError` (never another exception, whatever the bytes).

Memory: importing `bthome_ble` pulls in habluetooth, bleak, dbus-fast and cryptography:
+27 MB resident over a bare interpreter, +11 MB over the bleak stack the BLE source
loads anyway (x86-64, `python -m bench.decode`). The hub floor is a 512 MB Pi, so the
library is imported on the first decode, never when this module is imported: a hub
with no BLE configured does not pay for it. cryptography itself (~5 MiB) is loaded only
when a device with a bindkey sends an advert (hub.sensors.deferred_crypto).

Mapping (the contract the rest of the hub relies on):
  * one advert -> one Reading; `kind` is the most urgent thing the advert carries:
    button > smoke > gas > co > water > door > tamper > motion > temperature > humidity
    > moisture > battery > sensor; `device` is the address as BlueZ spells it (upper
    case, colons), whatever spelling the caller gave;
  * `state` is the on/off fact of that kind, from the advert's own binary sensor
    (bthome.io object ids): smoke 0x29, gas 0x1C, carbon monoxide 0x17, moisture 0x20
    (a leak), opening 0x11 / door 0x1A / garage door 0x1B / window 0x2D, motion 0x21 /
    occupancy 0x23 / presence 0x25: ALARM when it is on, CLEAR when it is off; a button
    press (`PRESS_EVENTS`) is ALARM. An advert that carries none of them (battery only,
    a temperature, tamper, a button's "no press") says nothing: state None. An advert
    whose kind has no such sensor but that carries a generic boolean (0x0F) gives that
    state, so a generic contact paired as a detector works;
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

bthome-ble logs an ERROR or WARNING line for many broken adverts (a wrong version byte, a
string that is not UTF-8), once per advert: a neighbour's broken device would write one
every few seconds to the SD card. While this module decodes, those lines are held back
and handed to the caller (`AdvertError.library_log`, or `BTHomeDecoder.complaints`),
which logs one summary per device per hour (hub.sensors.ble).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.errors import DecodeError
from hub.reading import Reading, State
from hub.sensors.deferred_crypto import import_ble_libraries
from hub.sensors.keys import ble_address

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
# The same binary sensors give the reading's state (on: ALARM, off: CLEAR).
_KIND_BY_BINARY = (
    ("smoke", "smoke"),
    ("gas", "gas"),
    ("carbon_monoxide", "co"),
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
_BINARY_KIND = dict(_KIND_BY_BINARY)

# bthome-ble treats the same packet id within 4 s as a repeat (parser.py,
# _skip_old_or_duplicated_advertisement); BTHomeDecoder does the same for identical bytes.
REPEAT_WINDOW_S = 4.0
# Adverts come from any BTHome device in radio range, paired or not: bound the memory.
# (Evicting a device only means one repeat of its next advert may get through.)
MAX_TRACKED_DEVICES = 256

_POSTFIX = re.compile(r"^(?P<base>.+?)(?P<postfix>_\d+)?$")
# bthome.io/format: the first octet of the service data is the device information; its
# bits 5-7 are the version (2), bit 0 says encrypted, bit 1 says the MAC follows (6 octets).
_VERSION_2 = 2
_ENCRYPTED, _MAC_INCLUDED = 0x01, 0x02
# An encrypted advert carries at least one payload octet, a 4-octet counter and a 4-octet
# MIC after the device information (bthome.io/encryption): anything shorter is not one.
_MIN_ENCRYPTED_TAIL = 1 + 4 + 4
_LIBRARY_LOGGER = "bthome_ble.parser"  # the library's only logger


class _Held(logging.Filter):
    """Holds back bthome-ble's log records while this module decodes (see the docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.records is None:  # not ours: someone else's use of the library
            return True
        if record.levelno >= logging.WARNING:
            self.records.append(record)
        return False


_HELD = _Held()


def is_button_press(reading: Reading) -> bool:
    """Whether `reading` is a BTHome button press (any button, any press type)."""
    if reading.kind != "button":
        return False
    return any(
        _split(key)[0] == "button" and value in PRESS_EVENTS
        for key, value in reading.values.items()
    )


class AdvertError(DecodeError):
    """An advert that does not decode; `library_log` is what bthome-ble said about it."""

    def __init__(self, message: str, library_log: list[str] | None = None) -> None:
        super().__init__(message)
        self.library_log = library_log or []


def decode_advert(
    service_data: bytes,
    *,
    address: str,
    rssi: int | None = None,
    ts: datetime | None = None,
    bindkey: bytes | None = None,
) -> Reading:
    """The BTHome v2 service data of `address` as one Reading, or DecodeError (stateless)."""
    reading, _complaints = _decode(
        _new_parser(bindkey),
        service_data,
        address=_address(address),
        rssi=rssi,
        ts=ts,
        bindkey=bindkey,
    )
    return reading


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
        self._bindkeys = {_address(addr): key for addr, key in (bindkeys or {}).items()}
        self._last: dict[str, tuple[bytes, float]] = {}
        # What bthome-ble complained about while decoding the last advert that did decode.
        self.complaints: list[str] = []

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
        self.complaints = []
        key = _address(address)
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
        reading, self.complaints = _decode(
            _new_parser(bindkey),
            service_data,
            address=key,
            rssi=rssi,
            ts=ts,
            bindkey=bindkey,
        )
        return reading


def _address(address: str) -> str:
    """The address as BlueZ spells it (upper case, colons); other text as given."""
    return ble_address(address) or address


def _new_parser(bindkey: bytes | None) -> BTHomeBluetoothDeviceData:
    import_ble_libraries()  # without cryptography until a bindkey needs it
    from bthome_ble.parser import BTHomeBluetoothDeviceData

    library = logging.getLogger(_LIBRARY_LOGGER)
    if _HELD not in library.filters:  # once, when the library is first loaded
        library.addFilter(_HELD)

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
) -> tuple[Reading, list[str]]:
    """The Reading and what bthome-ble complained about, or AdvertError."""
    from bthome_ble.parser import EncryptionScheme
    from habluetooth import BluetoothServiceInfoBleak

    _check_header(service_data, address, bindkey)
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
    failure: Exception | None = None
    held: list[logging.LogRecord] = []
    # The hub decodes on its event loop. Were two threads to decode at once, a record
    # could be handed to the other's caller: log text only, never a reading.
    outer, _HELD.records = _HELD.records, held
    try:
        update = parser.update(info)
    # The library indexes into the payload without bounds checks (an empty service
    # data raises IndexError): translate whatever it raises at this boundary.
    except Exception as exc:
        failure = exc
    finally:
        _HELD.records = outer
    said = [record.getMessage() for record in held]
    if failure is not None:
        raise AdvertError(
            f"BTHome: undecodable advert {service_data.hex()}: {failure!r}", said
        ) from failure
    if parser.downgrade_detected:
        # bthome-ble refuses plaintext from a device we hold a key for: a spoofed
        # pendant must not be able to skip the encryption (bthome.io/encryption).
        raise AdvertError(f"BTHome: plaintext advert from {address}, which has a bindkey", said)
    if parser.encryption_scheme is EncryptionScheme.BTHOME_BINDKEY and parser.decryption_failed:
        raise AdvertError(
            f"BTHome: cannot decrypt advert from {address} (wrong bindkey, or cut short)", said
        )
    if not update.devices:
        raise AdvertError(f"BTHome: undecodable advert {service_data.hex()}", said)
    try:
        return _to_reading(update, address, rssi, ts, service_data), said
    except AdvertError as exc:
        exc.library_log = said
        raise


def _check_header(service_data: bytes, address: str, bindkey: bytes | None) -> None:
    """Refuse what is not a BTHome v2 advert, and an encrypted one without a key, before
    the library sees it. An advert is called encrypted only when it is a v2 advert with the
    encryption bit set and long enough to carry a counter and a MIC: a garbage octet with
    bit 0 set is not "encrypted", it is undecodable."""
    if not service_data:
        raise AdvertError("BTHome: empty service data")
    info = service_data[0]
    version = info >> 5
    if version != _VERSION_2:
        raise AdvertError(
            f"BTHome: not a BTHome v2 advert (version bits say {version}): {service_data.hex()}"
        )
    if not info & _ENCRYPTED:
        return
    header = 1 + (6 if info & _MAC_INCLUDED else 0)
    if len(service_data) < header + _MIN_ENCRYPTED_TAIL:
        raise AdvertError(
            f"BTHome: undecodable advert {service_data.hex()} (encryption bit set, but too "
            "short to be encrypted)"
        )
    if bindkey is None:
        raise AdvertError(f"BTHome: encrypted advert from {address}, no bindkey configured")


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
        raise AdvertError(f"BTHome: no measurement in advert {service_data.hex()}")
    return Reading(
        device=address,
        protocol=PROTOCOL,
        kind=kind,
        values=values,
        battery=battery,
        rssi=rssi,
        ts=ts,
        state=_state(kind, update),
    )


def _state(kind: str, update: SensorUpdate) -> State | None:
    """The on/off fact of `kind` as the advert's own sensors say it (None: not said)."""
    if kind == "button":
        pressed = any(
            _split(dkey.key)[0] == "button" and event.event_type in PRESS_EVENTS
            for dkey, event in update.events.items()
        )
        return State.ALARM if pressed else None
    binaries = [
        (_split(dkey.key)[0], bool(binary.native_value))
        for dkey, binary in update.binary_entity_values.items()
    ]
    # Tamper is not the on/off fact: a lid opened must not read as a detector's alarm.
    said = [on for base, on in binaries if _BINARY_KIND.get(base) == kind != "tamper"]
    if not said:  # a generic on/off (a contact with no declared use) says it for any kind
        said = [on for base, on in binaries if base == "generic"]
    if not said:
        return None
    return State.ALARM if any(said) else State.CLEAR


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

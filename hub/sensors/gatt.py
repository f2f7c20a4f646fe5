"""Pure decoders for the standard GATT health characteristics a wearable sends.

Written from the Bluetooth SIG *GATT Specification Supplement* (GSS, v2024 numbering
cited as "GSS §x"): bytes in, a frozen dataclass out, and `decode_characteristic` turns
that into the hub's `Reading`. No radio, no IO: bleak hands the notification bytes to
the BLE source, which calls these.

Readings: kind "heart_rate" (bpm, sensor_contact, energy_kj, rr_ms), "spo2" (spo2_pct,
pulse_bpm, mode "spot_check" | "continuous", ...), "blood_pressure" (systolic_mmhg,
diastolic_mmhg, map_mmhg, converted from kPa when the cuff sends kPa, pulse_bpm, ...),
"battery" (battery_pct, also in `Reading.battery`). The main values are always present
(None when the device sent NaN/NRes); optional fields appear only when the device sent
them. Device timestamps become "measured_at", an ISO string in the device's local time.

Every malformed input raises `DecodeError` and nothing else: short or over-long
payloads, reserved values, out-of-range dates and battery levels.

IEEE 11073-20601 SFLOAT special values (GSS §2.3, "medfloat16"):
  * NaN (0x07FF) and NRes (0x0800, "not at this resolution") mean *the device has no
    value*: the field decodes to `None`. Blood-pressure cuffs commonly send NaN for the
    mean arterial pressure they do not compute, so this must not reject the reading.
  * +INF (0x07FE), -INF (0x0802) and the reserved 0x0801 raise `DecodeError`: an
    off-scale vital sign is not a number the care checks can use, and the reserved
    value means the bytes are not what we think they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import DecodeError
from hub.reading import Reading

PROTOCOL = "ble_gatt"

# 16-bit UUIDs assigned by the SIG (Assigned Numbers §3.8, characteristics).
HEART_RATE_MEASUREMENT = 0x2A37
PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
BATTERY_LEVEL = 0x2A19

# The Bluetooth Base UUID (Core Vol 3 Part B §2.5.1): 16-bit UUIDs expand into it.
_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_HEX_DIGITS = frozenset("0123456789abcdef")

# 1 kPa = 760 / 101.325 mmHg (standard atmosphere): the hub keeps blood pressure in mmHg.
_MMHG_PER_KPA = 760.0 / 101.325

# SFLOAT reserved raw values (IEEE 11073-20601 §F.8, GSS §2.3).
_SFLOAT_NAN = 0x07FF
_SFLOAT_NRES = 0x0800
_SFLOAT_POS_INF = 0x07FE
_SFLOAT_NEG_INF = 0x0802
_SFLOAT_RESERVED = 0x0801


@dataclass(frozen=True)
class HeartRateMeasurement:
    """Heart Rate Measurement 0x2A37 (GSS §3.113)."""

    bpm: int
    sensor_contact: bool | None  # None: the sensor does not support contact detection
    energy_kj: int | None
    rr_intervals_s: tuple[float, ...]


@dataclass(frozen=True)
class PlxSpotCheck:
    """PLX Spot-check Measurement 0x2A5E (GSS §3.172)."""

    spo2_pct: float | None
    pulse_bpm: float | None
    timestamp: datetime | None
    device_clock_set: bool
    measurement_status: int | None
    device_sensor_status: int | None
    pulse_amplitude_index: float | None


@dataclass(frozen=True)
class PlxContinuous:
    """PLX Continuous Measurement 0x2A5F (GSS §3.171)."""

    spo2_pct: float | None
    pulse_bpm: float | None
    spo2_fast_pct: float | None
    pulse_fast_bpm: float | None
    spo2_slow_pct: float | None
    pulse_slow_bpm: float | None
    measurement_status: int | None
    device_sensor_status: int | None
    pulse_amplitude_index: float | None


@dataclass(frozen=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35 (GSS §3.31), values in the unit the cuff sent."""

    unit: str  # "mmHg" or "kPa"
    systolic: float | None
    diastolic: float | None
    mean_arterial: float | None
    timestamp: datetime | None
    pulse_bpm: float | None
    user_id: int | None  # 0xFF is "unknown user" (GSS §3.31.2.4), kept as sent
    measurement_status: int | None


class _Cursor:
    """Reads little-endian fields off a payload; any overrun is a DecodeError."""

    __slots__ = ("data", "name", "pos")

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.pos = 0

    def take(self, size: int, field_name: str) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise DecodeError(
                f"{self.name}: truncated at {field_name} (need {end} octets, have {len(self.data)})"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def uint(self, size: int, field_name: str) -> int:
        return int.from_bytes(self.take(size, field_name), "little")

    def sfloat(self, field_name: str) -> float | None:
        return decode_sfloat(self.uint(2, field_name), field_name)

    def date_time(self, field_name: str) -> datetime | None:
        return _date_time(self.take(7, field_name), self.name)

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def finish(self) -> None:
        # The flags fix the length of every characteristic decoded here; octets beyond
        # it mean we misread the flags (or the device is not what it claims), so reject
        # rather than report a vital sign from bytes we do not understand.
        if self.pos != len(self.data):
            raise DecodeError(
                f"{self.name}: {len(self.data) - self.pos} unexpected trailing octet(s)"
            )


def decode_sfloat(raw: int, field_name: str = "value") -> float | None:
    """The IEEE 11073 16-bit SFLOAT `raw` as a float; None for NaN/NRes, DecodeError for INF."""
    if raw < 0 or raw > 0xFFFF:
        raise DecodeError(f"{field_name}: SFLOAT out of 16 bits: {raw}")
    if raw in (_SFLOAT_NAN, _SFLOAT_NRES):
        return None
    if raw in (_SFLOAT_POS_INF, _SFLOAT_NEG_INF, _SFLOAT_RESERVED):
        raise DecodeError(f"{field_name}: SFLOAT special value 0x{raw:04X} is not a measurement")
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    scale: int = 10 ** abs(exponent)
    if exponent >= 0:
        return float(mantissa * scale)
    # Divide rather than multiply by 10**-n: 1205 / 10 is exactly 120.5, 1205 * 0.1 is not.
    return mantissa / scale


def _date_time(raw: bytes, name: str) -> datetime | None:
    """Date Time 0x2A08 (GSS §3.70): year 0, month 0 or day 0 mean "not known"."""
    year = int.from_bytes(raw[0:2], "little")
    month, day, hours, minutes, seconds = raw[2], raw[3], raw[4], raw[5], raw[6]
    if year == 0 or month == 0 or day == 0:
        return None
    # GSS §3.70: year 1582..9999; the device's local time, no zone, so the result is naive.
    if year < 1582:
        raise DecodeError(f"{name}: timestamp year {year} out of range")
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError as exc:
        raise DecodeError(f"{name}: invalid timestamp: {exc}") from exc


def decode_heart_rate(data: bytes) -> HeartRateMeasurement:
    """Heart Rate Measurement 0x2A37 bytes -> HeartRateMeasurement, or DecodeError."""
    cur = _Cursor(data, "heart rate measurement")
    flags = cur.uint(1, "flags")
    # GSS §3.113.1 flags: bit0 HR is uint16, bit1 contact detected, bit2 contact
    # supported, bit3 energy expended present, bit4 RR-intervals present.
    bpm = cur.uint(2, "heart rate") if flags & 0x01 else cur.uint(1, "heart rate")
    sensor_contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = cur.uint(2, "energy expended") if flags & 0x08 else None
    rr: list[float] = []
    if flags & 0x10:
        # RR-intervals fill the rest of the notification, each uint16 in 1/1024 s.
        if cur.remaining() == 0 or cur.remaining() % 2:
            raise DecodeError(
                f"heart rate measurement: RR-interval field of {cur.remaining()} octets"
            )
        while cur.remaining():
            rr.append(cur.uint(2, "RR-interval") / 1024)
    cur.finish()
    return HeartRateMeasurement(
        bpm=bpm, sensor_contact=sensor_contact, energy_kj=energy, rr_intervals_s=tuple(rr)
    )


def decode_plx_spot_check(data: bytes) -> PlxSpotCheck:
    """PLX Spot-check Measurement 0x2A5E bytes -> PlxSpotCheck, or DecodeError."""
    cur = _Cursor(data, "PLX spot-check measurement")
    flags = cur.uint(1, "flags")
    # GSS §3.172.1 flags: bit0 timestamp, bit1 measurement status, bit2 device and
    # sensor status, bit3 pulse amplitude index present; bit4 device clock is not set.
    spo2 = cur.sfloat("SpO2")
    pulse = cur.sfloat("pulse rate")
    timestamp = cur.date_time("timestamp") if flags & 0x01 else None
    status = cur.uint(2, "measurement status") if flags & 0x02 else None
    device_status = cur.uint(3, "device and sensor status") if flags & 0x04 else None
    pai = cur.sfloat("pulse amplitude index") if flags & 0x08 else None
    cur.finish()
    return PlxSpotCheck(
        spo2_pct=spo2,
        pulse_bpm=pulse,
        timestamp=timestamp,
        device_clock_set=not flags & 0x10,
        measurement_status=status,
        device_sensor_status=device_status,
        pulse_amplitude_index=pai,
    )


def decode_plx_continuous(data: bytes) -> PlxContinuous:
    """PLX Continuous Measurement 0x2A5F bytes -> PlxContinuous, or DecodeError."""
    cur = _Cursor(data, "PLX continuous measurement")
    flags = cur.uint(1, "flags")
    # GSS §3.171.1 flags: bit0 SpO2PR-Fast, bit1 SpO2PR-Slow, bit2 measurement status,
    # bit3 device and sensor status, bit4 pulse amplitude index present.
    spo2 = cur.sfloat("SpO2PR-Normal SpO2")
    pulse = cur.sfloat("SpO2PR-Normal PR")
    spo2_fast = pulse_fast = spo2_slow = pulse_slow = None
    if flags & 0x01:
        spo2_fast = cur.sfloat("SpO2PR-Fast SpO2")
        pulse_fast = cur.sfloat("SpO2PR-Fast PR")
    if flags & 0x02:
        spo2_slow = cur.sfloat("SpO2PR-Slow SpO2")
        pulse_slow = cur.sfloat("SpO2PR-Slow PR")
    status = cur.uint(2, "measurement status") if flags & 0x04 else None
    device_status = cur.uint(3, "device and sensor status") if flags & 0x08 else None
    pai = cur.sfloat("pulse amplitude index") if flags & 0x10 else None
    cur.finish()
    return PlxContinuous(
        spo2_pct=spo2,
        pulse_bpm=pulse,
        spo2_fast_pct=spo2_fast,
        pulse_fast_bpm=pulse_fast,
        spo2_slow_pct=spo2_slow,
        pulse_slow_bpm=pulse_slow,
        measurement_status=status,
        device_sensor_status=device_status,
        pulse_amplitude_index=pai,
    )


def decode_blood_pressure(data: bytes) -> BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35 bytes -> BloodPressureMeasurement, or DecodeError."""
    cur = _Cursor(data, "blood pressure measurement")
    flags = cur.uint(1, "flags")
    # GSS §3.31.1 flags: bit0 unit (0 mmHg, 1 kPa), bit1 timestamp, bit2 pulse rate,
    # bit3 user id, bit4 measurement status present.
    systolic = cur.sfloat("systolic")
    diastolic = cur.sfloat("diastolic")
    mean_arterial = cur.sfloat("mean arterial pressure")
    timestamp = cur.date_time("timestamp") if flags & 0x02 else None
    pulse = cur.sfloat("pulse rate") if flags & 0x04 else None
    user_id = cur.uint(1, "user id") if flags & 0x08 else None
    status = cur.uint(2, "measurement status") if flags & 0x10 else None
    cur.finish()
    return BloodPressureMeasurement(
        unit="kPa" if flags & 0x01 else "mmHg",
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=mean_arterial,
        timestamp=timestamp,
        pulse_bpm=pulse,
        user_id=user_id,
        measurement_status=status,
    )


def decode_battery_level(data: bytes) -> int:
    """Battery Level 0x2A19 bytes -> percent 0..100, or DecodeError."""
    cur = _Cursor(data, "battery level")
    level = cur.uint(1, "level")
    cur.finish()
    # GSS §3.27: uint8 percentage, 101..255 are prohibited.
    if level > 100:
        raise DecodeError(f"battery level: {level} % is out of range 0..100")
    return level


def characteristic_uuid16(uuid: str | int) -> int:
    """The 16-bit SIG UUID of `uuid` (int, "2a37", "0x2A37" or the 128-bit form)."""
    if isinstance(uuid, int):
        return uuid
    text = uuid.strip().lower()
    if len(text) == 36 and text.startswith("0000") and text.endswith(_BASE_UUID_SUFFIX):
        text = text[4:8]
    text = text.removeprefix("0x")
    if not 0 < len(text) <= 4 or not set(text) <= _HEX_DIGITS:
        raise DecodeError(f"not a 16-bit SIG characteristic UUID: {uuid!r}")
    return int(text, 16)


def _mmhg(value: float | None, unit: str) -> float | None:
    if value is None or unit == "mmHg":
        return value
    return round(value * _MMHG_PER_KPA, 1)


def _put(values: dict[str, Any], key: str, value: object) -> None:
    # Optional fields the device did not send stay out of the Reading entirely.
    if value is not None:
        values[key] = value


def decode_characteristic(
    uuid: str | int, data: bytes, device: str, ts: datetime | None
) -> Reading:
    """The notification `data` of characteristic `uuid` from `device` as a Reading."""
    uuid16 = characteristic_uuid16(uuid)
    values: dict[str, Any] = {}
    if uuid16 == HEART_RATE_MEASUREMENT:
        hr = decode_heart_rate(data)
        values["bpm"] = hr.bpm
        _put(values, "sensor_contact", hr.sensor_contact)
        _put(values, "energy_kj", hr.energy_kj)
        if hr.rr_intervals_s:
            # 1/1024 s * 1000 is exact in binary floating point: no rounding here.
            values["rr_ms"] = [rr * 1000 for rr in hr.rr_intervals_s]
        return Reading(device=device, protocol=PROTOCOL, kind="heart_rate", values=values, ts=ts)
    if uuid16 == PLX_SPOT_CHECK_MEASUREMENT:
        spot = decode_plx_spot_check(data)
        values["spo2_pct"] = spot.spo2_pct
        values["pulse_bpm"] = spot.pulse_bpm
        values["mode"] = "spot_check"
        # GSS §3.172.1 bit4: a timestamp from a clock that was never set is meaningless.
        if spot.timestamp is not None and spot.device_clock_set:
            values["measured_at"] = spot.timestamp.isoformat()
        _put(values, "measurement_status", spot.measurement_status)
        _put(values, "device_status", spot.device_sensor_status)
        _put(values, "pulse_amplitude_index", spot.pulse_amplitude_index)
        return Reading(device=device, protocol=PROTOCOL, kind="spo2", values=values, ts=ts)
    if uuid16 == PLX_CONTINUOUS_MEASUREMENT:
        cont = decode_plx_continuous(data)
        values["spo2_pct"] = cont.spo2_pct
        values["pulse_bpm"] = cont.pulse_bpm
        values["mode"] = "continuous"
        _put(values, "spo2_fast_pct", cont.spo2_fast_pct)
        _put(values, "pulse_fast_bpm", cont.pulse_fast_bpm)
        _put(values, "spo2_slow_pct", cont.spo2_slow_pct)
        _put(values, "pulse_slow_bpm", cont.pulse_slow_bpm)
        _put(values, "measurement_status", cont.measurement_status)
        _put(values, "device_status", cont.device_sensor_status)
        _put(values, "pulse_amplitude_index", cont.pulse_amplitude_index)
        return Reading(device=device, protocol=PROTOCOL, kind="spo2", values=values, ts=ts)
    if uuid16 == BLOOD_PRESSURE_MEASUREMENT:
        bp = decode_blood_pressure(data)
        values["systolic_mmhg"] = _mmhg(bp.systolic, bp.unit)
        values["diastolic_mmhg"] = _mmhg(bp.diastolic, bp.unit)
        values["map_mmhg"] = _mmhg(bp.mean_arterial, bp.unit)
        if bp.timestamp is not None:
            values["measured_at"] = bp.timestamp.isoformat()
        _put(values, "pulse_bpm", bp.pulse_bpm)
        _put(values, "user_id", bp.user_id)
        _put(values, "measurement_status", bp.measurement_status)
        return Reading(
            device=device, protocol=PROTOCOL, kind="blood_pressure", values=values, ts=ts
        )
    if uuid16 == BATTERY_LEVEL:
        level = decode_battery_level(data)
        return Reading(
            device=device,
            protocol=PROTOCOL,
            kind="battery",
            values={"battery_pct": level},
            battery=level,
            ts=ts,
        )
    raise DecodeError(f"characteristic 0x{uuid16:04X} has no decoder")

"""GATT health characteristics: byte vectors in, whole Readings out.

The vectors are built octet by octet from the GATT Specification Supplement layouts
(no capture of a real strap, oximeter or cuff was at hand); each comment spells the
fields so a reviewer can check them against the spec without a decoder.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.reading import Reading
from hub.sensors.gatt import (
    BATTERY_LEVEL,
    BLOOD_PRESSURE_MEASUREMENT,
    HEART_RATE_MEASUREMENT,
    PLX_CONTINUOUS_MEASUREMENT,
    PLX_SPOT_CHECK_MEASUREMENT,
    BloodPressureMeasurement,
    HeartRateMeasurement,
    PlxSpotCheck,
    characteristic_uuid16,
    decode_blood_pressure,
    decode_characteristic,
    decode_heart_rate,
    decode_plx_spot_check,
    decode_sfloat,
)
from tests.fuzzing import examples

TS = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
STRAP = "C7:11:22:33:44:55"
OXIMETER = "D0:11:22:33:44:66"
CUFF = "E4:11:22:33:44:77"

# flags 0x16 = contact supported + detected, RR present; 72 bpm; RR 853 and 832 /1024 s
HR_STRAP_72BPM = bytes.fromhex("16 48 5503 4003")
# flags 0x0D = uint16 HR, contact supported but not detected, energy; 62 bpm; 291 kJ
HR_STRAP_LOOSE_UINT16_ENERGY = bytes.fromhex("0d 3e00 2301")
# flags 0x00 = uint8 HR, no contact detection; 60 bpm
HR_WATCH_60BPM = bytes.fromhex("00 3c")
# RR flag set but the interval is cut after one octet
HR_TRUNCATED_RR = bytes.fromhex("16 48 55")
# uint16 HR announced, only one octet follows
HR_TRUNCATED_UINT16 = bytes.fromhex("01 48")
# no RR flag, yet two octets trail the heart rate
HR_TRAILING_OCTETS = bytes.fromhex("00 48 5503")

# flags 0x01 = timestamp; SpO2 97 %, PR 72 bpm; 2026-11-23 07:45:10
SPO2_SPOT_97 = bytes.fromhex("01 6100 4800 ea07 0b 17 07 2d 0a")
# flags 0x06 = measurement status + device/sensor status; SpO2 98.5 (0xF3D9), PR 64;
# status 0x0080 validated data; device status 0x000020 low perfusion
SPO2_SPOT_985_STATUS = bytes.fromhex("06 d9f3 4000 8000 200000")
# flags 0x11 = timestamp present but the device clock is not set
SPO2_SPOT_CLOCK_NOT_SET = bytes.fromhex("11 6100 4800 d007 01 01 00 00 00")
# SpO2 NaN (0x07FF), PR NRes (0x0800): the finger was not in the clip
SPO2_SPOT_NO_VALUE = bytes.fromhex("00 ff07 0008")
# SpO2 +INF (0x07FE)
SPO2_SPOT_INFINITE = bytes.fromhex("00 fe07 4800")
# timestamp month 13
SPO2_SPOT_BAD_MONTH = bytes.fromhex("01 6100 4800 ea07 0d 17 07 2d 0a")
# continuous, flags 0x00: SpO2 96, PR 70
SPO2_CONT_96 = bytes.fromhex("00 6000 4600")
# continuous, flags 0x13 = fast + slow + PAI: normal 96/70, fast 95/71, slow 97/69, PAI 2.5
SPO2_CONT_FAST_SLOW_PAI = bytes.fromhex("13 6000 4600 5f00 4700 6100 4500 19f0")
# continuous, fast announced but missing
SPO2_CONT_TRUNCATED = bytes.fromhex("01 6000 4600 5f00")

# flags 0x06 = timestamp + pulse, mmHg; 128/84, MAP NaN; 2026-11-23 07:30:00; pulse 68
BP_CUFF_128_84 = bytes.fromhex("06 8000 5400 ff07 ea07 0b 17 07 1e 00 4400")
# flags 0x01 = kPa; 16.0 / 10.7 / 12.5 kPa
BP_CUFF_KPA = bytes.fromhex("01 a0f0 6bf0 7df0")
# flags 0x1C = pulse + user id + status, mmHg; 120/80/93; pulse 72; user 1; irregular pulse
BP_CUFF_IRREGULAR_PULSE = bytes.fromhex("1c 7800 5000 5d00 4800 01 0400")
# systolic reserved SFLOAT 0x0801
BP_CUFF_RESERVED_SFLOAT = bytes.fromhex("00 0108 5000 5d00")
# timestamp announced, only 3 of its 7 octets
BP_CUFF_TRUNCATED_TIMESTAMP = bytes.fromhex("02 7800 5000 5d00 ea07 0b")

BATTERY_87 = bytes.fromhex("57")
BATTERY_OUT_OF_RANGE = bytes.fromhex("65")


def test_a_wrist_strap_reporting_72_bpm_with_rr_intervals_is_decoded_whole() -> None:
    assert decode_characteristic(HEART_RATE_MEASUREMENT, HR_STRAP_72BPM, STRAP, TS) == Reading(
        device=STRAP,
        protocol="ble_gatt",
        kind="heart_rate",
        values={"bpm": 72, "sensor_contact": True, "rr_ms": [833.0078125, 812.5]},
        ts=TS,
    )


def test_the_heart_rate_dataclass_keeps_rr_intervals_in_seconds() -> None:
    assert decode_heart_rate(HR_STRAP_72BPM) == HeartRateMeasurement(
        bpm=72, sensor_contact=True, energy_kj=None, rr_intervals_s=(853 / 1024, 832 / 1024)
    )


def test_a_loose_strap_with_16_bit_rate_and_energy_says_no_contact() -> None:
    assert decode_characteristic("2a37", HR_STRAP_LOOSE_UINT16_ENERGY, STRAP, TS) == Reading(
        device=STRAP,
        protocol="ble_gatt",
        kind="heart_rate",
        values={"bpm": 62, "sensor_contact": False, "energy_kj": 291},
        ts=TS,
    )


def test_a_watch_without_contact_detection_reports_only_the_rate() -> None:
    uuid = "00002a37-0000-1000-8000-00805f9b34fb"
    assert decode_characteristic(uuid, HR_WATCH_60BPM, STRAP, None) == Reading(
        device=STRAP, protocol="ble_gatt", kind="heart_rate", values={"bpm": 60}
    )


@pytest.mark.parametrize(
    "data",
    [b"", HR_TRUNCATED_RR, HR_TRUNCATED_UINT16, HR_TRAILING_OCTETS, bytes.fromhex("10 48")],
    ids=["empty", "truncated_rr", "truncated_uint16", "trailing_octets", "rr_flag_no_rr"],
)
def test_a_garbled_heart_rate_notification_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic(HEART_RATE_MEASUREMENT, data, STRAP, TS)


def test_an_oximeter_spot_check_of_97_percent_is_decoded_whole() -> None:
    assert decode_characteristic(PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_97, OXIMETER, TS) == Reading(
        device=OXIMETER,
        protocol="ble_gatt",
        kind="spo2",
        values={
            "spo2_pct": 97.0,
            "pulse_bpm": 72.0,
            "mode": "spot_check",
            "measured_at": "2026-11-23T07:45:10",
        },
        ts=TS,
    )


def test_a_spot_check_with_status_fields_keeps_them_and_the_decimal() -> None:
    assert decode_characteristic(
        PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_985_STATUS, OXIMETER, TS
    ) == Reading(
        device=OXIMETER,
        protocol="ble_gatt",
        kind="spo2",
        values={
            "spo2_pct": 98.5,
            "pulse_bpm": 64.0,
            "mode": "spot_check",
            "measurement_status": 0x0080,
            "device_status": 0x000020,
        },
        ts=TS,
    )


def test_a_timestamp_from_an_oximeter_whose_clock_was_never_set_is_dropped() -> None:
    assert decode_plx_spot_check(SPO2_SPOT_CLOCK_NOT_SET) == PlxSpotCheck(
        spo2_pct=97.0,
        pulse_bpm=72.0,
        timestamp=datetime(2000, 1, 1),  # device local time: naive
        device_clock_set=False,
        measurement_status=None,
        device_sensor_status=None,
        pulse_amplitude_index=None,
    )
    reading = decode_characteristic(
        PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_CLOCK_NOT_SET, OXIMETER, TS
    )
    assert reading == Reading(
        device=OXIMETER,
        protocol="ble_gatt",
        kind="spo2",
        values={"spo2_pct": 97.0, "pulse_bpm": 72.0, "mode": "spot_check"},
        ts=TS,
    )


def test_an_oximeter_with_no_finger_in_the_clip_reports_no_values() -> None:
    assert decode_characteristic(
        PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_NO_VALUE, OXIMETER, TS
    ) == Reading(
        device=OXIMETER,
        protocol="ble_gatt",
        kind="spo2",
        values={"spo2_pct": None, "pulse_bpm": None, "mode": "spot_check"},
        ts=TS,
    )


def test_a_continuous_oximeter_reading_is_decoded_whole() -> None:
    assert decode_characteristic(PLX_CONTINUOUS_MEASUREMENT, SPO2_CONT_96, OXIMETER, TS) == Reading(
        device=OXIMETER,
        protocol="ble_gatt",
        kind="spo2",
        values={"spo2_pct": 96.0, "pulse_bpm": 70.0, "mode": "continuous"},
        ts=TS,
    )


def test_a_continuous_reading_with_fast_slow_and_amplitude_keeps_them_all() -> None:
    assert decode_characteristic(
        PLX_CONTINUOUS_MEASUREMENT, SPO2_CONT_FAST_SLOW_PAI, OXIMETER, TS
    ) == Reading(
        device=OXIMETER,
        protocol="ble_gatt",
        kind="spo2",
        values={
            "spo2_pct": 96.0,
            "pulse_bpm": 70.0,
            "mode": "continuous",
            "spo2_fast_pct": 95.0,
            "pulse_fast_bpm": 71.0,
            "spo2_slow_pct": 97.0,
            "pulse_slow_bpm": 69.0,
            "pulse_amplitude_index": 2.5,
        },
        ts=TS,
    )


@pytest.mark.parametrize(
    ("uuid", "data"),
    [
        (PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_INFINITE),
        (PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_BAD_MONTH),
        (PLX_SPOT_CHECK_MEASUREMENT, SPO2_SPOT_97[:-1]),
        (PLX_SPOT_CHECK_MEASUREMENT, b"\x00\x61"),
        (PLX_CONTINUOUS_MEASUREMENT, SPO2_CONT_TRUNCATED),
        (PLX_CONTINUOUS_MEASUREMENT, SPO2_CONT_96 + b"\x00"),
        (PLX_CONTINUOUS_MEASUREMENT, b""),
    ],
    ids=[
        "infinite_spo2",
        "month_13",
        "timestamp_cut",
        "pulse_missing",
        "fast_missing",
        "trailing_octet",
        "empty",
    ],
)
def test_a_garbled_oximeter_notification_is_a_decode_error(uuid: int, data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic(uuid, data, OXIMETER, TS)


def test_a_cuff_reading_of_128_over_84_with_pulse_is_decoded_whole() -> None:
    assert decode_characteristic(BLOOD_PRESSURE_MEASUREMENT, BP_CUFF_128_84, CUFF, TS) == Reading(
        device=CUFF,
        protocol="ble_gatt",
        kind="blood_pressure",
        values={
            "systolic_mmhg": 128.0,
            "diastolic_mmhg": 84.0,
            "map_mmhg": None,
            "measured_at": "2026-11-23T07:30:00",
            "pulse_bpm": 68.0,
        },
        ts=TS,
    )


def test_a_cuff_set_to_kpa_is_reported_in_mmhg() -> None:
    assert decode_blood_pressure(BP_CUFF_KPA) == BloodPressureMeasurement(
        unit="kPa",
        systolic=16.0,
        diastolic=10.7,
        mean_arterial=12.5,
        timestamp=None,
        pulse_bpm=None,
        user_id=None,
        measurement_status=None,
    )
    assert decode_characteristic(BLOOD_PRESSURE_MEASUREMENT, BP_CUFF_KPA, CUFF, TS) == Reading(
        device=CUFF,
        protocol="ble_gatt",
        kind="blood_pressure",
        values={"systolic_mmhg": 120.0, "diastolic_mmhg": 80.3, "map_mmhg": 93.8},
        ts=TS,
    )


def test_a_cuff_that_noticed_an_irregular_pulse_passes_its_status_on() -> None:
    assert decode_characteristic(
        BLOOD_PRESSURE_MEASUREMENT, BP_CUFF_IRREGULAR_PULSE, CUFF, TS
    ) == Reading(
        device=CUFF,
        protocol="ble_gatt",
        kind="blood_pressure",
        values={
            "systolic_mmhg": 120.0,
            "diastolic_mmhg": 80.0,
            "map_mmhg": 93.0,
            "pulse_bpm": 72.0,
            "user_id": 1,
            "measurement_status": 0x0004,
        },
        ts=TS,
    )


@pytest.mark.parametrize(
    "data",
    [b"", BP_CUFF_RESERVED_SFLOAT, BP_CUFF_TRUNCATED_TIMESTAMP, BP_CUFF_128_84[:-1]],
    ids=["empty", "reserved_sfloat", "truncated_timestamp", "pulse_cut"],
)
def test_a_garbled_cuff_notification_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic(BLOOD_PRESSURE_MEASUREMENT, data, CUFF, TS)


def test_a_wearable_at_87_percent_battery_is_decoded_whole() -> None:
    assert decode_characteristic(BATTERY_LEVEL, BATTERY_87, STRAP, TS) == Reading(
        device=STRAP,
        protocol="ble_gatt",
        kind="battery",
        values={"battery_pct": 87},
        battery=87,
        ts=TS,
    )


@pytest.mark.parametrize("data", [b"", BATTERY_OUT_OF_RANGE, b"\x57\x00"])
def test_an_impossible_battery_level_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic("0x2A19", data, STRAP, TS)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x0061, 97.0),
        (0xF3D9, 98.5),
        (0x0FFF, -1.0),
        (0x2001, 100.0),
        (0x07FF, None),
        (0x0800, None),
    ],
    ids=["integer", "one_decimal", "negative", "positive_exponent", "nan", "nres"],
)
def test_sfloat_values_follow_ieee_11073(raw: int, value: float | None) -> None:
    assert decode_sfloat(raw) == value


@pytest.mark.parametrize("raw", [0x07FE, 0x0802, 0x0801, -1, 0x10000])
def test_sfloat_infinities_and_reserved_values_are_decode_errors(raw: int) -> None:
    with pytest.raises(DecodeError):
        decode_sfloat(raw)


def test_characteristic_uuids_are_accepted_in_every_usual_spelling() -> None:
    assert {
        characteristic_uuid16(u)
        for u in (0x2A37, "2a37", "2A37", "0x2A37", "00002A37-0000-1000-8000-00805F9B34FB")
    } == {0x2A37}


@pytest.mark.parametrize("uuid", [0x2A6E, "hello", "", "0x", "12345", "-2a37"])
def test_an_unknown_characteristic_is_a_decode_error(uuid: int | str) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic(uuid, b"\x00\x48", STRAP, TS)


@pytest.mark.parametrize(
    "uuid",
    [
        HEART_RATE_MEASUREMENT,
        PLX_SPOT_CHECK_MEASUREMENT,
        PLX_CONTINUOUS_MEASUREMENT,
        BLOOD_PRESSURE_MEASUREMENT,
        BATTERY_LEVEL,
    ],
    ids=["heart_rate", "plx_spot_check", "plx_continuous", "blood_pressure", "battery"],
)
@settings(max_examples=examples(2000), deadline=None)
@given(data=st.binary(max_size=40))
def test_any_bytes_from_a_wearable_give_a_reading_or_a_decode_error(uuid: int, data: bytes) -> None:
    try:
        reading = decode_characteristic(uuid, data, STRAP, TS)
    except DecodeError:
        return
    assert reading.device == STRAP
    assert reading.protocol == "ble_gatt"

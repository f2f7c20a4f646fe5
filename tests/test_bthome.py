"""BTHome v2 adverts: recorded service data in, whole Readings out.

Unless marked otherwise, every vector is the service data (UUID 0xFCD2) of a test in
bthome-ble's own suite (github.com/Bluetooth-Devices/bthome-ble, tests/test_parser_v2.py,
commit d55bd3a) or of Home Assistant's BTHome tests, with the address and bindkey that
test used: the key is needed to decrypt, and the address is part of the nonce.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.reading import Reading, State
from hub.sensors.bthome import AdvertError, BTHomeDecoder, decode_advert, is_button_press
from tests.fuzzing import examples

TS = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
RSSI = -60

# Shelly BLU Button1 (SBBT-002C), sleepy: packet 33, battery 94 %, button "press"
# (test_bthome_shelly_button_no_press, first advert).
PENDANT = "A4:C1:38:8D:18:B2"
PENDANT_BUTTON_PRESS_ADV = b"\x44\x00\x21\x01\x5e\x3a\x01"
# The same button's next advert: packet 35, button event 0x00 = "no press".
PENDANT_IDLE_ADV = b"\x44\x00\x23\x01\x5e\x3a\x00"
# Shelly BLU Button1 with encryption on: packet 7, battery 100 %, "press"
# (test_encrypted_shelly_blu_button_event).
ENCRYPTED_PENDANT = "B4:35:22:F5:3D:A4"
ENCRYPTED_PENDANT_KEY = bytes.fromhex("90bffd73cb6b26ef58a7a8eba9232036")
ENCRYPTED_PENDANT_PRESS_ADV = b"\x45\x0a\xeb\x84\x46\x7f\x85\xba\x01\x00\x00\x31\x88\x78\x8c"
# Shelly BLU Button1, long press (test_bthome_event_button_long_press).
BUTTON_LONG_PRESS_ADV = b"\x40\x3a\x04"
# Shelly BLU RC Button 4: first button no event, second "press", third "triple_press"
# (test_bthome_event_triple_button_device).
FOUR_BUTTON_REMOTE_ADV = b"\x40\x3a\x00\x3a\x01\x3a\x03"
# Door contact (opening 0x11), sleepy device, open (Home Assistant test_sleepy_device).
DOOR = "A4:C1:38:8D:18:B2"
DOOR_OPEN_ADV = b"\x44\x11\x01"
# Opening closed (test_bthome_binary_sensor_opening).
DOOR_CLOSED_ADV = b"\x40\x11\x00"
# Shelly BLU Door/Window, window 0x2D open (test_bthome_binary_sensor_window).
WINDOW_OPEN_ADV = b"\x40\x2d\x01"
# Shelly BLU Motion (SBMO-003Z), encrypted: motion detected (test_bthome_motion).
MOTION_SENSOR = "54:48:E6:8F:80:A5"
MOTION_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MOTION_ADV = b"\x41\x87\xb9\x00\x11\x22\x33\x72\xb0\x23\x1f"
# ATC thermometer: packet 9, battery 93 %, 23.97 °C, 63.27 %
# (test_bthome_packet_id_temperature_humidity_battery).
THERMOMETER = "A4:C1:38:8D:18:B2"
BATTERY_TEMP_ADV = b"\x40\x00\x09\x01\x5d\x02\x5d\x09\x03\xb7\x18"
# b-parasite soil moisture 30.74 % (test_bthome_moisture).
SOIL_MOISTURE_ADV = b"\x40\x14\x02\x0c"
# Distance 12 mm (test_bthome_distance_millimeters): a measurement the hub has no name
# for keeps bthome-ble's key with its unit as suffix.
DISTANCE_ADV = b"\x40\x40\x0c\x00"
# Not recorded: neither suite has a smoke or leak advert, so these two are built from
# the object table of bthome.io/format (0x29 smoke, 0x20 moisture binary = leak, both
# uint8), with a packet id and battery in front as Shelly devices send them.
SMOKE_ADV = b"\x44\x00\x05\x01\x50\x29\x01"
WATER_LEAK_ADV = b"\x44\x00\x05\x01\x50\x20\x01"
# Object id 0xFE does not exist (test_bthome_wrong_object_id).
CORRUPT_ADV = b"\x40\xfe\xca\x09"
# Version bits 0: not BTHome v2 (test_incorrect_bthome_version).
NOT_V2_ADV = b"\x00"
# Temperature + humidity with the last octet cut off
# (test_bthome_invalid_object_payload_data_length).
TRUNCATED_ADV = b"\x40\x02\xca\x09\x03\xbf"
# Encrypted but shorter than counter + MIC (test_too_short_encryption_advertisement).
TOO_SHORT_ENCRYPTED_ADV = b"\x41\xba\x0d\xb0\x7a\xee\xf6\x00"
# Built from bthome.io/format (neither suite records them): the smoke detector's
# all-clear (0x29 = 0) and its daily battery-only report, a carbon monoxide alarm (0x17),
# a contact with no declared use (generic boolean 0x0F), and a lid opened (tamper 0x2B).
SMOKE_CLEAR_ADV = b"\x44\x00\x06\x01\x50\x29\x00"
SMOKE_BATTERY_ADV = b"\x44\x00\x07\x01\x4f"
CO_ADV = b"\x44\x00\x08\x01\x50\x17\x01"
GENERIC_ON_ADV = b"\x40\x0f\x01"
GENERIC_OFF_ADV = b"\x40\x0f\x00"
TAMPER_ADV = b"\x40\x2b\x01"
# Garbage a neighbour's broken gadget sends: a text object that is not UTF-8 (bthome-ble
# logs an ERROR for it), and one octet whose encryption bit happens to be set.
BAD_TEXT_ADV = b"\x40\x53\x02\xff\xfe"
ONE_OCTET_WITH_ENCRYPTION_BIT = b"\x41\x01"
# Temperature then battery: decodes, but bthome-ble warns the object ids are out of order.
OUT_OF_ORDER_ADV = b"\x40\x02\xca\x09\x01\x5d"


def test_a_pendant_press_comes_out_as_a_button_press_with_its_battery() -> None:
    reading = decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT, rssi=RSSI, ts=TS)
    assert reading == Reading(
        device=PENDANT,
        protocol="bthome",
        kind="button",
        values={"packet_id": 33, "battery_pct": 94, "button": "press"},
        battery=94,
        rssi=RSSI,
        ts=TS,
        state=State.ALARM,
    )
    assert is_button_press(reading)


def test_the_pendant_advert_after_a_press_is_not_another_press() -> None:
    reading = decode_advert(PENDANT_IDLE_ADV, address=PENDANT, rssi=RSSI, ts=TS)
    assert reading == Reading(
        device=PENDANT,
        protocol="bthome",
        kind="battery",
        values={"packet_id": 35, "battery_pct": 94},
        battery=94,
        rssi=RSSI,
        ts=TS,
    )
    assert not is_button_press(reading)


def test_an_encrypted_pendant_press_is_decoded_with_its_key() -> None:
    reading = decode_advert(
        ENCRYPTED_PENDANT_PRESS_ADV,
        address=ENCRYPTED_PENDANT,
        rssi=RSSI,
        ts=TS,
        bindkey=ENCRYPTED_PENDANT_KEY,
    )
    assert reading == Reading(
        device=ENCRYPTED_PENDANT,
        protocol="bthome",
        kind="button",
        values={"packet_id": 7, "battery_pct": 100, "button": "press"},
        battery=100,
        rssi=RSSI,
        ts=TS,
        state=State.ALARM,
    )
    assert is_button_press(reading)


def test_a_long_press_is_a_press_too() -> None:
    reading = decode_advert(BUTTON_LONG_PRESS_ADV, address=PENDANT, ts=TS)
    assert reading == Reading(
        device=PENDANT,
        protocol="bthome",
        kind="button",
        values={"button": "long_press"},
        ts=TS,
        state=State.ALARM,
    )
    assert is_button_press(reading)


def test_a_multi_button_remote_names_each_button_that_was_pressed() -> None:
    reading = decode_advert(FOUR_BUTTON_REMOTE_ADV, address=PENDANT, rssi=RSSI)
    assert reading == Reading(
        device=PENDANT,
        protocol="bthome",
        kind="button",
        values={"button_2": "press", "button_3": "triple_press"},
        rssi=RSSI,
        state=State.ALARM,
    )
    assert is_button_press(reading)


def test_a_door_opening_is_decoded_whole() -> None:
    assert decode_advert(DOOR_OPEN_ADV, address=DOOR, rssi=RSSI, ts=TS) == Reading(
        device=DOOR,
        protocol="bthome",
        kind="door",
        values={"open": True},
        rssi=RSSI,
        ts=TS,
        state=State.ALARM,
    )


def test_a_door_closing_is_decoded_whole() -> None:
    assert decode_advert(DOOR_CLOSED_ADV, address=DOOR, rssi=RSSI, ts=TS) == Reading(
        device=DOOR,
        protocol="bthome",
        kind="door",
        values={"open": False},
        rssi=RSSI,
        ts=TS,
        state=State.CLEAR,
    )


def test_a_window_contact_counts_as_a_door() -> None:
    assert decode_advert(WINDOW_OPEN_ADV, address=DOOR, ts=TS) == Reading(
        device=DOOR, protocol="bthome", kind="door", values={"open": True}, ts=TS, state=State.ALARM
    )


def test_an_encrypted_motion_sensor_reports_motion_with_its_key() -> None:
    assert decode_advert(
        MOTION_ADV, address=MOTION_SENSOR, rssi=RSSI, ts=TS, bindkey=MOTION_KEY
    ) == Reading(
        device=MOTION_SENSOR,
        protocol="bthome",
        kind="motion",
        values={"motion": True},
        rssi=RSSI,
        ts=TS,
        state=State.ALARM,
    )


def test_a_thermometer_reports_temperature_humidity_and_battery() -> None:
    assert decode_advert(BATTERY_TEMP_ADV, address=THERMOMETER, rssi=RSSI, ts=TS) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="temperature",
        values={"packet_id": 9, "battery_pct": 93, "temperature_c": 23.97, "humidity_pct": 63.27},
        battery=93,
        rssi=RSSI,
        ts=TS,
    )


def test_a_soil_moisture_percentage_is_not_a_water_leak() -> None:
    assert decode_advert(SOIL_MOISTURE_ADV, address=THERMOMETER, ts=TS) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="moisture",
        values={"moisture_pct": 30.74},
        ts=TS,
    )


def test_a_smoke_detector_alarm_is_decoded_whole() -> None:
    assert decode_advert(SMOKE_ADV, address=THERMOMETER, rssi=RSSI, ts=TS) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="smoke",
        values={"packet_id": 5, "battery_pct": 80, "smoke": True},
        battery=80,
        rssi=RSSI,
        ts=TS,
        state=State.ALARM,
    )


def test_a_leak_sensor_alarm_is_a_water_reading() -> None:
    assert decode_advert(WATER_LEAK_ADV, address=THERMOMETER, rssi=RSSI, ts=TS) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="water",
        values={"packet_id": 5, "battery_pct": 80, "water": True},
        battery=80,
        rssi=RSSI,
        ts=TS,
        state=State.ALARM,
    )


def test_a_truncated_advert_keeps_only_the_whole_objects_before_the_cut() -> None:
    # bthome-ble's choice, kept: the temperature is complete, the humidity is not.
    assert decode_advert(TRUNCATED_ADV, address=THERMOMETER, ts=TS) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="temperature",
        values={"temperature_c": 25.06},
        ts=TS,
    )


def test_a_measurement_without_a_hub_name_keeps_its_unit_as_suffix() -> None:
    assert decode_advert(DISTANCE_ADV, address=THERMOMETER, ts=TS) == Reading(
        device=THERMOMETER, protocol="bthome", kind="sensor", values={"distance_mm": 12}, ts=TS
    )


@pytest.mark.parametrize(
    "data",
    [b"", NOT_V2_ADV, CORRUPT_ADV, b"\x40", b"\x40\x3a"],
    ids=["empty", "not_v2", "unknown_object", "no_objects", "button_without_event"],
)
def test_a_corrupt_advert_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_advert(data, address=THERMOMETER, rssi=RSSI, ts=TS)


def test_a_smoke_detectors_all_clear_says_clear_and_its_battery_report_says_nothing() -> None:
    assert decode_advert(SMOKE_CLEAR_ADV, address=THERMOMETER) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="smoke",
        values={"packet_id": 6, "battery_pct": 80, "smoke": False},
        battery=80,
        state=State.CLEAR,
    )
    assert decode_advert(SMOKE_BATTERY_ADV, address=THERMOMETER) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="battery",
        values={"packet_id": 7, "battery_pct": 79},
        battery=79,
    )


def test_a_carbon_monoxide_alarm_is_its_own_kind() -> None:
    assert decode_advert(CO_ADV, address=THERMOMETER) == Reading(
        device=THERMOMETER,
        protocol="bthome",
        kind="co",
        values={"packet_id": 8, "battery_pct": 80, "co": True},
        battery=80,
        state=State.ALARM,
    )


def test_a_generic_contact_says_its_state_and_a_tamper_alone_says_none() -> None:
    assert decode_advert(GENERIC_ON_ADV, address=DOOR).state is State.ALARM
    assert decode_advert(GENERIC_OFF_ADV, address=DOOR).state is State.CLEAR
    tampered = decode_advert(TAMPER_ADV, address=DOOR)
    assert (tampered.kind, tampered.values, tampered.state) == ("tamper", {"tamper": True}, None)


def test_an_address_typed_in_lower_case_comes_out_as_bluez_spells_it() -> None:
    assert decode_advert(DOOR_OPEN_ADV, address="a4-c1-38-8d-18-b2").device == DOOR


def test_bthome_bles_complaints_are_held_back_and_handed_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AdvertError) as refused:
            decode_advert(BAD_TEXT_ADV, address=DOOR)
        decoder = BTHomeDecoder()
        reading = decoder.decode(OUT_OF_ORDER_ADV, address=DOOR, monotonic=0.0)
    assert refused.value.library_log == [
        "BTHome data contains bytes that can't be decoded to a string (use UTF-8 encoding)"
    ]
    assert reading is not None and reading.values["temperature_c"] == 25.06
    [complaint] = decoder.complaints
    assert "not sending object ids in numerical order" in complaint
    assert [r for r in caplog.records if r.name.startswith("bthome_ble")] == []


def test_garbage_is_not_called_encrypted() -> None:
    with pytest.raises(DecodeError) as short:
        decode_advert(ONE_OCTET_WITH_ENCRYPTION_BIT, address=DOOR)
    with pytest.raises(DecodeError) as not_v2:
        decode_advert(b"\xe1" + bytes(12), address=DOOR)
    assert "encrypted advert" not in str(short.value)
    assert "too short to be encrypted" in str(short.value)
    assert "not a BTHome v2 advert (version bits say 7)" in str(not_v2.value)


@settings(max_examples=examples(2000), deadline=None)
@given(data=st.binary(max_size=31))
def test_only_an_advert_that_can_be_encrypted_is_called_encrypted(data: bytes) -> None:
    try:
        decode_advert(data, address=MOTION_SENSOR)
    except DecodeError as exc:
        header = 1 + (6 if data and data[0] & 0x02 else 0)
        could_be = (
            len(data) >= header + 9 and data[0] >> 5 == 2 and bool(data[0] & 0x01)  # v2, bit 0
        )
        assert ("encrypted advert" in str(exc)) == could_be, str(exc)


def test_an_encrypted_advert_without_a_key_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="no bindkey"):
        decode_advert(MOTION_ADV, address=MOTION_SENSOR, ts=TS)


def test_an_encrypted_advert_with_the_wrong_key_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="cannot decrypt"):
        decode_advert(MOTION_ADV, address=MOTION_SENSOR, ts=TS, bindkey=ENCRYPTED_PENDANT_KEY)


def test_an_encrypted_advert_from_a_spoofed_address_does_not_decrypt() -> None:
    # The address is part of the AES-CCM nonce (bthome.io/encryption).
    with pytest.raises(DecodeError, match="cannot decrypt"):
        decode_advert(MOTION_ADV, address=PENDANT, ts=TS, bindkey=MOTION_KEY)


def test_a_too_short_encrypted_advert_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_advert(TOO_SHORT_ENCRYPTED_ADV, address=MOTION_SENSOR, bindkey=MOTION_KEY)


def test_a_plaintext_advert_from_a_keyed_pendant_is_refused() -> None:
    with pytest.raises(DecodeError, match="plaintext"):
        decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT, bindkey=ENCRYPTED_PENDANT_KEY)


def test_a_bindkey_of_the_wrong_length_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_advert(MOTION_ADV, address=MOTION_SENSOR, bindkey=b"short")


def test_a_pendant_repeating_one_press_raises_it_once() -> None:
    decoder = BTHomeDecoder()
    first = decoder.decode(PENDANT_BUTTON_PRESS_ADV, address=PENDANT, monotonic=100.0, ts=TS)
    repeats = [
        decoder.decode(PENDANT_BUTTON_PRESS_ADV, address=PENDANT.lower(), monotonic=100.0 + dt)
        for dt in (0.1, 0.5, 1.0, 3.9)
    ]
    assert first == decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT, ts=TS)
    assert repeats == [None, None, None, None]


def test_a_sensor_that_never_changes_is_still_heard_every_few_seconds() -> None:
    decoder = BTHomeDecoder()
    heard = [
        decoder.decode(DOOR_OPEN_ADV, address=DOOR, monotonic=float(t)) is not None
        for t in range(10)
    ]
    assert heard == [True, False, False, False, True, False, False, False, True, False]


def test_a_door_opened_closed_and_opened_again_gives_three_readings() -> None:
    decoder = BTHomeDecoder()
    readings = [
        decoder.decode(adv, address=DOOR, monotonic=t)
        for adv, t in ((DOOR_OPEN_ADV, 0.0), (DOOR_CLOSED_ADV, 0.5), (DOOR_OPEN_ADV, 1.0))
    ]
    assert [r.values if r else None for r in readings] == [
        {"open": True},
        {"open": False},
        {"open": True},
    ]


def test_the_decoder_uses_each_paired_devices_bindkey() -> None:
    decoder = BTHomeDecoder({MOTION_SENSOR.lower(): MOTION_KEY})
    assert decoder.decode(MOTION_ADV, address=MOTION_SENSOR, monotonic=0.0) == Reading(
        device=MOTION_SENSOR,
        protocol="bthome",
        kind="motion",
        values={"motion": True},
        state=State.ALARM,
    )
    with pytest.raises(DecodeError, match="no bindkey"):
        decoder.decode(ENCRYPTED_PENDANT_PRESS_ADV, address=ENCRYPTED_PENDANT, monotonic=0.0)


def test_a_hub_without_ble_does_not_load_bthome_ble_until_the_first_advert() -> None:
    code = (
        "import sys, hub.sensors.bthome as b\n"
        "print('bthome_ble' in sys.modules, 'habluetooth' in sys.modules)\n"
        "b.decode_advert(b'\\x40\\x11\\x01', address='A4:C1:38:8D:18:B2')\n"
        "print('bthome_ble' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["False", "False", "True"]


@settings(max_examples=examples(2000), deadline=None)
@given(
    data=st.binary(max_size=31),
    bindkey=st.sampled_from([None, MOTION_KEY]),
)
def test_any_advert_bytes_give_a_reading_or_a_decode_error(
    data: bytes, bindkey: bytes | None
) -> None:
    try:
        reading = decode_advert(data, address=MOTION_SENSOR, rssi=RSSI, bindkey=bindkey)
    except DecodeError:
        return
    assert reading.protocol == "bthome"
    assert reading.device == MOTION_SENSOR


@settings(max_examples=examples(2000), deadline=None)
@given(payload=st.binary(max_size=30))
def test_any_plaintext_v2_payload_gives_a_reading_or_a_decode_error(payload: bytes) -> None:
    # Random bytes rarely have valid version bits; this keeps the header right so the
    # object parser itself is exercised.
    try:
        reading = decode_advert(b"\x40" + payload, address=PENDANT)
    except DecodeError:
        return
    assert reading.values

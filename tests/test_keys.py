"""Device keys as a person types them (a label on the box, a phone, a fleet config) become
the one spelling the sources report; a key no source can ever report is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sensors.keys import canonical_key, pairable
from hub.sensors.rflink import decode

MODBUS = ("modbus:/dev/serial/by-id/usb-FTDI-if00:3",)


@pytest.mark.parametrize(
    "typed",
    [
        "A4:C1:38:8D:18:B2",
        "a4:c1:38:8d:18:b2",
        "A4-C1-38-8D-18-B2",
        "a4c1388d18b2",
        " a4:C1:38:8d:18:B2 ",
        "bthome:a4:c1:38:8d:18:b2",
        "BLE:A4C1388D18B2",
    ],
)
def test_a_ble_address_in_any_spelling_is_the_address_bluez_reports(typed: str) -> None:
    assert canonical_key(typed) == "A4:C1:38:8D:18:B2"
    assert pairable(typed) == "A4:C1:38:8D:18:B2"


def test_an_rflink_key_in_any_case_is_the_key_the_decoder_prints() -> None:
    printed = decode(b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;").device
    for typed in ("rflink:Eurodomest:123456:01", "RFLINK:EURODOMEST:123456:01", printed):
        assert canonical_key(typed) == printed == "rflink:eurodomest:123456:01"
    smoke = decode(b"20;0C;Alecto V4;ID=00AB;SMOKEALERT=ON;").device
    assert pairable("rflink:Alecto V4:00ab") == smoke == "rflink:alecto v4:00ab"


def test_a_modbus_unit_is_a_number_and_must_be_a_configured_detector() -> None:
    assert pairable("modbus:/dev/serial/by-id/usb-FTDI-if00:03", MODBUS) == MODBUS[0]
    with pytest.raises(ValueError, match=r"not a detector of \[modbus\].*usb-FTDI-if00:3"):
        pairable("modbus:/dev/serial/by-id/usb-FTDI-if00:4", MODBUS)
    with pytest.raises(ValueError, match=r"configured: none"):
        pairable("modbus:/dev/ttyUSB0:3")


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("a4:c1:38:8d:18", "not a key any source reports"),  # five octets: a typo
        ("A4:C1:38:8D:18:G2", "not a key any source reports"),
        ("door1", "not a key any source reports"),
        ("bthome:door", "not a key any source reports"),
        ("rflink:eurodomest", "not an RFLink key"),
        ("rflink::123456", "not an RFLink key"),
        ("gpio:sos", "the hub's own buttons"),
        ("", "not a key any source reports"),
    ],
)
def test_a_key_that_can_never_match_a_reading_is_refused_with_the_reason(
    typed: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        pairable(typed, MODBUS)


@given(st.binary(min_size=6, max_size=6), st.sampled_from([":", "-", ""]), st.booleans())
def test_every_spelling_of_an_address_pairs_as_the_same_device(
    octets: bytes, sep: str, lower: bool
) -> None:
    typed = sep.join(f"{b:02X}" for b in octets)
    typed = typed.lower() if lower else typed
    assert pairable(typed) == ":".join(f"{b:02X}" for b in octets)
    assert canonical_key(canonical_key(typed)) == canonical_key(typed)

"""Modbus RTU detectors: register values decoded into Readings (recorded vectors compared
whole), register maps validated with errors naming the option, silence counted per outage."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from hub.config import parse_config
from hub.errors import ConfigError, DecodeError
from hub.reading import Reading, State
from hub.sensors.modbus import Detector, ModbusConfig, Silence, decode, parse_modbus

PORT = "/dev/ttyUSB0"
# A kitchen gas detector: status in holding register 0 (0 normal, 1 warming up, 2 alarm,
# 3 sensor fault, 4 cover open), gas concentration in register 1 in 0.1 %LEL steps.
GAS = Detector(
    unit=3,
    kind="gas",
    function="holding",
    address=0,
    alarm=(2,),
    fault=(3,),
    tamper=(4,),
    normal=(0, 1),
    concentration_address=1,
    scale=0.1,
    concentration_unit="%LEL",
)
# A smoke detector that exposes its alarm relay as coil 0.
SMOKE = Detector(unit=5, kind="smoke", function="coil", address=0)
# Status bits: bit 0 alarm; the high byte is a counter the map masks off.
BITS = Detector(unit=7, function="input", address=10, alarm=(1,), fault=(2,), mask=0x00FF)

# Replies captured from pymodbus's RTU server on a pty (unit 3, FC 3, two registers).
GAS_ALARM_FRAME = bytes.fromhex("03030400020039b821")  # status 2, 57 -> 5.7 %LEL
GAS_NORMAL_FRAME = bytes.fromhex("0303040000000b9834")  # status 0, 11 -> 1.1 %LEL
CORRUPT_FRAME = bytes.fromhex("03030400020039b822")  # one CRC bit flipped

GAS_ALARM_VALUES = [2, 57]
GAS_NORMAL_VALUES = [0, 11]
GAS_FAULT_VALUES = [3, 0]
GAS_COVER_OPEN_VALUES = [4, 0]
GAS_UNKNOWN_STATUS = [9, 0]
TRUNCATED_VALUES = [2]


def gas_reading(state: State | None = State.CLEAR, **values: Any) -> Reading:
    return Reading(
        device="modbus:/dev/ttyUSB0:3",
        protocol="modbus",
        kind="gas",
        values={"alarm": False, "fault": False, "tamper": False, **values},
        state=state,
    )


def registers_of(frame: bytes) -> list[int]:
    """What pymodbus's own RTU framer makes of a reply on the wire."""
    _used, pdu = FramerRTU(DecodePDU(False)).handleFrame(frame, 3, 0)
    if pdu is None:
        raise DecodeError("no frame")
    return list(pdu.registers)


def test_gas_alarm_register_reads_as_an_alarm_with_its_concentration() -> None:
    assert decode(GAS, PORT, GAS_ALARM_VALUES) == gas_reading(
        State.ALARM, alarm=True, raw=2, concentration=5.7, concentration_unit="%LEL"
    )


def test_a_gas_alarm_reply_off_the_wire_decodes_the_same() -> None:
    assert registers_of(GAS_ALARM_FRAME) == GAS_ALARM_VALUES
    assert decode(GAS, PORT, registers_of(GAS_ALARM_FRAME)) == decode(GAS, PORT, GAS_ALARM_VALUES)
    assert decode(GAS, PORT, registers_of(GAS_NORMAL_FRAME)) == gas_reading(
        raw=0, concentration=1.1, concentration_unit="%LEL"
    )


def test_a_reply_with_a_bad_crc_never_becomes_a_reading() -> None:
    with pytest.raises(DecodeError):
        registers_of(CORRUPT_FRAME)


def test_a_quiet_kitchen_reads_as_all_clear() -> None:
    # Every poll of a quiet detector is an explicit all-clear (State.CLEAR): it ends an
    # episode, and can never be taken for an alarm.
    assert decode(GAS, PORT, GAS_NORMAL_VALUES) == gas_reading(
        raw=0, concentration=1.1, concentration_unit="%LEL"
    )


def test_a_failed_sensor_element_reads_as_a_fault_not_an_alarm_nor_an_all_clear() -> None:
    # A detector that cannot sense says nothing about the hazard: a gas leak it reported
    # before its element failed is not over.
    assert decode(GAS, PORT, GAS_FAULT_VALUES) == gas_reading(
        None, fault=True, raw=3, concentration=0.0, concentration_unit="%LEL"
    )


def test_an_opened_cover_reads_as_tamper() -> None:
    assert decode(GAS, PORT, GAS_COVER_OPEN_VALUES) == gas_reading(
        None, tamper=True, raw=4, concentration=0.0, concentration_unit="%LEL"
    )


def test_a_status_the_register_map_does_not_know_is_refused_not_taken_for_clear() -> None:
    with pytest.raises(DecodeError, match="status 9"):
        decode(GAS, PORT, GAS_UNKNOWN_STATUS)


def test_a_short_reply_is_refused() -> None:
    with pytest.raises(DecodeError, match="1 values read, 2 expected"):
        decode(GAS, PORT, TRUNCATED_VALUES)


def test_a_smoke_alarm_coil_reads_as_a_smoke_alarm() -> None:
    # pymodbus pads a one-coil read to a whole byte of bits.
    assert decode(SMOKE, PORT, [True, *[False] * 7]) == Reading(
        device="modbus:/dev/ttyUSB0:5",
        protocol="modbus",
        kind="smoke",
        values={"alarm": True, "fault": False, "tamper": False, "raw": 1},
        state=State.ALARM,
    )
    assert decode(SMOKE, PORT, [False] * 8).state is State.CLEAR


def test_status_bits_outside_the_mask_are_ignored() -> None:
    assert decode(BITS, PORT, [0x2A01]) == Reading(
        device="modbus:/dev/ttyUSB0:7",
        protocol="modbus",
        kind="gas",
        values={"alarm": True, "fault": False, "tamper": False, "raw": 0x2A01},
        state=State.ALARM,
    )


def test_a_concentration_register_before_the_status_is_read_in_the_same_block() -> None:
    det = Detector(unit=1, address=4, concentration_address=2, alarm=(1,))
    assert (det.start, det.count) == (2, 3)
    assert decode(det, "p", [150, 0, 1]).values == {
        "alarm": True,
        "fault": False,
        "tamper": False,
        "raw": 1,
        "concentration": 150.0,
    }


REGISTER_ISH = (
    st.integers(-(2**20), 2**20)
    | st.booleans()
    | st.floats(allow_nan=True)
    | st.none()
    | st.text(max_size=3)
    | st.lists(st.integers(), max_size=2)
)
DETECTORS = st.builds(
    Detector,
    unit=st.integers(1, 247),
    kind=st.sampled_from(["gas", "smoke", "co", "water"]),
    function=st.sampled_from(["holding", "input", "coil", "discrete"]),
    address=st.integers(0, 40),
    alarm=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=3).map(tuple),
    fault=st.lists(st.integers(0, 0xFFFF), max_size=2).map(tuple),
    normal=st.lists(st.integers(0, 0xFFFF), max_size=2).map(tuple),
    mask=st.integers(1, 0xFFFF),
    concentration_address=st.none() | st.integers(0, 40),
    scale=st.floats(-1e6, 1e6),
)


@settings(max_examples=500, deadline=None)
@given(DETECTORS, st.lists(REGISTER_ISH, max_size=45))
def test_any_register_values_give_a_reading_or_a_decode_error(
    detector: Detector, values: list[Any]
) -> None:
    try:
        reading = decode(detector, PORT, values)
    except DecodeError:
        return
    assert reading.device == detector.key(PORT)
    assert isinstance(reading.values["alarm"], bool)
    assert (reading.state is State.ALARM) == reading.values["alarm"]


# -- the [modbus] section ---------------------------------------------------------------


def test_a_detector_table_becomes_its_register_map() -> None:
    cfg = parse_modbus(
        {
            "port": "/dev/ttyUSB0",
            "parity": "E",
            "poll_s": 1.5,
            "detectors": [
                {
                    "unit": 3,
                    "kind": "gas",
                    "address": 0,
                    "alarm": [2],
                    "fault": [3],
                    "tamper": [4],
                    "normal": [0, 1],
                    "concentration_address": 1,
                    "scale": 0.1,
                    "concentration_unit": "%LEL",
                },
                {"unit": 5, "kind": "smoke", "function": "coil"},
            ],
        }
    )
    assert cfg == ModbusConfig(port="/dev/ttyUSB0", parity="E", poll_s=1.5, detectors=(GAS, SMOKE))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"port": "/dev/x", "detectors": [{"kind": "gas"}]}, "modbus.detectors[0].unit: required"),
        (
            {"port": "/dev/x", "detectors": [{"unit": 300}]},
            "modbus.detectors[0].unit: 300 is out of range",
        ),
        (
            {"port": "/dev/x", "detectors": [{"unit": 1, "function": "holdng"}]},
            "modbus.detectors[0].function: 'holdng' is not allowed",
        ),
        (
            {"port": "/dev/x", "detectors": [{"unit": 1, "alarm": [2], "fault": [2]}]},
            "modbus.detectors[0].fault: [2] also listed in modbus.detectors[0].alarm",
        ),
        (
            {"port": "/dev/x", "detectors": [{"unit": 1, "function": "coil", "alarm": [2]}]},
            "a coil is a single bit",
        ),
        (
            {
                "port": "/dev/x",
                "detectors": [{"unit": 1, "function": "coil", "concentration_address": 1}],
            },
            "modbus.detectors[0].concentration_address: needs function = 'holding' or 'input'",
        ),
        (
            {"port": "/dev/x", "detectors": [{"unit": 1}, {"unit": 1}]},
            "modbus.detectors[1].unit: 1 is already used by modbus.detectors[0]",
        ),
        ({"detectors": [{"unit": 1}]}, "modbus.port: required when detectors are listed"),
        ({"parity": "X"}, "modbus.parity: 'X' is not allowed"),
        ({"pol_s": 2}, "modbus.pol_s: unknown option; did you mean modbus.poll_s?"),
        (
            {"port": "/dev/x", "detectors": [{"unit": 1, "adress": 1}]},
            "modbus.detectors[0].adress: unknown option; did you mean modbus.detectors[0].address?",
        ),
        ({"poll_s": 0}, "modbus.poll_s: 0 is out of range"),
        ({"detectors": {"unit": 1}}, "modbus.detectors: must be a list of tables"),
    ],
)
def test_a_bad_modbus_section_names_the_option(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"hub": {"id": "H1"}, "modbus": raw})
    assert any(expected in p for p in info.value.problems), info.value.problems


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["port", "parity", "poll_s", "retries", "detectors", "x"]),
        st.none()
        | st.integers(-(10**400), 10**400)
        | st.floats()
        | st.text(max_size=5)
        | st.lists(
            st.dictionaries(
                st.sampled_from(["unit", "function", "alarm", "address", "scale", "mask"]),
                st.integers(-5, 70000) | st.text(max_size=4) | st.lists(st.integers(-1, 3)),
            ),
            max_size=3,
        ),
    )
)
def test_any_modbus_section_is_a_config_or_a_clear_error(raw: dict[str, Any]) -> None:
    try:
        parse_modbus(raw)
    except ConfigError as exc:
        assert exc.problems


# -- silence ----------------------------------------------------------------------------


def test_a_detector_is_called_silent_once_after_three_failed_polls_in_a_row() -> None:
    silence = Silence(offline_after=3)
    assert [silence.failed("d") for _ in range(5)] == [False, False, True, False, False]
    silence.answered("d")
    assert [silence.failed("d") for _ in range(3)] == [False, False, True]


def test_one_lost_reply_between_answers_is_not_an_outage() -> None:
    silence = Silence(offline_after=3)
    for _ in range(10):
        assert not silence.failed("d")
        assert not silence.failed("d")
        silence.answered("d")

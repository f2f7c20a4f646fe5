"""A paired device's raw reading, restated in the kind the installer paired it as: the
on/off fact comes from the source's own protocol field, never from a guess."""

from __future__ import annotations

import pytest

from hub.reading import Reading, State
from hub.sensors.attribute import attribute
from hub.sensors.bthome import decode_advert
from hub.sensors.rflink import decode
from tests.test_bthome import (
    BATTERY_TEMP_ADV,
    PENDANT,
    PENDANT_BUTTON_PRESS_ADV,
    PENDANT_IDLE_ADV,
    SMOKE_ADV,
    THERMOMETER,
)

DOOR_OPEN = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
GAS = b"20;3E;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;\r\n"
GAS_CLEAR = b"20;3F;Chuango;ID=0b2c3d;SWITCH=03;CMD=OFF;\r\n"
PENDANT_LINE = b"20;3F;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=OK;\r\n"
# A 433 MHz thermometer: a temperature says nothing about any alarm.
THERMO_LINE = b"20;41;Alecto V1;ID=0334;TEMP=00d1;HUM=52;BAT=OK;\r\n"


def test_a_contact_paired_as_a_door_reports_open_and_closed() -> None:
    opened = attribute(decode(DOOR_OPEN), "door")
    closed = attribute(decode(DOOR_OPEN.replace(b"CMD=ON", b"CMD=OFF")), "door")
    assert (opened.kind, opened.values["open"], opened.state) == ("door", True, State.ALARM)
    assert (closed.kind, closed.values["open"], closed.state) == ("door", False, State.CLEAR)


def test_a_contact_paired_as_a_gas_detector_alarms_on_and_clears_off() -> None:
    assert attribute(decode(GAS), "gas") == Reading(
        device="rflink:chuango:0b2c3d:03",
        protocol="rflink",
        kind="gas",
        values={"command": "on", "alarm": True},
        state=State.ALARM,
    )
    assert attribute(decode(GAS_CLEAR), "gas") == Reading(
        device="rflink:chuango:0b2c3d:03",
        protocol="rflink",
        kind="gas",
        values={"command": "off", "alarm": False},
        state=State.CLEAR,
    )


def test_a_pendant_press_is_a_button_press() -> None:
    pendant = attribute(decode(PENDANT_LINE), "button")
    assert pendant.values["action"] == "press" and pendant.state is State.ALARM
    assert pendant.values["battery_low"] is False


@pytest.mark.parametrize("kind", ["smoke", "gas", "co", "water", "door", "motion", "button"])
def test_a_reading_that_says_nothing_stays_nothing_whatever_it_is_paired_as(kind: str) -> None:
    # A thermometer line, and a BTHome thermometer advert (battery and temperature only).
    for raw in (decode(THERMO_LINE), decode_advert(BATTERY_TEMP_ADV, address=THERMOMETER)):
        said = attribute(raw, kind)
        assert said.state is None
        assert said.values == raw.values  # nothing restated: no "alarm", "open", "action"


def test_value_names_alone_are_never_read_as_an_alarm() -> None:
    # A reading whose source did not say the state: a value called "smoke" or "alarm"
    # is not guessed into one (it once made an all-clear and a battery report alarm).
    for values in ({"smoke": True}, {"alarm": True}, {"state": "on"}, {"command": "on"}):
        raw = Reading(device="AA:BB:CC:DD:EE:FF", protocol="bthome", kind="smoke", values=values)
        assert attribute(raw, "smoke").state is None


def test_a_bthome_smoke_detector_paired_as_gas_keeps_its_own_alarm() -> None:
    said = attribute(decode_advert(SMOKE_ADV, address=THERMOMETER), "gas")
    assert (said.kind, said.state, said.values["alarm"]) == ("gas", State.ALARM, True)


def test_a_bthome_pendant_press_is_a_button_press_and_its_idle_advert_is_not() -> None:
    pressed = attribute(decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT), "button")
    idle = attribute(decode_advert(PENDANT_IDLE_ADV, address=PENDANT), "button")
    assert pressed.values["action"] == "press" and pressed.state is State.ALARM
    assert "action" not in idle.values and idle.state is None


def test_a_paired_watch_still_reports_heart_rate_not_just_wearable() -> None:
    # Found by the 24 h outage test: a paired wearable's pulse never reached the health
    # archive or the vital-sign checks because its kind was restated as "wearable".
    beat = Reading(device="ble:watch", protocol="ble", kind="heart_rate", values={"bpm": 72})
    assert attribute(beat, "wearable") == beat
    assert attribute(beat, "sensor") == beat


def test_a_wristbands_sos_key_is_a_press_though_it_is_paired_as_a_wearable() -> None:
    pressed = attribute(decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT), "wearable")
    idle = attribute(decode_advert(PENDANT_IDLE_ADV, address=PENDANT), "wearable")
    assert pressed.values["action"] == "press" and pressed.state is State.ALARM
    assert "action" not in idle.values and idle.state is None


def test_a_scenario_line_states_its_state_in_the_hubs_own_words() -> None:
    def sim(kind: str, **values: object) -> State | None:
        return attribute(Reading("det:x", "sim", kind, dict(values)), kind).state

    assert sim("gas", alarm=True) is State.ALARM
    assert sim("gas", alarm=False) is State.CLEAR
    assert sim("door", open=False) is State.CLEAR
    assert sim("motion", motion=True) is State.ALARM
    assert sim("button", action="press") is State.ALARM
    assert sim("smoke", battery_pct=80) is None

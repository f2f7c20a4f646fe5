"""A paired device's raw reading, restated in the kind the installer paired it as."""

from __future__ import annotations

from hub.reading import Reading, State
from hub.sensors.attribute import attribute
from hub.sensors.rflink import decode

DOOR_OPEN = b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n"
GAS = b"20;3E;Chuango;ID=0b2c3d;SWITCH=03;CMD=ON;\r\n"
PENDANT = b"20;3F;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=OK;\r\n"


def test_a_contact_paired_as_a_door_reports_open_and_closed() -> None:
    opened = attribute(decode(DOOR_OPEN), "door")
    closed = attribute(decode(DOOR_OPEN.replace(b"CMD=ON", b"CMD=OFF")), "door")
    assert (opened.kind, opened.values["open"]) == ("door", True)
    assert (closed.kind, closed.values["open"]) == ("door", False)


def test_a_contact_paired_as_a_gas_detector_is_an_alarm() -> None:
    gas = attribute(decode(GAS), "gas")
    assert gas == Reading(
        device="rflink:Chuango:0b2c3d:03",
        protocol="rflink",
        kind="gas",
        values={"command": "on", "alarm": True},
        state=State.ALARM,
    )


def test_a_pendant_press_is_a_button_press() -> None:
    pendant = attribute(decode(PENDANT), "button")
    assert pendant.values["action"] == "press"
    assert pendant.values["battery_low"] is False


def test_a_reading_without_a_state_keeps_its_values() -> None:
    reading = Reading(device="x", protocol="ble", kind="sensor", values={"temperature_c": 21.5})
    assert attribute(reading, "temperature").values == {"temperature_c": 21.5}


def test_a_bthome_pendant_press_is_a_button_press_and_its_idle_advert_is_not() -> None:
    from hub.sensors.bthome import decode_advert
    from tests.test_bthome import PENDANT, PENDANT_BUTTON_PRESS_ADV, PENDANT_IDLE_ADV

    pressed = attribute(decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT), "button")
    idle = attribute(decode_advert(PENDANT_IDLE_ADV, address=PENDANT), "button")
    assert pressed.values["action"] == "press"
    assert "action" not in idle.values


def test_a_paired_watch_still_reports_heart_rate_not_just_wearable() -> None:
    # Found by the 24 h outage test: a paired wearable's pulse never reached the health
    # archive or the vital-sign checks because its kind was restated as "wearable".
    beat = Reading(device="ble:watch", protocol="ble", kind="heart_rate", values={"bpm": 72})
    assert attribute(beat, "wearable") == beat
    assert attribute(beat, "sensor") == beat


def test_a_wristbands_sos_key_is_a_press_though_it_is_paired_as_a_wearable() -> None:
    from hub.sensors.bthome import decode_advert
    from tests.test_bthome import PENDANT, PENDANT_BUTTON_PRESS_ADV, PENDANT_IDLE_ADV

    pressed = attribute(decode_advert(PENDANT_BUTTON_PRESS_ADV, address=PENDANT), "wearable")
    idle = attribute(decode_advert(PENDANT_IDLE_ADV, address=PENDANT), "wearable")
    assert pressed.values["action"] == "press"
    assert "action" not in idle.values

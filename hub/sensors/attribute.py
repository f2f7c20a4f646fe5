"""Attribution (pure): a Reading from a paired device, restated in the device's kind.

A 433 MHz contact only says "command on/off"; whether that is a door opening, a gas
detector alarming or a pendant pressed is known from the registry (what the installer
paired it as). This module gives the care checks and the SOS path one vocabulary: the
on/off fact is `Reading.state` (ALARM, CLEAR, or None when the reading does not say it),
and for the pages and the event data it is also restated as

    door      values {"open": bool}
    motion    values {"motion": bool}
    smoke/gas/water   values {"alarm": bool}
    button    values {"action": "press"} (a pendant or wrist button; a BTHome button
              event counts when it is a press, see hub.sensors.bthome.is_button_press)
    wearable, sensor  unchanged: they report their own measurements (heart_rate, spo2,
              temperature, ...), which the vital-sign checks and the archive read by kind
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub.reading import Reading, State
from hub.sensors.bthome import is_button_press

# Words the RF and BLE sources use for the active state of a contact.
_ACTIVE = frozenset({"on", "allon", "open", "alarm", "press", "pressed", "motion", "detected"})
# Devices paired as these say what they measured themselves (heart_rate, spo2, ...):
# restating their readings as "wearable" would hide the vital signs from the care
# checks and the health archive.
_SELF_DESCRIBING = frozenset({"wearable", "sensor"})
# Value names that carry the active/inactive state, most specific first.
_STATE_KEYS = (
    "smokealert",
    "pir",
    "command",
    "alarm",
    "smoke",
    "gas",
    "co",
    "water",
    "opening",
    "open",
    "motion",
    "state",
)


def _active(values: dict[str, Any]) -> bool | None:
    for key in _STATE_KEYS:
        value = values.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return bool(value)
        if isinstance(value, str):
            return value.strip().lower() in _ACTIVE
    return None


def _state(reading: Reading) -> State | None:
    if reading.state is not None:
        return reading.state
    active = _active(reading.values)
    if active is None:
        return None
    return State.ALARM if active else State.CLEAR


def attribute(reading: Reading, kind: str) -> Reading:
    """The reading as the paired `kind` (door, motion, smoke, gas, water, button, ...);
    a wearable's or a generic sensor's reading keeps its own kind."""
    if kind in _SELF_DESCRIBING:
        if is_button_press(reading):  # a wristband's SOS key
            return replace(reading, values={**reading.values, "action": "press"}, state=State.ALARM)
        return reading
    values = dict(reading.values)
    state = _state(reading)
    active = None if state is None else state is State.ALARM
    extra: dict[str, Any] = {}
    if kind == "door" and active is not None:
        extra = {"open": active}
    elif kind == "motion" and active is not None:
        extra = {"motion": active}
    elif kind in ("smoke", "gas", "water") and active is not None:
        extra = {"alarm": active}
    elif kind == "button" and (active or is_button_press(reading)):
        extra = {"action": "press"}
        state = State.ALARM
    return replace(reading, kind=kind, values={**values, **extra}, state=state)

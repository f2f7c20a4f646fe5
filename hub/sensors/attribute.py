"""Attribution (pure): a Reading from a paired device, restated in the device's kind.

Every source says the on/off fact itself, in `Reading.state` (ALARM, CLEAR, or None when
the reading does not say it): BTHome from the advert's binary sensor or button event,
RFLink from `SMOKEALERT`, `PIR` or `CMD`, a Modbus detector from its status register, the
GPIO buttons from the press. Attribution never guesses it from value names and never
defaults it; it only restates the kind the installer paired the device as. A 433 MHz
contact only says "command on/off": paired as `gas` its ON is a gas alarm and its OFF the
all-clear, paired as `door` they are the door opening and closing.

What each paired kind does with each state (`values` restates it for the pages and the
event data):

    kind              ALARM                      CLEAR                  values
    door              opened                     closed                 {"open": bool}
    motion            movement seen              no movement            {"motion": bool}
    smoke/gas/co/water  detector alarms          all clear              {"alarm": bool}
    button            pressed: the SOS           nothing                {"action": "press"}
    wearable          its SOS key pressed: SOS   nothing                {"action": "press"}
    sensor            as its own kind says       as its own kind says   unchanged
    radar             motion: movement seen      nobody, or someone     unchanged (motion,
                      fall: a fall               still; no fall         presence, fall)

A state of None (a battery report, a temperature, a supervision beacon) changes nothing
anywhere. A wearable's or a generic sensor's reading keeps its own kind (heart_rate,
spo2, temperature, ...), which the vital-sign checks read; a sensor whose own protocol
says smoke is still a smoke detector (an alarm is never dropped for a pairing mistake).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub.reading import Reading, State

# The kinds a hazard detector is paired as (each raises its own alarm).
HAZARD_KINDS = ("smoke", "gas", "co", "water")
# Devices paired as these say what they measured themselves (heart_rate, spo2, ...):
# restating their readings as "wearable" would hide the vital signs from the care
# checks and the health archive. A radar's readings are `motion` (with presence) and
# `fall` (hub/sensors/radar.py).
_SELF_DESCRIBING = frozenset({"wearable", "sensor", "radar"})
# What a key press on a wearable comes from: a BTHome button event, an RFLink command.
_KEYS = ("button", "switch")
# The value each kind restates its state as (True for ALARM, False for CLEAR).
_RESTATED = {
    "door": "open",
    "motion": "motion",
    "fall": "fall",
    **{kind: "alarm" for kind in HAZARD_KINDS},
}


def attribute(reading: Reading, kind: str) -> Reading:
    """The reading as the paired `kind` (door, motion, smoke, gas, co, water, button, ...);
    a wearable's or a generic sensor's reading keeps its own kind."""
    state = reading.state
    if state is None and reading.protocol == "sim":
        state = sim_state(reading.kind if kind == "radar" else kind, reading.values)
    if kind in _SELF_DESCRIBING:
        if kind == "wearable" and reading.kind in _KEYS and state is State.ALARM:
            # a wristband's SOS key (BTHome button event, or a 433 MHz band's CMD=ON)
            return replace(reading, values={**reading.values, "action": "press"}, state=state)
        return replace(reading, state=state)
    extra: dict[str, Any] = {}
    if kind in _RESTATED and state is not None:
        extra = {_RESTATED[kind]: state is State.ALARM}
    elif kind == "button" and state is State.ALARM:
        extra = {"action": "press"}
    return replace(reading, kind=kind, values={**reading.values, **extra}, state=state)


def sim_state(kind: str, values: dict[str, Any]) -> State | None:
    """The state a simulated reading (care scenario files, protocol "sim") gives in the
    hub's own restated names: `open=`, `motion=`, `alarm=` true/false, `action=press`."""
    if kind == "button" or kind in _SELF_DESCRIBING:
        return State.ALARM if values.get("action") == "press" else None
    said = values.get(_RESTATED.get(kind, ""))
    if not isinstance(said, bool):
        return None
    return State.ALARM if said else State.CLEAR

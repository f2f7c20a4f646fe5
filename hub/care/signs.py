"""Which readings show the elder acting, and which only show that her wearable is worn.

A sign of life is something a person did. What counts, per check:

    reading                                                       action   worn
    motion seen (state ALARM), a PIR's or a radar's               yes
    a radar seeing someone still, or nobody (state CLEAR)         no
    "no motion" (state CLEAR), or a motion report with no state   no
    a door transition: open after closed, closed after open       yes
    the first report of a contact, when it says open              yes
    a door state repeated (a status report, a supervision beacon) no
    a button press (state ALARM) or hold (`action=hold`)          yes
    a help phrase heard (kind voice)                              yes
    the wearable's movement: `moving=true`, a `steps` count
      that went up, or kind activity saying neither               yes
    a wearable's `moving=false`, or a `steps` count unchanged     no
    heart rate, SpO2, blood pressure with a value above 0
      (and, from a GATT heart-rate strap, with skin contact)      no       yes
    a pulse of 0, or no skin contact (the band off the wrist)     no       no
    presence (the wearable in radio range)                        no

An action (of a kind in `care.sign_of_life_kinds`, from a device not in
`care.excluded_devices`) is what every check counts: survival, inactivity, the night
rules, the routine. "Worn" never cancels anything: it only changes what the survival
check says ("alive, but not moving" instead of "no sign of life"). The wearable coming
back in range from away mode ends away mode and counts as her return (hub/care/away.py).
Decoders give these facts as `Reading.state` (hub.reading) and as the values named above
(BTHome's binary "moving" object is decoded as `moving`; a step count is read from
`steps`); nothing else of a reading is read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import clock_text
from hub.care.config import CareConfig
from hub.reading import Reading, State

VITAL_KINDS = ("spo2", "heart_rate", "blood_pressure")
# The value of each vital that says a measurement was taken; 0 is what wrist bands
# report when the sensor sees no skin (off the wrist, on the table or the charger).
_VITAL_FIELD = {"heart_rate": "bpm", "spo2": "spo2_pct", "blood_pressure": "systolic_mmhg"}
# Button actions that are a person pressing (hub.sensors.gpio says "press" and "hold").
_PRESSES = ("press", "hold")


@dataclass(frozen=True)
class Seen:
    """A reading as the explanations cite it: what, which device, which room, when."""

    what: str  # "motion", "door opened", "heart_rate 76", ...
    device: str
    room: str
    wall: datetime  # UTC, from the hub's clock when it was fed

    def text(self, tz: ZoneInfo) -> str:
        """'motion pir:bath (卫生间) at 02:12'."""
        where = f" ({self.room})" if self.room else ""
        return f"{self.what} {self.device}{where} at {clock_text(self.wall.astimezone(tz))}"

    def to_dict(self) -> dict[str, str]:
        """JSON-able form (also what an alarm's `data.readings` carries)."""
        return {
            "what": self.what,
            "device": self.device,
            "room": self.room,
            "at": self.wall.isoformat(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Seen:
        """Load what to_dict wrote."""
        return cls(
            str(raw["what"]),
            str(raw["device"]),
            str(raw.get("room", "")),
            datetime.fromisoformat(str(raw["at"])),
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def is_worn(reading: Reading) -> bool:
    """True for a vital sign actually measured on her (the band is worn)."""
    field_name = _VITAL_FIELD.get(reading.kind)
    if field_name is None:
        return False
    value = _number(reading.values.get(field_name))
    if value is None or value <= 0:
        return False
    return reading.values.get("sensor_contact") is not False


def is_checkin(reading: Reading, cfg: CareConfig) -> bool:
    """True for a press of the green "I'm OK" button (GPIO or a button assigned to it)."""
    return (
        reading.device in cfg.checkin_devices
        and reading.kind == "button"
        and reading.values.get("action", "press") == "press"
    )


def is_going_out(reading: Reading, cfg: CareConfig) -> bool:
    """True for a long press (hold) of the green button: "I am going out"."""
    return (
        reading.device in cfg.checkin_devices
        and reading.kind == "button"
        and reading.values.get("action") == "hold"
    )


def wearable_presence(reading: Reading, cfg: CareConfig) -> bool | None:
    """True/False when a configured wearable is seen in range / reported gone, else None."""
    if reading.kind != "presence" or reading.device not in cfg.wearable_devices:
        return None
    return bool(reading.values.get("present", True))


def describe(reading: Reading) -> str:
    """A few words for what the reading says, as the explanations show it."""
    kind, values = reading.kind, reading.values
    if kind == "door" and reading.state is not None:
        return "door opened" if reading.alarm else "door closed"
    if kind == "motion" and reading.state is not None:
        if not reading.alarm and "presence" in values:  # a radar
            return "someone still" if values["presence"] else "nobody"
        return "motion" if reading.alarm else "no motion"
    if kind == "fall" and reading.state is not None:
        return "fall" if reading.alarm else "no fall"
    if kind == "button":
        return f"{values.get('action', 'press')}"
    if kind == "presence":
        return "wearable near" if values.get("present", True) else "wearable gone"
    field_name = _VITAL_FIELD.get(kind)
    if field_name is not None:
        return f"{kind} {values.get(field_name)}"
    if "steps" in values:
        return f"steps {values['steps']}"
    if values.get("moving") is True:
        return "moving"
    if reading.state is not None:
        return f"{kind} {reading.state.value}"
    return kind


@dataclass
class SignReader:
    """Tells actions from reports; remembers what it needs to (each door's last state,
    each wearable's last step count), so a repeated report is never taken for a change."""

    doors: dict[str, str] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)

    def action(self, reading: Reading, cfg: CareConfig, *, wearable: bool) -> str | None:
        """The kind of action the reading shows (one of config.ACTION_KINDS), or None."""
        kind = self._kind(reading, wearable=wearable)
        if kind is None or reading.device in cfg.excluded_devices:
            return None
        if kind not in cfg.sign_of_life_kinds and not is_checkin(reading, cfg):
            return None
        return kind

    def _kind(self, reading: Reading, *, wearable: bool) -> str | None:
        kind = reading.kind
        if kind == "motion":
            return "motion" if reading.alarm else None
        if kind == "door":
            return "door" if self._door_changed(reading) else None
        if kind == "button":
            pressed = reading.alarm or reading.values.get("action") in _PRESSES
            return "button" if pressed else None
        if kind == "voice":
            return kind
        if kind == "activity" or wearable:
            values = reading.values
            if "steps" in values or "moving" in values:  # movement only if it says so
                return "activity" if self._moved(reading) else None
            return "activity" if kind == "activity" else None
        return None

    def _door_changed(self, reading: Reading) -> bool:
        if reading.state is None:
            return False  # a battery or tamper report says nothing about the door
        before = self.doors.get(reading.device)
        self.doors[reading.device] = reading.state.value
        if before is None:  # a contact never heard from: only an opening is surely her
            return reading.state is State.ALARM
        return before != reading.state.value

    def _moved(self, reading: Reading) -> bool:
        if reading.values.get("moving") is True:
            return True
        steps = _number(reading.values.get("steps"))
        if steps is None:
            return False
        before = self.steps.get(reading.device)
        self.steps[reading.device] = steps
        # The first count is only a baseline; a lower one is the counter reset at midnight.
        return before is not None and steps > before

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"doors": dict(self.doors), "steps": dict(self.steps)}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load what to_dict wrote."""
        self.doors = {str(k): str(v) for k, v in raw.get("doors", {}).items()}
        self.steps = {str(k): float(v) for k, v in raw.get("steps", {}).items()}

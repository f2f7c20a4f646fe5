"""Which readings are a sign of life, a check-in press, a door use or a wearable presence."""

from __future__ import annotations

from hub.care.config import CareConfig
from hub.reading import Reading

HAZARD_KINDS = ("smoke", "gas", "water")
VITAL_KINDS = ("spo2", "heart_rate", "blood_pressure")


def is_sign_of_life(reading: Reading, cfg: CareConfig) -> bool:
    """True when the reading shows the elder doing something (presence alone never counts)."""
    if reading.device in cfg.excluded_devices or reading.kind == "presence":
        return False
    return reading.kind in cfg.sign_of_life_kinds or is_checkin(reading, cfg)


def is_checkin(reading: Reading, cfg: CareConfig) -> bool:
    """True for a press of the green "I'm OK" button (GPIO or a button assigned to it)."""
    return (
        reading.device in cfg.checkin_devices
        and reading.kind == "button"
        and reading.values.get("action", "press") == "press"
    )


def is_door_open(reading: Reading) -> bool:
    """True for a door contact that says it is open (a battery report says nothing)."""
    return reading.kind == "door" and reading.alarm


def is_door_closed(reading: Reading) -> bool:
    """True for a door contact that says it is closed."""
    return reading.kind == "door" and reading.clear


def wearable_presence(reading: Reading, cfg: CareConfig) -> bool | None:
    """True/False when a configured wearable is seen in range / reported gone, else None."""
    if reading.kind != "presence" or reading.device not in cfg.wearable_devices:
        return None
    return bool(reading.values.get("present", True))

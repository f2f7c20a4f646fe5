"""The Reading: one normalised observation from any source (button, sensor, wearable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class State(Enum):
    """The one on/off fact a detector, contact, motion sensor or button reports.

    Every source says it the same way, whatever its own protocol calls it (BTHome's
    `smoke`, RFLink's `SMOKEALERT=ON`, a Modbus status word, a GPIO press). A reading
    that does not carry the fact (a battery level, a temperature, a supervision beacon)
    has `Reading.state = None`: it says nothing, and nothing may read it as an alarm.
    """

    ALARM = "alarm"  # smoke/gas/water/co detected, door open, motion seen, button pressed
    CLEAR = "clear"  # nothing detected, door closed, no motion


@dataclass(frozen=True)
class Reading:
    """What a source heard, before it is attributed to a paired device or turned into events.

    `device` is the source's own key for the device (GPIO pin name, BLE address,
    RFLink protocol+id); `kind` says what it is (button, door, motion, smoke, ...);
    `values` holds the decoded fields; `state` is the on/off fact (see `State`), None
    when this reading does not say it.
    """

    device: str
    protocol: str
    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    battery: int | None = None
    rssi: int | None = None
    ts: datetime | None = None
    state: State | None = None

    @property
    def alarm(self) -> bool:
        """True only when the reading explicitly says ALARM (never for "not said")."""
        return self.state is State.ALARM

    @property
    def clear(self) -> bool:
        """True only when the reading explicitly says CLEAR."""
        return self.state is State.CLEAR

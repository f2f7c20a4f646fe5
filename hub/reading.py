"""The Reading: one normalised observation from any source (button, sensor, wearable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Reading:
    """What a source heard, before it is attributed to a paired device or turned into events.

    `device` is the source's own key for the device (GPIO pin name, BLE address,
    RFLink protocol+id); `kind` says what it is (button, door, motion, smoke, ...);
    `values` holds the decoded fields.
    """

    device: str
    protocol: str
    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    battery: int | None = None
    rssi: int | None = None
    ts: datetime | None = None

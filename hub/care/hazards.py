"""Smoke, gas and water: an immediate priority-0 alarm, the siren and spoken guidance."""

from __future__ import annotations

from typing import Any

from hub.care.base import Led, Output, Siren, Speak
from hub.care.signs import HAZARD_KINDS
from hub.clock import Clock
from hub.event import Draft, Priority, Source
from hub.reading import Reading

# Spoken guidance per hazard; gas: do not touch switches, open windows, leave
# (the standard gas-leak advice of Chinese gas utilities, also in the Fujian guidance).
GUIDANCE = {
    "smoke": "hazard_smoke_leave",
    "gas": "hazard_gas_no_switches_open_windows_leave",
    "water": "hazard_water_turn_off_tap",
}


class HazardCheck:
    """One alarm per detector until it reports clear."""

    def __init__(self) -> None:
        self.active: set[str] = set()

    def feed(self, reading: Reading, clock: Clock, source: Source) -> Output:
        """Raise on the first alarm reading of a detector; a clear reading re-arms it."""
        if reading.kind not in HAZARD_KINDS:
            return Output()
        key = f"{reading.kind}:{reading.device}"
        if reading.clear:
            self.active.discard(key)
            return Output()
        if not reading.alarm or key in self.active:  # not said (battery, temperature)
            return Output()
        self.active.add(key)
        draft = Draft.create(
            reading.kind,
            clock,
            priority=Priority.ALARM,
            source=source,
            data={"explain": f"{reading.kind} detector alarm"},
        )
        return Output(
            drafts=[draft], actions=[Siren(), Speak(GUIDANCE[reading.kind]), Led("alarm")]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"active": sorted(self.active)}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load state saved by to_dict."""
        self.active = set(raw.get("active", []))

"""Smoke, gas, CO and water: an immediate priority-0 alarm, the siren and spoken guidance.

A hazard is an episode per detector: the first reading that says ALARM raises one alarm;
its repeats (a detector in alarm reports every few seconds, a polled one answers on every
poll) raise nothing more; a reading that says CLEAR ends the episode, and a later ALARM
raises a new alarm. A reading that says nothing (state None: a battery report, a
temperature, a detector in fault) changes nothing. The open episodes are saved with the
care state, so a restart in the middle of one neither raises it again nor forgets it; at
start the hub drops the episodes of devices no longer paired as that detector
(`reconcile`), and removing or re-pairing a device drops its episodes (`forget`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.care.base import Led, Output, Siren, Speak
from hub.clock import Clock
from hub.event import Draft, Priority, Source
from hub.reading import Reading
from hub.sensors.attribute import HAZARD_KINDS
from hub.sensors.keys import canonical_key

# Spoken guidance per hazard; gas: do not touch switches, open windows, leave
# (the standard gas-leak advice of Chinese gas utilities, also in the Fujian guidance);
# carbon monoxide: open the windows and get out into fresh air.
GUIDANCE = {
    "smoke": "hazard_smoke_leave",
    "gas": "hazard_gas_no_switches_open_windows_leave",
    "co": "hazard_co_open_windows_leave",
    "water": "hazard_water_turn_off_tap",
}
assert set(GUIDANCE) == set(HAZARD_KINDS)


def _key(kind: str, device: str) -> str:
    return f"{kind}:{device}"


class HazardCheck:
    """One alarm per hazard episode of each detector (see the module docstring)."""

    def __init__(self) -> None:
        self.active: set[str] = set()  # "kind:device" of each open episode

    def feed(self, reading: Reading, clock: Clock, source: Source) -> Output:
        """Raise on the ALARM that starts an episode; a CLEAR ends it; nothing else counts."""
        if reading.kind not in HAZARD_KINDS:
            return Output()
        key = _key(reading.kind, reading.device)
        if reading.clear:
            self.active.discard(key)
            return Output()
        if not reading.alarm or key in self.active:  # not said, or the same episode
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

    def in_alarm(self, device: str) -> bool:
        """Whether the device has an open hazard episode."""
        return any(key.split(":", 1)[1] == device for key in self.active)

    def forget(self, device: str) -> list[str]:
        """Drop the open episodes of a device that was removed or paired again; returns them."""
        gone = sorted(key for key in self.active if key.split(":", 1)[1] == device)
        self.active.difference_update(gone)
        return gone

    def reconcile(self, paired: Mapping[str, str]) -> list[str]:
        """Keep only the episodes of devices still paired as that detector (`paired`: device
        key -> kind); returns the episodes dropped. Saved keys are respelled canonically."""
        kept: set[str] = set()
        for key in self.active:
            kind, _, device = key.partition(":")
            device = canonical_key(device)
            if paired.get(device) == kind:
                kept.add(_key(kind, device))
        dropped = sorted(
            key
            for key in self.active
            if _key(key.partition(":")[0], canonical_key(key.partition(":")[2])) not in kept
        )
        self.active = kept
        return dropped

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"active": sorted(self.active)}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load state saved by to_dict."""
        self.active = {key for key in raw.get("active", []) if isinstance(key, str)}

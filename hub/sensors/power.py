"""Hub power (pure): mains presence and the UPS battery -> power_lost / power_restored /
battery_low. No GPIO, no files: samples and a monotonic `now` in, Notices out.

Mains must be absent for `ride_through_s` before `power_lost` is reported, so a flicker
(a recloser operating, a plug nudged) raises nothing; the UL-listed Essence profile the
hub follows requires an AC-loss report within 180 s, so the ride-through is bounded in
config well under that (hub/config.py: PowerSection.ride_through_s).

Priority (hub/event.py): `power_lost` is a WARNING, not a life-safety alarm. The hub keeps
running on its UPS and every alarm still goes out; what the centre needs is to know the
flat is on battery (and, through `battery_low` and the retained status LWT, when the hub
will go dark). Raising it as an alarm would start the siren and the family call cascade
for every neighbourhood outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hub.sensors.supervision import Notice

POWER_DEVICE = "hub:power"
BATTERY_DEVICE = "hub:battery"
# battery_low is re-armed once the charge is this far above the threshold again, so a
# reading hovering at the threshold does not repeat it.
BATTERY_HYSTERESIS = 10


class Mains(Enum):
    """What the hub believes about mains power."""

    UNKNOWN = "unknown"  # no sample yet
    ON = "on"
    RIDING_THROUGH = "riding_through"  # absent, not yet reported
    LOST = "lost"  # absent and reported (power_lost sent)


@dataclass(frozen=True)
class Sample:
    """One look at the UPS: mains present (None: could not tell), battery percent (None: the
    HAT does not say)."""

    mains: bool | None
    battery: int | None = None


class PowerWatch:
    """Mains and battery state machine; feed it samples and ticks, send what it returns."""

    def __init__(self, ride_through_s: float, battery_low_percent: int) -> None:
        self.ride_through_s = ride_through_s
        self.battery_low_percent = battery_low_percent
        self.state = Mains.UNKNOWN
        self.battery: int | None = None
        self._off_since: float | None = None
        self._battery_warned = False

    def sample(self, sample: Sample, now: float) -> list[Notice]:
        """Take one sample; returns the notices it causes (usually none)."""
        out: list[Notice] = []
        if sample.battery is not None:
            self.battery = sample.battery
            out += self._battery_notices(sample.battery)
        if sample.mains is True:
            if self.state is Mains.LOST:
                off = now - self._off_since if self._off_since is not None else 0.0
                out.append(
                    Notice("power_restored", POWER_DEVICE, {"off_s": round(off), **self._pct()})
                )
            self.state, self._off_since = Mains.ON, None
        elif sample.mains is False and self.state in (Mains.UNKNOWN, Mains.ON):
            # Booting without mains counts from boot: the outage may be older, never younger.
            self.state, self._off_since = Mains.RIDING_THROUGH, now
        return out + self.tick(now)

    def tick(self, now: float) -> list[Notice]:
        """Time passes: mains absent for the whole ride-through becomes power_lost (once)."""
        if (
            self.state is Mains.RIDING_THROUGH
            and self._off_since is not None
            and now - self._off_since >= self.ride_through_s
        ):
            self.state = Mains.LOST
            data = {"off_s": round(now - self._off_since), "ride_through_s": self.ride_through_s}
            return [Notice("power_lost", POWER_DEVICE, {**data, **self._pct()})]
        return []

    def off_for(self, now: float) -> float | None:
        """Seconds mains has been absent (None while it is on or unknown)."""
        return None if self._off_since is None else now - self._off_since

    def resume_lost(self, off_for_s: float, now: float) -> None:
        """After a restart mid-outage whose power_lost was already reported (`off_for_s`
        ago it began): mains still absent says nothing new; mains back is power_restored."""
        if self.state is Mains.UNKNOWN:
            self.state, self._off_since = Mains.LOST, now - max(0.0, off_for_s)

    def _battery_notices(self, percent: int) -> list[Notice]:
        if percent <= self.battery_low_percent and not self._battery_warned:
            self._battery_warned = True
            return [Notice("battery_low", BATTERY_DEVICE, {"battery": percent})]
        if percent >= self.battery_low_percent + BATTERY_HYSTERESIS:
            self._battery_warned = False
        return []

    def _pct(self) -> dict[str, int]:
        return {} if self.battery is None else {"battery": self.battery}

"""Device supervision and storm control: a pure state machine (no IO, `now` passed in).

Feed it every Reading of a *paired* device with `observe()` (unpaired ones go to the
registry's inbox, so this map stays bounded) and call `tick()` every few seconds (at most
COALESCE_WINDOW apart, so chatter summaries are not held back). Both return plain
`Notice`s; the caller turns each into an event with
`hub.event.Draft.create(notice.kind, clock, data=notice.data, source=Source(notice.device))`.
Plain results keep this module free of wall clocks and event ids, so tests compare them whole.

`now` is a monotonic time in seconds (`clock.monotonic()`), never wall time: an NTP step
at boot must not mark every device offline.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise
from typing import Any

from hub.reading import Reading

# Interval learning as Home Assistant does since PR 79669: the max gap over the last 16 reports.
HISTORY = 16
# Silent past interval * MARGIN -> offline; covers one lost RF/BLE report plus jitter.
MARGIN = 1.5
# Floors per kind: the interval is never learned shorter than these. Sensors that report
# periodically (BLE thermometers, wearables) do so within minutes (15 min floor). Battery
# devices that transmit when something happens — door contacts, PIRs, pendants, smoke,
# gas and water detectors — send at most a supervision beacon about once a day when
# nothing happens (Zigbee2MQTT's 25 h for passive devices): a 15 min floor called the
# front door offline every quiet night (12 false sensor_offline a week in bench/soak.py).
DEFAULT_FLOOR = 15 * 60.0
EVENT_DRIVEN_FLOOR = 25 * 3600.0
KIND_FLOORS: dict[str, float] = {
    kind: EVENT_DRIVEN_FLOOR for kind in ("door", "motion", "button", "smoke", "gas", "co", "water")
}
# At most one battery_low per device per day (repeats would only nag the centre).
BATTERY_REPEAT = 24 * 3600.0
# Readings of one device within this window are coalesced into one summary with a count.
COALESCE_WINDOW = 10.0
# Life-safety kinds: never coalesced, never dropped.
ALARM_KINDS = frozenset({"smoke", "gas", "co", "water", "button", "sos", "panic"})


class Health(Enum):
    """Whether a device is being heard."""

    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Notice:
    """Something the caller should turn into an event: kind, device key and event data."""

    kind: str
    device: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Device:
    kind: str
    last_heard: float
    heard: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY + 1))
    health: Health = Health.ONLINE
    battery_notice_at: float | None = None
    window_start: float | None = None
    suppressed: int = 0
    last_values: dict[str, Any] = field(default_factory=dict)
    tampered: bool = False
    faulted: bool = False


class Supervisor:
    """Learns report intervals, raises offline/restored/battery/tamper, coalesces chatter."""

    def __init__(self) -> None:
        self._devices: dict[str, _Device] = {}
        self._fixed: dict[str, float] = {}

    def set_interval(self, device: str, seconds: float) -> None:
        """Use a configured supervision interval (from the registry) instead of learning one."""
        self._fixed[device] = seconds

    def interval(self, device: str) -> float | None:
        """The interval a device is supervised with, or None when it was never heard."""
        dev = self._devices.get(device)
        if dev is None:
            return None
        if device in self._fixed:
            return self._fixed[device]
        floor = KIND_FLOORS.get(dev.kind, DEFAULT_FLOOR)
        gaps = [b - a for a, b in pairwise(dev.heard)]
        return max([floor, *gaps])

    def expect(self, device: str, kind: str, now: float) -> None:
        """Supervise a paired device from `now` even before it is heard.

        Called for every paired device when the hub starts (and when one is paired): a
        detector that died while the hub was off is then reported offline one interval
        (its kind's floor) after boot, instead of never."""
        if device not in self._devices:
            self._devices[device] = _Device(kind=kind, last_heard=now)

    def forget(self, device: str) -> None:
        """Stop supervising a device that was removed (no offline report for it later)."""
        self._devices.pop(device, None)
        self._fixed.pop(device, None)

    def health(self, device: str) -> Health | None:
        """The device's current health, or None when never heard."""
        dev = self._devices.get(device)
        return None if dev is None else dev.health

    def observe(self, reading: Reading, now: float, kind: str | None = None) -> list[Notice]:
        """Take one reading (kind overridden by the registry when given) -> notices to send."""
        kind = kind or reading.kind
        dev = self._devices.get(reading.device)
        if dev is None:
            dev = self._devices[reading.device] = _Device(kind=kind, last_heard=now)
        dev.kind = kind
        dev.heard.append(now)
        dev.last_heard = now
        out: list[Notice] = []
        if dev.health is Health.OFFLINE:
            dev.health = Health.ONLINE
            out.append(Notice("sensor_restored", reading.device))
        if _battery_low(reading) and (
            dev.battery_notice_at is None or now - dev.battery_notice_at >= BATTERY_REPEAT
        ):
            dev.battery_notice_at = now
            out.append(Notice("battery_low", reading.device, {"battery": reading.battery}))
        # Tamper and fault are reported when they start (and a fault when it clears), not per
        # reading: a polled detector repeats its state every few seconds.
        tampered = reading.values.get("tamper") in (True, "on", 1)
        if tampered and not dev.tampered:
            out.append(Notice("tamper", reading.device, {"values": dict(reading.values)}))
        dev.tampered = tampered
        faulted = reading.values.get("fault")
        if isinstance(faulted, bool) and faulted != dev.faulted:
            dev.faulted = faulted
            state = "fault" if faulted else "cleared"
            out.append(
                Notice(
                    "fault",
                    reading.device,
                    {"component": "sensor", "state": state, "values": dict(reading.values)},
                )
            )
        out.extend(self._coalesce(reading.device, dev, reading, now))
        return out

    def silent(
        self, device: str, kind: str, now: float, data: dict[str, Any] | None = None
    ) -> list[Notice]:
        """A device that is asked (polled) did not answer: offline now, once per outage.

        For a polled device silence is a fact, not a guess from a learned interval; its next
        reading through `observe()` restores it."""
        dev = self._devices.get(device)
        if dev is None:  # paired, but not heard since the hub started
            dev = self._devices[device] = _Device(kind=kind, last_heard=now)
        if dev.health is Health.OFFLINE:
            return []
        dev.health = Health.OFFLINE
        return [
            Notice(
                "sensor_offline", device, {"silent_s": round(now - dev.last_heard), **(data or {})}
            )
        ]

    def tick(self, now: float) -> list[Notice]:
        """Time passes: closes coalescing windows and marks silent devices offline (once)."""
        out: list[Notice] = []
        for key, dev in self._devices.items():
            out.extend(self._close_window(key, dev, now))
            limit = self.interval(key)
            if (
                dev.health is Health.ONLINE
                and limit is not None
                and now - dev.last_heard > limit * MARGIN
            ):
                dev.health = Health.OFFLINE
                out.append(Notice("sensor_offline", key, {"silent_s": round(now - dev.last_heard)}))
        return out

    def flush(self, now: float) -> list[Notice]:
        """Close every coalescing window now (the hub is stopping): the summaries they held,
        so the count and last state of a chattering contact are not lost with the process."""
        out: list[Notice] = []
        for key, dev in self._devices.items():
            out.extend(self._close_window(key, dev, now, force=True))
        return out

    def _coalesce(self, key: str, dev: _Device, reading: Reading, now: float) -> list[Notice]:
        if dev.kind in ALARM_KINDS:
            # Safety decision: alarms always go through, whatever the chatter around them.
            return [Notice(dev.kind, key, {"values": dict(reading.values), "count": 1})]
        out = self._close_window(key, dev, now)
        if dev.window_start is None:
            dev.window_start = now
            out.append(Notice(dev.kind, key, {"values": dict(reading.values), "count": 1}))
        else:
            dev.suppressed += 1
            dev.last_values = dict(reading.values)
        return out

    def _close_window(
        self, key: str, dev: _Device, now: float, *, force: bool = False
    ) -> list[Notice]:
        if dev.window_start is None or (not force and now - dev.window_start < COALESCE_WINDOW):
            return []
        dev.window_start = None
        count, dev.suppressed = dev.suppressed, 0
        if count == 0:
            return []
        # The summary carries the latest state and how many reports it stands for.
        return [Notice(dev.kind, key, {"values": dev.last_values, "count": count})]


def _battery_low(reading: Reading) -> bool:
    """RFLink says BAT=LOW (values['battery_low']); others give a percentage."""
    if reading.values.get("battery_low") is True:
        return True
    return reading.battery is not None and reading.battery <= BATTERY_LOW_PERCENT


# Percentage at or below which a battery counts as low (common across BLE sensor vendors).
BATTERY_LOW_PERCENT = 20

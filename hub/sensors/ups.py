"""UPS HAT IO (thin): mains presence from a power-good GPIO or from the kernel's
/sys/class/power_supply, the battery's capacity from sysfs, fed to `PowerWatch`.

Both back ends are sampled every `poll_s` rather than on GPIO edges: the ride-through is a
minute, so a second of sampling latency is irrelevant, a flicker shorter than a sample is
one the ride-through would have ignored anyway, and one loop serves both back ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from hub.config import PowerSection
from hub.sensors.power import PowerWatch, Sample
from hub.sensors.supervision import Notice
from hub.store.atomic import read_json, write_json_atomic

_LOGGER = logging.getLogger(__name__)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def find_supply(root: Path, name: str, kind: str) -> Path | None:
    """The supply directory called `name`, or (name empty) the first whose type is `kind`."""
    if name:
        return root / name
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return None
    return next((e for e in entries if _read(e / "type") == kind), None)


def read_sysfs(mains: Path | None, battery: Path | None) -> Sample:
    """One sample from sysfs: `online` of the mains supply, `capacity` of the battery."""
    online = _read(mains / "online") if mains is not None else None
    capacity = _read(battery / "capacity") if battery is not None else None
    level = int(capacity) if capacity is not None and capacity.isdigit() else None
    return Sample(
        mains={"1": True, "0": False}.get(online or ""),
        battery=min(level, 100) if level is not None else None,
    )


class UpsMonitor:
    """Samples the UPS every poll_s; `notices()` yields power_lost/restored/battery_low.

    Whether a power_lost was reported is kept in `state_path` (written only when the
    centre was told of a change: twice an outage), so a restart mid-outage does not
    report it again and power_restored still follows when mains returns."""

    def __init__(
        self,
        cfg: PowerSection,
        *,
        pin_factory: Any,
        monotonic: Callable[[], float],
        state_path: Path | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.watch = PowerWatch(cfg.ride_through_s, cfg.battery_low_percent)
        self._monotonic = monotonic
        self._pin_factory = pin_factory
        self._input: Any = None
        self._unreadable = False
        self.state_path = state_path
        self._wall = wall
        self._resumed = False

    def _open_gpio(self) -> None:
        from gpiozero import DigitalInputDevice

        pull = {"none": None, "up": True, "down": False}[self.cfg.pull]
        self._input = DigitalInputDevice(
            self.cfg.pin,
            pull_up=pull,
            active_state=True if pull is None else None,
            pin_factory=self._pin_factory,
        )

    def _sample(self) -> Sample:
        """Blocking (sysfs reads): run off the loop."""
        root = Path(self.cfg.sysfs_root)
        battery = find_supply(root, self.cfg.battery_supply, "Battery")
        if self.cfg.source == "gpio":
            # The physical level, whatever pull-up inversion gpiozero applies to `value`.
            high = bool(self._input.pin.state)
            from_sysfs = read_sysfs(None, battery)
            return Sample(mains=high != (self.cfg.lost_level == "high"), battery=from_sysfs.battery)
        return read_sysfs(find_supply(root, self.cfg.mains_supply, "Mains"), battery)

    async def notices(self) -> AsyncIterator[Notice]:
        """Sample forever; yield what the state machine decides."""
        if self.cfg.source == "gpio" and self._input is None:
            self._open_gpio()
        if not self._resumed:
            self._resumed = True
            await self._resume()
        while True:
            sample = await asyncio.to_thread(self._sample)
            if sample.mains is None and not self._unreadable:
                _LOGGER.error(
                    "mains presence unreadable (power.source = %s); check [power]",
                    self.cfg.source,
                )
            self._unreadable = sample.mains is None
            for notice in self.watch.sample(sample, self._monotonic()):
                yield notice
            await asyncio.sleep(self.cfg.poll_s)

    async def _resume(self) -> None:
        """Take up an outage already reported before the hub restarted."""
        saved = await asyncio.to_thread(read_json, self.state_path) if self.state_path else None
        if not isinstance(saved, dict) or saved.get("lost") is not True:
            return
        since = saved.get("since")
        # Wall time: monotonic time does not survive a reboot. A Pi has no RTC, so the
        # clock may be off until NTP answers: only off_s can be wrong, never the reports.
        off = self._wall() - since if isinstance(since, int | float) else 0.0
        self.watch.resume_lost(off, self._monotonic())
        _LOGGER.warning(
            "mains was already lost and reported before this start; power_restored follows "
            "when it returns"
        )

    async def remember(self, notice: Notice) -> None:
        """Keep what the centre was told (call once `notice` is committed)."""
        if self.state_path is None or notice.kind not in ("power_lost", "power_restored"):
            return
        state: dict[str, Any] = {"lost": notice.kind == "power_lost"}
        off = self.watch.off_for(self._monotonic())
        if state["lost"] and off is not None:
            state["since"] = self._wall() - off
        try:
            await asyncio.to_thread(write_json_atomic, self.state_path, state)
        except OSError as exc:  # a full or failing SD card: a restart may repeat it, no more
            _LOGGER.error("power state not saved to %s: %s", self.state_path, exc)

    def status(self) -> dict[str, Any]:
        """For `pingan-hub status`: mains (on, riding_through, lost, unknown), battery %."""
        return {"mains": self.watch.state.value, "battery": self.watch.battery}

    def close(self) -> None:
        """Release the GPIO pin."""
        if self._input is not None:
            self._input.close()
            self._input = None

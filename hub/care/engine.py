"""The care engine: every check behind one feed / tick / to_dict interface.

The app feeds every attributed Reading to `feed`, calls `tick` about once a minute (the
checks fire on the first tick after their time, so a 60 s tick means at most 60 s late),
stores the returned drafts in the outbox, runs the returned actions, and persists
`to_dict()` (JSON) after every call that changed something. `CareEngine.from_dict` restores
it at boot; see hub/care/anchor.py for how wall and monotonic time are reconciled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from hub.care.anchor import Anchor
from hub.care.base import Output, local_now
from hub.care.checkin import CheckinCheck
from hub.care.config import CareConfig
from hub.care.hazards import HazardCheck
from hub.care.inactivity import InactivityCheck
from hub.care.night_exit import NightExitCheck, NightState
from hub.care.rooms import Paired
from hub.care.routine import RoutineCheck
from hub.care.signs import (
    VITAL_KINDS,
    is_checkin,
    is_door_open,
    is_sign_of_life,
    wearable_presence,
)
from hub.care.survival import SurvivalCheck
from hub.care.vitals import VitalsCheck
from hub.clock import Clock
from hub.event import Source
from hub.reading import Reading

_LOGGER = logging.getLogger(__name__)

# A wall step larger than this between two observations is an NTP jump, not drift
# (timesyncd slews below 0.5 s; anything in minutes is a step at boot).
JUMP_TOLERANCE_S = 120.0
STATE_VERSION = 1


class Occupancy(Enum):
    """Away mode: wearable gone and the door used; inactivity and check-in pause."""

    HOME = "home"
    AWAY = "away"


class CareEngine:
    """All care checks for one elder."""

    def __init__(self, cfg: CareConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.tz = cfg.tz
        self.last_sign = Anchor.now(clock)
        self.survival = SurvivalCheck(cfg)
        self.checkin = CheckinCheck(cfg)
        self.inactivity = [InactivityCheck(rule, cfg) for rule in cfg.inactivity]
        self.hazards = HazardCheck()
        self.night = NightExitCheck(cfg)
        self.vitals = VitalsCheck(cfg.vitals)
        self.routine = RoutineCheck(cfg)
        self.occupancy = Occupancy.HOME
        self.wearable_gone = False
        self.door_used = False
        self.devices: dict[str, Paired] = {}
        self.offline: dict[str, str] = {}  # device -> wall time it was reported silent
        self._seen_wall = clock.now()
        self._seen_mono = clock.monotonic()
        self._was_synced = clock.synced()

    def know(self, devices: Mapping[str, Paired]) -> None:
        """The paired devices from the registry (kind and room), given at start."""
        self.devices = dict(devices)

    def device_health(self, device: str, *, online: bool) -> None:
        """Supervision says a paired device went silent (or was heard again)."""
        if online:
            self.offline.pop(device, None)
        else:
            self.offline.setdefault(device, self.clock.now().isoformat())

    def _local(self) -> datetime | None:
        """Local wall time, or None while it cannot be trusted (unsynced or just jumped)."""
        clock = self.clock
        now, mono, synced = clock.now(), clock.monotonic(), clock.synced()
        step = (now - self._seen_wall).total_seconds() - (mono - self._seen_mono)
        jumped = abs(step) > JUMP_TOLERANCE_S or (synced and not self._was_synced)
        self._seen_wall, self._seen_mono, self._was_synced = now, mono, synced
        if not synced:
            return None
        local = local_now(now, self.tz)
        if jumped:
            _LOGGER.info("wall clock stepped by %.0f s; wall-clock checks re-based", step)
            self.checkin.skip_today(local)
            for check in self.inactivity:
                check.skip_today(local)
        return local

    def feed(self, reading: Reading, where: Paired | None = None) -> Output:
        """Take one attributed reading (`where`: its paired kind and room, None for the
        hub's own buttons); returns drafts to store and actions to run."""
        clock = self.clock
        local = self._local()
        out = Output()
        source = Source(device=reading.device, protocol=reading.protocol)
        out.extend(self.hazards.feed(reading, clock, source))
        if reading.kind in VITAL_KINDS:
            out.drafts += self.vitals.feed(reading, clock, source)
        sign = is_sign_of_life(reading, self.cfg)
        out.extend(self.night.feed(reading, clock, local, sign))
        self._follow_occupancy(reading)
        if is_checkin(reading, self.cfg):
            out.extend(self.checkin.on_press(clock, local, source))
        if sign:
            self.last_sign = Anchor.now(clock)
            self.survival.on_sign()
            self.routine.on_sign(local)
            for check in self.inactivity:
                out.extend(check.on_sign(clock))
        return out

    def _follow_occupancy(self, reading: Reading) -> None:
        """Away = wearable reported gone and the door used, with no inside activity between."""
        present = wearable_presence(reading, self.cfg)
        if present is not None:
            self.wearable_gone = not present
            if present and self.occupancy is Occupancy.AWAY:
                # she walked back in with her pendant: that is a sign of life
                self.last_sign = Anchor.now(self.clock)
                self.survival.on_sign()
            if present:
                self.occupancy = Occupancy.HOME
                self.door_used = False
        elif is_door_open(reading):
            self.door_used = True
        elif is_sign_of_life(reading, self.cfg):
            # someone is moving inside: not away (and a door use before it was not leaving)
            self.occupancy = Occupancy.HOME
            self.door_used = False
        leaving = self.wearable_gone and self.door_used
        if leaving and self.night.state is NightState.IDLE:
            self.occupancy = Occupancy.AWAY

    def tick(self) -> Output:
        """Advance every timed check; call about once a minute."""
        clock = self.clock
        local = self._local()
        away = self.occupancy is Occupancy.AWAY
        out = Output()
        if not away:
            out.extend(self.survival.tick(clock, self.last_sign))
        out.extend(self.checkin.tick(clock, local, away))
        for check in self.inactivity:
            out.extend(check.tick(clock, self.last_sign, local, away))
        out.extend(self.night.tick(clock))
        if not away:
            out.extend(self.routine.tick(clock, local, self.last_sign))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Serialisable state; persist it and pass it to from_dict after a restart."""
        return {
            "version": STATE_VERSION,
            "last_sign": self.last_sign.to_dict(),
            "survival": self.survival.to_dict(),
            "checkin": self.checkin.to_dict(),
            "inactivity": {c.rule.name: c.to_dict() for c in self.inactivity},
            "hazards": self.hazards.to_dict(),
            "night": self.night.to_dict(),
            "vitals": self.vitals.to_dict(),
            "routine": self.routine.to_dict(),
            "occupancy": self.occupancy.value,
            "wearable_gone": self.wearable_gone,
        }

    @classmethod
    def from_dict(cls, cfg: CareConfig, clock: Clock, raw: dict[str, Any]) -> CareEngine:
        """An engine restored from `to_dict` output (unknown rules start fresh)."""
        engine = cls(cfg, clock)
        if raw.get("version") != STATE_VERSION:
            _LOGGER.warning(
                "care state version %s not understood; starting fresh", raw.get("version")
            )
            return engine
        engine.last_sign = Anchor.from_dict(raw["last_sign"], clock)
        engine.survival.restore(raw.get("survival", {}))
        engine.checkin.restore(raw.get("checkin", {}), clock)
        saved = raw.get("inactivity", {})
        for check in engine.inactivity:
            if check.rule.name in saved:
                check.restore(saved[check.rule.name], clock)
        engine.hazards.restore(raw.get("hazards", {}))
        engine.night.restore(raw.get("night", {}), clock)
        engine.vitals.restore(raw.get("vitals", {}))
        engine.routine.restore(raw.get("routine", {}))
        engine.occupancy = Occupancy(raw.get("occupancy", "home"))
        engine.wearable_gone = bool(raw.get("wearable_gone"))
        return engine


__all__ = ["CareEngine", "Occupancy", "Output"]

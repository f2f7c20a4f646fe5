"""The care engine: every check behind one feed / tick / to_dict interface.

The app feeds every attributed Reading to `feed` (with the paired device's kind and room
from the registry), calls `tick` about once a minute (the checks fire on the first tick
after their time, so a 60 s tick means at most 60 s late), stores the returned drafts in
the outbox, runs the returned actions, and persists `to_dict()` (JSON) after every call
that changed something. `CareEngine.from_dict` restores it at boot; see
hub/care/anchor.py for how wall and monotonic time are reconciled.

Which readings count for which check is in hub/care/signs.py; away mode and holidays in
hub/care/away.py; how alarms of one incident are threaded in hub/care/incident.py.
`explain()` says, at any moment, what every check is waiting for and on which readings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.care.anchor import Anchor
from hub.care.away import Occupancy, Where
from hub.care.base import Evidence, Led, Output, local_now
from hub.care.checkin import CheckinCheck
from hub.care.config import CareConfig
from hub.care.falls import FallCheck
from hub.care.hazards import HazardCheck
from hub.care.inactivity import InactivityCheck
from hub.care.incident import ELDER, Incidents
from hub.care.marks import DayMarks
from hub.care.night_exit import NightExitCheck, NightState
from hub.care.night_visit import NightVisitCheck
from hub.care.rooms import Paired, room_kind
from hub.care.routine import RoutineCheck
from hub.care.signs import (
    VITAL_KINDS,
    Seen,
    SignReader,
    describe,
    is_checkin,
    is_going_out,
    is_worn,
    wearable_presence,
)
from hub.care.survival import WORN_RECENT_S, SurvivalCheck
from hub.care.vitals import VitalsCheck
from hub.clock import Clock
from hub.event import Source
from hub.reading import Reading

_LOGGER = logging.getLogger(__name__)

# A wall step larger than this between two observations is an NTP jump, not drift
# (timesyncd slews below 0.5 s; anything in minutes is a step at boot).
JUMP_TOLERANCE_S = 120.0
# Version 1 state (before issue 15) is still read: its new fields start empty, and the
# 24 h window it carries goes on (a version change would restart it).
STATE_VERSION = 1

__all__ = ["CareEngine", "NightState", "Output", "Where"]


def _radar_presence(reading: Reading, paired: Paired | None) -> bool:
    """A radar's presence report (someone there or not, moving or still)."""
    return (
        paired is not None
        and paired.kind == "radar"
        and reading.kind == "motion"
        and isinstance(reading.values.get("presence"), bool)
    )


def _passive_label(reading: Reading) -> str:
    """What a reading that is not an action is, in the words of the explanations."""
    if reading.kind in VITAL_KINDS:
        return f"{reading.kind} (worn)" if is_worn(reading) else f"{reading.kind} (off the wrist)"
    if reading.kind == "motion" and reading.clear:
        if reading.values.get("presence") is True:
            return "radar: someone still"
        return "no-motion reports"
    if reading.kind == "door" and reading.state is not None:
        return "door reports without a change"
    return reading.kind


class CareEngine:
    """All care checks for one elder."""

    def __init__(self, cfg: CareConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.tz = cfg.tz
        self.last_sign = Anchor.now(clock)  # her last action (the family page shows it)
        self.last_action: Seen | None = None
        self.last_worn: Seen | None = None  # the last vital measured on her
        self._worn_mono = float("-inf")
        self.watch_from: Anchor | None = None  # a holiday's end: checks count from it
        self.passive: dict[str, int] = {}  # readings since her last action that were not
        self.signs = SignReader()
        self.occupancy = Occupancy(self.tz)
        self.survival = SurvivalCheck(cfg)
        self.checkin = CheckinCheck(cfg)
        self.inactivity = [InactivityCheck(rule, cfg) for rule in cfg.inactivity]
        self.hazards = HazardCheck()
        self.falls = FallCheck(self.tz)
        self.night = NightExitCheck(cfg, self.tz)
        self.visit = NightVisitCheck(cfg, self.tz)
        self.vitals = VitalsCheck(cfg.vitals)
        self.routine = RoutineCheck(cfg)
        self.marks = DayMarks(clock.now())  # the family page's week (check-ins, visits, alarms)
        self.incidents = Incidents()
        self.devices: dict[str, Paired] = {}
        self.offline: dict[str, str] = {}  # device -> wall time it was reported silent
        self.door_known = False  # a door contact is paired (night exit "auto")
        self.applied_holiday: str | None = None  # the config's holiday_until, once applied
        self._seen_wall = clock.now()
        self._seen_mono = clock.monotonic()
        self._was_synced = clock.synced()

    # -- what the hub tells the checks besides readings ---------------------------------
    def know(self, devices: Mapping[str, Paired]) -> None:
        """The paired devices from the registry (kind and room): given at start and again
        whenever the installer pairs, removes or moves one."""
        self.devices = dict(devices)
        self.door_known = any(d.kind == "door" for d in devices.values())

    def device_health(self, device: str, *, online: bool) -> None:
        """Supervision says a paired device went silent (or was heard again)."""
        if online:
            self.offline.pop(device, None)
        else:
            self.offline.setdefault(device, self.clock.now().isoformat())

    def go_out(self, by: str = "family") -> None:
        """She is out: the family page's switch (`by="family"`), or her own gesture."""
        self.occupancy.going_out(self.clock.monotonic(), self.door_known, by)

    def come_home(self, by: str = "family") -> None:
        """She is home (the family page's switch): away mode or a holiday ends."""
        self.occupancy.come_home(self.clock.monotonic(), by)

    def set_holiday(self, until_local: datetime, by: str = "family") -> None:
        """A holiday until `until_local` (naive local time): the checks pause from when
        she leaves until then, or until she is back."""
        until = until_local.replace(tzinfo=self.tz).astimezone(UTC)
        self.occupancy.set_holiday(until, self.clock.monotonic(), self.door_known, by)

    def _apply_holiday_option(self) -> None:
        """`care.holiday_until` (installer or fleet push), applied once per value: a
        holiday she ended early by coming back is not started again by a restart.
        Applied at the first feed or tick, once `know` has said whether a door is paired."""
        until = self.cfg.holiday_until
        key = until.isoformat() if until else None
        if key == self.applied_holiday:
            return
        self.applied_holiday = key
        if until is None:
            if self.occupancy.state is not Where.HOME:
                self.come_home("holiday_until removed")
        elif until.replace(tzinfo=self.tz) > self.clock.now():
            self.set_holiday(until, "care.holiday_until")

    # -- time -------------------------------------------------------------------------
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

    def _anchor(self) -> Anchor:
        """What the no-action checks count from: her last action, or a holiday's end."""
        watch = self.watch_from
        if watch is not None and watch.elapsed(self.clock) < self.last_sign.elapsed(self.clock):
            return watch
        return self.last_sign

    def _worn_now(self) -> Seen | None:
        """The last vital measured on her, if recent enough to say the band is on."""
        if self.clock.monotonic() - self._worn_mono <= WORN_RECENT_S:
            return self.last_worn
        return None

    def night_exit_on(self) -> tuple[bool, str]:
        """Whether the night-exit watch runs, and why."""
        if self.cfg.night_exit is not None:
            return self.cfg.night_exit, f"care.night_exit = {str(self.cfg.night_exit).lower()}"
        if self.door_known:
            return True, "auto: a door contact is paired"
        return False, "auto: no door contact paired"

    # -- readings ---------------------------------------------------------------------
    def _is_wearable(self, device: str, paired: Paired | None) -> bool:
        return device in self.cfg.wearable_devices or (
            paired is not None and paired.kind == "wearable"
        )

    def feed(self, reading: Reading, where: Paired | None = None) -> Output:
        """Take one attributed reading (`where`: its paired kind and room, None for the
        hub's own buttons); returns drafts to store and actions to run."""
        visit = self.visit.started
        out = self._feed(reading, where)
        started = self.visit.started
        if started is not None and started is not visit and not self.visit.by_day:
            self.marks.add("night_visit", started.wall)
        return out

    def mark_alarm(self, at: datetime) -> None:
        """An alarm (not a test) was raised, by her or for her: a mark on the family's strip."""
        self.marks.add("alarm", at)

    @property
    def sees_night_visits(self) -> bool:
        """Whether a night visit can be seen at all: the check is on and a motion sensor or
        radar is paired in a room of a night-visit kind (the bathroom). Otherwise the strip
        and the weekly words do not know of night visits (not "0")."""
        rooms = self.cfg.night_visit_rooms
        return self.cfg.night_visit_min > 0 and any(
            p.kind in ("motion", "radar") and room_kind(p.room, self.cfg.room_table) in rooms
            for p in self.devices.values()
        )

    def _feed(self, reading: Reading, where: Paired | None) -> Output:
        clock = self.clock
        local = self._local()
        mono = clock.monotonic()
        self._apply_holiday_option()
        if where is not None:
            self.devices[reading.device] = where
        paired = where or self.devices.get(reading.device)
        room = paired.room if paired is not None else ""
        if reading.kind == "door" or (paired is not None and paired.kind == "door"):
            self.door_known = True
        out = Output()
        source = Source(device=reading.device, protocol=reading.protocol)
        out.extend(self.hazards.feed(reading, clock, source))
        seen = Seen(describe(reading), reading.device, room, clock.now())
        out.extend(self.falls.feed(reading, seen, clock, source))
        rk = room_kind(room, self.cfg.room_table)
        if _radar_presence(reading, paired):
            someone = bool(reading.values["presence"])
            out.extend(self.visit.on_radar(seen, rk, present=someone, clock=clock, local=local))
        if reading.kind in VITAL_KINDS:
            out.drafts += self.vitals.feed(reading, clock, source)
            for cause in [c for c in self.incidents.open if c.startswith("vital:")]:
                if not self.vitals.abnormal(cause.removeprefix("vital:")):
                    self.incidents.close(cause)
            if is_worn(reading):
                self.last_worn, self._worn_mono = seen, mono
        kind = self.signs.action(
            reading, self.cfg, wearable=self._is_wearable(reading.device, paired)
        )
        band_near = self.occupancy.wearable is True
        night_on, _ = self.night_exit_on()
        if kind == "door":
            self.occupancy.on_door(mono, seen)
            if night_on:
                self.night.on_door(seen, reading.alarm, clock, local, band_near)
        elif kind is not None and kind != "activity":
            self.occupancy.on_inside(mono, seen)
            self.night.on_inside()
        present = wearable_presence(reading, self.cfg)
        if present is not None:
            back = self.occupancy.on_wearable(present, mono, seen)
            out.extend(self.night.on_wearable(present, seen, clock))
            if back:
                kind = kind or "return"  # she walked back in with her wearable: she acted
        if is_going_out(reading, self.cfg):
            self.occupancy.going_out(mono, self.door_known, "gesture")
            out.actions.append(Led("checkin_ok"))  # seen: the hub took it
        checkin = is_checkin(reading, self.cfg)
        if checkin:
            out.extend(self.checkin.on_press(clock, local, source))
            self.marks.add("checkin", clock.now())
        if kind is None:
            label = _passive_label(reading)
            self.passive[label] = self.passive.get(label, 0) + 1
            return self._threaded(out)
        self.last_sign, self.last_action = Anchor.now(clock), seen
        self.watch_from = None
        self.passive = {}
        self.survival.on_sign()
        self.routine.on_sign(local)
        for check in self.inactivity:
            out.extend(check.on_sign(clock))
        self.incidents.close(ELDER)
        out.extend(self.visit.on_action(seen, kind, rk, checkin=checkin, clock=clock, local=local))
        return self._threaded(out)

    def _threaded(self, out: Output) -> Output:
        out.drafts = self.incidents.thread(out.drafts)
        return out

    def _evidence(self) -> Evidence:
        """What a no-action alarm raised now rests on."""
        lines = [f"last action: {self._last_action_text()}"]
        if self.passive:
            counted = ", ".join(f"{n} {label}" for label, n in sorted(self.passive.items()))
            lines.append(f"since then, not actions: {counted}")
        worn = self._worn_now()
        if worn is not None:
            lines.append(f"wearable worn: {worn.text(self.tz)}")
        readings = tuple(s.to_dict() for s in (self.last_action, worn) if s is not None)
        return Evidence(tuple(lines), readings)

    def _last_action_text(self) -> str:
        if self.last_action is None:
            return "none since the hub started"
        return self.last_action.text(self.tz)

    # -- time passing ---------------------------------------------------------------------
    def tick(self) -> Output:
        """Advance every timed check; call about once a minute."""
        clock = self.clock
        local = self._local()
        self._apply_holiday_option()
        if self.occupancy.tick(clock.monotonic(), clock.now()):
            self.watch_from = Anchor.now(clock)  # she was due back by its end
        anchor = self._anchor()
        away, holiday = self.occupancy.away, self.occupancy.holiday
        out = Output()
        if not holiday:
            worn = self._worn_now()
            out.extend(
                self.survival.tick(
                    clock, anchor, last_action=self.last_action, worn=worn, tz=self.tz
                )
            )
        out.extend(self.checkin.tick(clock, local, away))
        evidence = self._evidence()
        for check in self.inactivity:
            out.extend(check.tick(clock, anchor, local, away, evidence))
        out.extend(self.night.tick(clock, self.occupancy.wearable is True))
        out.extend(self.visit.tick(clock, away))
        if not away:
            out.extend(self.routine.tick(clock, local, anchor))
        return self._threaded(out)

    # -- what a care manager reads ----------------------------------------------------------
    def explain(self) -> list[str]:
        """Every check's state now, and the readings it rests on: why there is an alarm,
        or why there is none (`pingan-hub simulate --explain`)."""
        clock, tz = self.clock, self.tz
        local = self._local()
        anchor = self._anchor()
        away = self.occupancy.away
        lines = [f"where: {self.occupancy.explain(clock.monotonic())}"]
        lines.append(f"last action: {self._last_action_text()}")
        if self.passive:
            counted = ", ".join(f"{n} {label}" for label, n in sorted(self.passive.items()))
            lines.append(f"since then, not actions: {counted}")
        worn = self._worn_now()
        if worn is not None:
            lines.append(f"wearable: worn ({worn.text(tz)})")
        elif self.last_worn is not None:
            lines.append(f"wearable: no vital in the last 30 min (last {self.last_worn.text(tz)})")
        if self.watch_from is not None and anchor is self.watch_from:
            lines.append("checks count from the end of the holiday")
        paused = "holiday" if self.occupancy.holiday else ""
        rule = f"survival-{self.cfg.survival_window_h:g}h"
        lines.append(f"{rule}: {self.survival.explain(clock, anchor, paused)}")
        for check in self.inactivity:
            lines.append(f"{check.rule.name}: {check.explain(clock, anchor, local, away)}")
        blind = [
            k for k in sorted(self.offline) if self.devices.get(k, Paired("")).kind == "motion"
        ]
        lines.append(f"{self.visit.name}: {self.visit.explain(clock, blind)}")
        on, why = self.night_exit_on()
        lines.append(f"night_exit: {self.night.explain(clock, on, why)}")
        if self.falls.active or any(d.kind == "radar" for d in self.devices.values()):
            lines.append(f"falls: {self.falls.explain()}")
        lines.append(f"check-in: {self.checkin.explain()}")
        lines.append(f"vitals: {self.vitals.explain()}")
        lines.append(f"incidents: {self.incidents.explain()}")
        if self.offline:
            offline = ", ".join(f"{k} since {v}" for k, v in sorted(self.offline.items()))
            lines.append(f"offline: {offline}")
        return lines

    # -- persistence ------------------------------------------------------------------------
    @property
    def wearable_gone(self) -> bool:
        """Her wearable is reported out of range (away mode may start)."""
        return self.occupancy.wearable is False

    def to_dict(self) -> dict[str, Any]:
        """Serialisable state; persist it and pass it to from_dict after a restart."""
        return {
            "version": STATE_VERSION,
            "last_sign": self.last_sign.to_dict(),
            "last_action": self.last_action.to_dict() if self.last_action else None,
            "last_worn": self.last_worn.to_dict() if self.last_worn else None,
            "watch_from": self.watch_from.to_dict() if self.watch_from else None,
            "passive": dict(self.passive),
            "signs": self.signs.to_dict(),
            "survival": self.survival.to_dict(),
            "checkin": self.checkin.to_dict(),
            "inactivity": {c.rule.name: c.to_dict() for c in self.inactivity},
            "hazards": self.hazards.to_dict(),
            "falls": self.falls.to_dict(),
            "night": self.night.to_dict(),
            "night_visit": self.visit.to_dict(),
            "vitals": self.vitals.to_dict(),
            "routine": self.routine.to_dict(),
            "marks": self.marks.to_dict(),
            "occupancy": self.occupancy.to_dict(),
            "incidents": self.incidents.to_dict(),
            "offline": dict(self.offline),
            "door_known": self.door_known,
            "applied_holiday": self.applied_holiday,
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
        engine._restore_seen(raw)
        watch = raw.get("watch_from")
        engine.watch_from = Anchor.from_dict(watch, clock) if isinstance(watch, dict) else None
        engine.passive = {str(k): int(v) for k, v in raw.get("passive", {}).items()}
        engine.signs.restore(raw.get("signs", {}))
        engine.survival.restore(raw.get("survival", {}))
        engine.checkin.restore(raw.get("checkin", {}), clock)
        saved = raw.get("inactivity", {})
        for check in engine.inactivity:
            if check.rule.name in saved:
                check.restore(saved[check.rule.name], clock)
        engine.hazards.restore(raw.get("hazards", {}))
        engine.falls.restore(raw.get("falls", {}))
        engine.night.restore(raw.get("night", {}), clock)
        engine.visit.restore(raw.get("night_visit", {}), clock)
        engine.vitals.restore(raw.get("vitals", {}))
        engine.routine.restore(raw.get("routine", {}))
        engine.marks = DayMarks.from_dict(raw.get("marks"), clock.now())
        occupancy = raw.get("occupancy", {})
        if isinstance(occupancy, str):  # version 1 before issue 15: "home" or "away"
            gone = raw.get("wearable_gone")
            occupancy = {"state": occupancy, "wearable": False if gone else None}
        engine.occupancy.restore(occupancy, clock.monotonic())
        engine.incidents.restore(raw.get("incidents", {}))
        engine.offline = {str(k): str(v) for k, v in raw.get("offline", {}).items()}
        engine.door_known = engine.door_known or bool(raw.get("door_known"))
        engine.applied_holiday = raw.get("applied_holiday")
        return engine

    def _restore_seen(self, raw: dict[str, Any]) -> None:
        last, worn = raw.get("last_action"), raw.get("last_worn")
        self.last_action = Seen.from_dict(last) if isinstance(last, dict) else None
        self.last_worn = Seen.from_dict(worn) if isinstance(worn, dict) else None
        if self.last_worn is not None and self.clock.synced():
            age = (self.clock.now() - self.last_worn.wall).total_seconds()
            self._worn_mono = self.clock.monotonic() - max(0.0, age)

"""The night visit that does not end: a fall on the way to or in the bathroom at night.

Rooms come from the registry (hub/care/rooms.py gives each its kind); the rule is per
room kind: a visit starts with motion in a room of a kind in `care.night_visit_rooms`
(bathroom) between night_start and night_end, and ends with motion in a room of any
other kind that is not a passage (PASSAGE_KINDS: a hall, a room the rules cannot place):
back in the bedroom, or up in the living room or the kitchen; or a press of the green
button, or,
once the night is over, motion anywhere but the bathroom (she is up for the day). So a
fall in the bathroom or on the way back to bed through the hall is watched; once she is
seen sitting in the living room or in the kitchen, the bathroom visit is over (a late
shower and then television is not a fall; a fall there is the inactivity rules'). While
it lasts, every action of hers (motion anywhere, a door, a press, her voice) restarts
the wait; the
wearable's own movement does not, since it says neither where she is nor that she got
up (a fallen elder may still move her arm). No action for `night_visit_min` (default
30) -> the spoken pre-alarm ("press the green button if you are all right", the same
prompt and `prealarm_min` as the inactivity rules) -> `fall_suspected` (priority 0).

A radar (hub/sensors/radar.py) says more than a PIR: whether someone is in its room at
all, moving or still. Its movement is motion like a PIR's (an action: it restarts the
wait, so a shower never alarms); what it adds here (`on_radar`):
- by day, a visit starts when a bathroom radar sees her there, and the wait is
  `bathroom_still_day_min` (45) instead of `night_visit_min`; it ends when that radar sees
  the room empty, as well as by the ends above;
- a radar that sees her in a room of another kind that is not a passage (in bed, lying
  still, in the living room) ends a visit, as motion there does;
- at night, the bathroom radar seeing the room empty does not end the visit: she left
  the bathroom but was not seen anywhere else (a fall in the hall on the way back to bed),
  so the wait goes on; the explanation says since when the bathroom has been empty.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import Led, Output, Speak, clock_text, in_window
from hub.care.config import CareConfig
from hub.care.inactivity import PREALARM_PROMPT
from hub.care.signs import Seen
from hub.clock import Clock
from hub.event import Draft, Priority, Source

# Rooms she passes through on the way back to bed: motion there does not end a visit.
PASSAGE_KINDS = ("entrance", "other")


class VisitState(Enum):
    """Where the night-visit rule is."""

    IDLE = "idle"
    VISIT = "visit"  # she went to the bathroom at night and is not back in bed
    PREALARM = "prealarm"  # no action for night_visit_min: asking her to press green
    RAISED = "raised"  # fall_suspected raised; an action restarts the visit's wait


class NightVisitCheck:
    """One night visit at a time, from the bathroom to the return to bed."""

    def __init__(self, cfg: CareConfig, tz: ZoneInfo) -> None:
        self.cfg = cfg
        self.tz = tz
        self.state = VisitState.IDLE
        self.started: Seen | None = None
        self.last: Seen | None = None
        self.last_mono = 0.0
        self.pre_start = 0.0
        self.last_prompt = 0.0
        self.by_day = False  # this visit started by day (a radar saw her in the bathroom)
        self.left: Seen | None = None  # the bathroom radar saw the room empty (at night)

    @property
    def name(self) -> str:
        """The rule's name in event data."""
        if self.by_day:
            return f"bathroom_still-{self.cfg.bathroom_still_day_min:g}min"
        return f"night_visit-{self.cfg.night_visit_min:g}min"

    @property
    def wait_min(self) -> float:
        """Minutes without an action before the pre-alarm, for the visit under way."""
        return self.cfg.bathroom_still_day_min if self.by_day else self.cfg.night_visit_min

    def _start(self, seen: Seen, clock: Clock, *, by_day: bool) -> None:
        self.state = VisitState.VISIT
        self.started = self.last = seen
        self.last_mono = clock.monotonic()
        self.by_day, self.left = by_day, None

    def on_radar(
        self, seen: Seen, room_kind: str, *, present: bool, clock: Clock, local: datetime | None
    ) -> Output:
        """A radar says whether someone is in its room (moving or still); its movement also
        comes through `on_action` as motion."""
        visit_room = room_kind in self.cfg.night_visit_rooms
        night = self._at_night(local)
        if self.state is VisitState.IDLE:
            if present and visit_room and local is not None:
                if night and self.cfg.night_visit_min > 0:
                    self._start(seen, clock, by_day=False)
                elif not night and self.cfg.bathroom_still_day_min > 0:
                    self._start(seen, clock, by_day=True)
            return Output()
        if visit_room:
            if present:
                self.left = None
                return Output()
            if self.by_day or not night:
                return self._end()  # she left the bathroom by day: the inactivity rules watch
            self.left = self.left or seen
            return Output()
        if present and room_kind not in PASSAGE_KINDS:
            return self._end()  # seen in bed, or sitting in the living room
        return Output()

    def _at_night(self, local: datetime | None) -> bool:
        return local is not None and in_window(
            local.time(), self.cfg.night_start, self.cfg.night_end
        )

    def on_action(
        self,
        seen: Seen,
        kind: str,
        room_kind: str,
        *,
        checkin: bool,
        clock: Clock,
        local: datetime | None,
    ) -> Output:
        """One action of hers (`kind` as signs.SignReader names it) in a room of `room_kind`."""
        if self.state is VisitState.IDLE:
            watched = kind == "motion" and room_kind in self.cfg.night_visit_rooms
            if self.cfg.night_visit_min > 0 and watched and self._at_night(local):
                self._start(seen, clock, by_day=False)
            return Output()
        visit_room = room_kind in self.cfg.night_visit_rooms
        elsewhere = kind == "motion" and not visit_room and room_kind not in PASSAGE_KINDS
        day = not self._at_night(local) and not visit_room
        if checkin or elsewhere or (day and kind != "activity"):
            return self._end()
        if kind == "activity":
            return Output()  # the band moving: not where she is, nor that she got up
        out = self._cancel()
        self.state = VisitState.VISIT
        self.last, self.last_mono = seen, clock.monotonic()
        if visit_room:
            self.left = None
        return out

    def _cancel(self) -> Output:
        if self.state is VisitState.PREALARM:
            return Output(actions=[Speak("prealarm_cancelled"), Led("off")])
        return Output()

    def _end(self) -> Output:
        out = self._cancel()
        self.state = VisitState.IDLE
        self.started = self.last = self.left = None
        self.by_day = False
        return out

    def tick(self, clock: Clock, paused: bool) -> Output:
        """The wait runs out -> pre-alarm; the pre-alarm runs out -> fall_suspected."""
        mono = clock.monotonic()
        if self.state is VisitState.PREALARM:
            if mono - self.pre_start >= self.cfg.prealarm_min * 60:
                return self._raise(clock)
            if mono - self.last_prompt >= self.cfg.prealarm_repeat_s:
                self.last_prompt = mono
                return Output(actions=[Speak(PREALARM_PROMPT)])
            return Output()
        if self.state is not VisitState.VISIT or paused:
            return Output()
        if mono - self.last_mono < self.wait_min * 60:
            return Output()
        self.state = VisitState.PREALARM
        self.pre_start = self.last_prompt = mono
        if self.cfg.prealarm_min == 0:
            return self._raise(clock)
        return Output(actions=[Speak(PREALARM_PROMPT), Led("prealarm")])

    def _why(self, clock: Clock) -> str:
        if self.started is None or self.last is None:
            return "no night visit"
        quiet = (clock.monotonic() - self.last_mono) / 60
        room = self.started.room or self.started.device
        last = self.last.room or self.last.device
        what = "daytime visit (radar: still there)" if self.by_day else "night visit"
        text = (
            f"{what} to {room} at {clock_text(self.started.wall.astimezone(self.tz))}; "
            f"no action anywhere since {clock_text(self.last.wall.astimezone(self.tz))} "
            f"({quiet:.0f} min), last seen in {last}"
        )
        if self.left is not None:
            text += (
                f"; its radar has seen it empty since "
                f"{clock_text(self.left.wall.astimezone(self.tz))}, and no one elsewhere"
            )
        return text

    def _raise(self, clock: Clock) -> Output:
        self.state = VisitState.RAISED
        why = self._why(clock)
        readings = [s for s in (self.started, self.last, self.left) if s is not None]
        readings = list(dict.fromkeys(readings))
        source = Source(self.started.device) if self.started is not None else None
        draft = Draft.create(
            "fall_suspected",
            clock,
            priority=Priority.ALARM,
            source=source,
            data={
                "explain": why,
                "rule": self.name,
                "readings": [s.to_dict() for s in readings],
                "why": [
                    f"rule {self.name}: {why}; the pre-alarm was not answered",
                    *(s.text(self.tz) for s in readings),
                ],
            },
        )
        return Output(drafts=[draft], actions=[Led("alarm")])

    def explain(self, clock: Clock, blind: list[str]) -> str:
        """One line for `simulate --explain`; `blind`: offline sensors the rule relies on."""
        if self.cfg.night_visit_min == 0:
            return "off (night_visit_min = 0)"
        window = f"{self.cfg.night_start:%H:%M}-{self.cfg.night_end:%H:%M}"
        if self.state is VisitState.IDLE:
            text = f"{window}: no visit under way"
        else:
            text = f"{self.state.value}: {self._why(clock)} (alarm after "
            text += f"{self.wait_min:g} min + {self.cfg.prealarm_min:g} min pre-alarm)"
        if blind:
            text += f"; offline, so unseen: {', '.join(blind)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (a running wait restarts from the restore moment)."""
        return {
            "state": self.state.value,
            "started": self.started.to_dict() if self.started else None,
            "last": self.last.to_dict() if self.last else None,
            "by_day": self.by_day,
            "left": self.left.to_dict() if self.left else None,
        }

    def restore(self, raw: dict[str, Any], clock: Clock) -> None:
        """Load state saved by to_dict."""
        self.state = VisitState(raw.get("state", "idle"))
        started, last = raw.get("started"), raw.get("last")
        self.started = Seen.from_dict(started) if isinstance(started, dict) else None
        self.last = Seen.from_dict(last) if isinstance(last, dict) else None
        left = raw.get("left")
        self.left = Seen.from_dict(left) if isinstance(left, dict) else None
        self.by_day = bool(raw.get("by_day", False))
        if self.started is None or self.last is None:
            self.state = VisitState.IDLE
        if self.state is VisitState.PREALARM:
            self.state = VisitState.VISIT  # asked again after the restart, not raised blind
        self.last_mono = self.pre_start = self.last_prompt = clock.monotonic()
        if self.last is not None and clock.synced():  # the wait goes on where it was
            self.last_mono -= max(0.0, (clock.now() - self.last.wall).total_seconds())

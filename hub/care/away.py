"""Away mode and holiday: explicit, bounded states of "she is not at home".

States and what moves between them (all transitions are in `Occupancy._go`):

    HOME    -> AWAY     a door transition, then her wearable leaving within LEAVE_WINDOW_S
                        with no action inside in between (the door is her going out);
                        or the family page's "she is out with us" switch
    HOME    -> LEAVING  the elder's own "going out" gesture (a long press of the green
                        button), or a holiday set while she is still at home
    LEAVING -> AWAY/HOLIDAY  the next door transition (she went out through it)
    LEAVING -> HOME     no door transition within GESTURE_WAIT_S (a press by mistake: she
                        is home, and the checks go on as if nothing was pressed)
    AWAY, HOLIDAY -> HOME  her wearable back in range, any action inside, or a door
                        transition, once SETTLE_S has passed since she left (someone is
                        in the door: her back, or a visitor, who is not away either)
    HOLIDAY -> HOME     its end (`care.holiday_until`, or the family page / a fleet push)

Without a door contact nobody can be seen leaving: a gesture or a holiday then takes
effect at once. What each state pauses (hub/care/engine.py): AWAY pauses the inactivity
rules, the routine check and the check-in reminder (no prompts to an empty flat); the
24 h survival check still runs, so an elder away longer than its window is reported
unless a holiday was set. HOLIDAY pauses the survival check too, until its end; the
survival and inactivity checks then count from that end (she was due back by then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import clock_text
from hub.care.signs import Seen

# Door transition -> wearable gone: the wearable is declared away 3 min after it was last
# heard (ble.presence_away_s) or once its RSSI falls below presence_away_dbm; 15 min also
# covers a chat with the neighbour on the landing before she walks off.
LEAVE_WINDOW_S = 15 * 60.0
# An action inside within this long after the door transition is her own leaving (the
# hall PIR seeing her step out, a PIR's hold time); later, someone is still inside.
LEAVE_SETTLE_S = 60.0
# After she left, actions and door transitions within this long are still the leaving
# (the door closing behind her, the hall PIR's last report); later they mean someone
# is inside (her back, or a visitor: either way the flat is not empty).
SETTLE_S = 120.0
# The "going out" gesture waits this long for the door (shoes, coat, keys).
GESTURE_WAIT_S = 10 * 60.0


class Where(Enum):
    """Whether she is at home, leaving, out for a while, or on holiday."""

    HOME = "home"
    LEAVING = "leaving"  # said she is going out; waits for the door
    AWAY = "away"
    HOLIDAY = "holiday"


@dataclass
class _Mark:
    """A moment on the monotonic clock with the reading behind it."""

    mono: float
    seen: Seen


class Occupancy:
    """Where she is, and why the hub thinks so."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.state = Where.HOME
        self.since = 0.0  # monotonic seconds when the current state began
        self.why = ""
        self.after_leaving = Where.AWAY  # what LEAVING becomes at the door
        self.holiday_until: datetime | None = None  # UTC
        self.wearable: bool | None = None  # near / gone / never heard
        self.wearable_seen: Seen | None = None
        self.last_door: _Mark | None = None
        self.last_inside = -1e18  # monotonic time of the last action inside

    # -- the transitions -------------------------------------------------------------
    def _go(self, state: Where, now: float, why: str) -> None:
        self.state, self.since, self.why = state, now, why
        if state is Where.HOME:
            self.holiday_until = None

    @property
    def away(self) -> bool:
        """Out of the flat (away or on holiday): the inactivity rules pause."""
        return self.state in (Where.AWAY, Where.HOLIDAY)

    @property
    def holiday(self) -> bool:
        """On holiday: the survival check pauses too."""
        return self.state is Where.HOLIDAY

    def _at(self, seen: Seen) -> str:
        return clock_text(seen.wall.astimezone(self.tz))

    def on_door(self, now: float, seen: Seen) -> bool:
        """A door transition; True when it ends away mode (someone is in the door)."""
        self.last_door = _Mark(now, seen)
        if self.state is Where.LEAVING:
            self._go(self.after_leaving, now, f"going out, then the door at {self._at(seen)}")
            return False
        if self.away and now - self.since >= SETTLE_S:
            self._go(Where.HOME, now, f"the door at {self._at(seen)}")
            return True
        return False

    def on_inside(self, now: float, seen: Seen) -> bool:
        """An action inside (not the door, not the wearable); True when it ends away mode."""
        self.last_inside = now
        if self.away and now - self.since >= SETTLE_S:
            self._go(Where.HOME, now, f"{seen.what} inside at {self._at(seen)}")
            return True
        return False

    def on_wearable(self, present: bool, now: float, seen: Seen) -> bool:
        """The wearable came in range or left it; True when that is her coming home."""
        self.wearable, self.wearable_seen = present, seen
        if present:
            if self.away:
                self._go(Where.HOME, now, f"her wearable back at {self._at(seen)}")
                return True
            return False
        door = self.last_door
        if (
            self.state is Where.HOME
            and door is not None
            and now - door.mono <= LEAVE_WINDOW_S
            and self.last_inside <= door.mono + LEAVE_SETTLE_S
        ):
            self._go(
                Where.AWAY,
                now,
                f"{door.seen.what} at {self._at(door.seen)}, then her wearable left at "
                f"{self._at(seen)}",
            )
        return False

    def going_out(self, now: float, door_known: bool, by: str) -> None:
        """Her "going out" gesture, or the family page's switch (`by` says which)."""
        if self.state is Where.HOLIDAY:
            return
        if by == "family" or not door_known:
            self._go(Where.AWAY, now, f"going out ({by})")
        else:
            self.after_leaving = Where.AWAY
            self._go(Where.LEAVING, now, f"going out ({by}); waiting for the door")

    def come_home(self, now: float, by: str) -> None:
        """The family page's "she is home" switch (or the end of a holiday)."""
        if self.state is not Where.HOME:
            self._go(Where.HOME, now, f"home ({by})")

    def set_holiday(self, until: datetime, now: float, door_known: bool, by: str) -> None:
        """A holiday until `until` (UTC): starts when she leaves through the door."""
        if self.state in (Where.AWAY, Where.HOLIDAY) or not door_known:
            self._go(Where.HOLIDAY, now, f"holiday ({by})")
        else:
            self.after_leaving = Where.HOLIDAY
            self._go(Where.LEAVING, now, f"holiday ({by}); waiting for the door")
        self.holiday_until = until

    def tick(self, now: float, wall: datetime) -> bool:
        """Time passes; True when a holiday just ended at its end date."""
        if self.state is Where.LEAVING:
            if self.after_leaving is Where.AWAY and now - self.since >= GESTURE_WAIT_S:
                self._go(Where.HOME, now, "going out, but no door followed")
            elif self.holiday_until is not None and wall >= self.holiday_until:
                self._go(Where.HOME, now, "the holiday ended before she left")
            return False
        if self.state is Where.HOLIDAY and self.holiday_until and wall >= self.holiday_until:
            end = clock_text(self.holiday_until.astimezone(self.tz))
            self._go(Where.HOME, now, f"the holiday ended at {end}")
            return True
        return False

    def explain(self, now: float) -> str:
        """One line: where she is and why."""
        if self.state is Where.HOME:
            text = "home" + (f" ({self.why})" if self.why else "")
        else:
            mins = (now - self.since) / 60
            text = f"{self.state.value} for {mins:.0f} min ({self.why})"
            if self.holiday_until is not None:
                text += f", until {self.holiday_until.astimezone(self.tz):%Y-%m-%d %H:%M}"
        if self.wearable is not None and self.wearable_seen is not None:
            near = "near" if self.wearable else "gone"
            text += f"; wearable {near} since {self._at(self.wearable_seen)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (monotonic times are not kept: a restart starts them again)."""
        return {
            "state": self.state.value,
            "why": self.why,
            "after_leaving": self.after_leaving.value,
            "holiday_until": self.holiday_until.isoformat() if self.holiday_until else None,
            "wearable": self.wearable,
            "wearable_seen": self.wearable_seen.to_dict() if self.wearable_seen else None,
        }

    def restore(self, raw: dict[str, Any], now: float) -> None:
        """Load what to_dict wrote; a state's settle time restarts from now."""
        self.state = Where(raw.get("state", "home"))
        self.since = now
        self.why = str(raw.get("why", ""))
        self.after_leaving = Where(raw.get("after_leaving", "away"))
        until = raw.get("holiday_until")
        self.holiday_until = datetime.fromisoformat(until) if until else None
        wearable = raw.get("wearable")
        self.wearable = None if wearable is None else bool(wearable)
        seen = raw.get("wearable_seen")
        self.wearable_seen = Seen.from_dict(seen) if seen else None

"""Learned routine: alert when today's quiet period is longer than usual for this time of day.

Profile: for each of the last `ROUTINE_DAYS` local days, the 5-minute slots in which a sign
of life was seen. For a time of day, a day's quiet is the whole quiet period spanning it
(last activity before to first activity after); the usual quiet is the second-longest of
those over the learned days (one odd day must not teach that anything goes).

An alert (`routine_deviation`, a warning, not an alarm: it is learned, not configured)
fires at time T when today's quiet exceeds the usual quiet at T - `ROUTINE_MARGIN_MIN`
plus that margin, and only at times she is usually active (ROUTINE_USUALLY_ACTIVE_DAYS).
The explanation names her usual last activity: "no activity since 07:40; usually active
by 12:00". Off until `ROUTINE_DAYS` full days are learned (issue 3).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, timedelta
from typing import Any

from hub.care.anchor import Anchor
from hub.care.base import Output
from hub.care.config import CareConfig
from hub.clock import Clock
from hub.event import Draft, Priority

ROUTINE_DAYS = 14  # issue 3: a profile over the last 14 days
SLOT_MIN = 5  # resolution of the profile
SLOTS = 24 * 60 // SLOT_MIN
# Margin above the usual quiet at this time: a hub choice to keep false alarms
# rare; the configured survival and inactivity checks remain the hard limits.
ROUTINE_MARGIN_MIN = 60
# Lookback in which activity must usually be seen for the time to count as an active one.
ROUTINE_LOOKBACK_MIN = 120
# She is "usually active" at a time of day when at least this many of the learned days had
# activity in the lookback before it (12 of 14, ~85 %); otherwise (asleep, often out) the
# routine says nothing and the configured checks stand alone.
ROUTINE_USUALLY_ACTIVE_DAYS = 12
# Odd days ignored when taking the usual quiet (second-longest of 14 ~ 93rd percentile).
ROUTINE_ODD_DAYS = 1
# A summary of each day (active slots, first slot from 04:00, last slot) is kept this many
# days after the profile forgets the day, for the family page's 30-day trend (issue 22):
# about 1 KiB in the care state, written with it (no write of its own).
HISTORY_DAYS = 30
DAY_FROM_SLOT = 4 * 60 // SLOT_MIN  # "got up": the first activity from 04:00


def day_summary(slots: list[int]) -> list[int]:
    """[active slots, first active slot from 04:00 (-1: none), last active slot (-1)]."""
    morning = [s for s in slots if s >= DAY_FROM_SLOT]
    return [len(slots), morning[0] if morning else -1, slots[-1] if slots else -1]


def _slot(local: datetime) -> int:
    return (local.hour * 60 + local.minute) // SLOT_MIN


class RoutineCheck:
    """Learns the activity profile and explains each deviation in words."""

    def __init__(self, cfg: CareConfig) -> None:
        self.cfg = cfg
        self.days: dict[str, list[int]] = {}  # local date -> sorted active slots
        # local date -> day_summary, for days the profile no longer holds (HISTORY_DAYS)
        self.history: dict[str, list[int]] = {}
        self.alerted = False
        self._cache: dict[tuple[date, int], int | None] = {}

    def on_sign(self, local: datetime | None) -> None:
        """Record a sign of life in today's profile."""
        self.alerted = False
        if local is None:
            return
        slots = self.days.setdefault(local.date().isoformat(), [])
        s = _slot(local)
        if not slots or slots[-1] != s:
            slots.append(s)
            slots.sort()
        cutoff = (local.date() - timedelta(days=ROUTINE_DAYS + 1)).isoformat()
        forgotten = [k for k in self.days if k < cutoff]
        for key in forgotten:
            self.history[key] = day_summary(self.days.pop(key))
        if forgotten:
            oldest = (local.date() - timedelta(days=HISTORY_DAYS)).isoformat()
            for key in [k for k in self.history if k < oldest]:
                del self.history[key]

    def _gap_at(self, day: date, slot: int) -> int | None:
        """Quiet minutes reaching `slot` on a learned day, or None when unknown."""
        today = self.days.get(day.isoformat(), [])
        i = bisect_right(today, slot)
        if i:
            return (slot - today[i - 1]) * SLOT_MIN
        before = self.days.get((day - timedelta(days=1)).isoformat())
        if not before:
            return None
        return (slot + SLOTS - before[-1]) * SLOT_MIN

    def _span(self, day: date, slot: int) -> int | None:
        """Length in minutes of the quiet period spanning `slot` on a learned day."""
        gap = self._gap_at(day, slot)
        if gap is None:
            return None
        active = self.days.get(day.isoformat(), [])
        i = bisect_right(active, slot)
        if i < len(active):
            return gap + (active[i] - slot) * SLOT_MIN
        after = self.days.get((day + timedelta(days=1)).isoformat())
        end = SLOTS + after[0] if after else SLOTS
        return gap + (end - slot) * SLOT_MIN

    def _typical_gap(self, today: date, slot: int) -> int:
        """Median minutes since the last activity at this time on the learned days."""
        days = [today - timedelta(days=n) for n in range(1, ROUTINE_DAYS + 1)]
        gaps = sorted(g for d in days if (g := self._gap_at(d, slot)) is not None)
        return gaps[len(gaps) // 2] if gaps else 0

    def usual_quiet_min(self, today: date, slot: int) -> int | None:
        """The usual longest quiet around this time (see module); None while learning."""
        key = (today, slot)
        if key in self._cache:
            return self._cache[key]
        learned = [today - timedelta(days=n) for n in range(1, ROUTINE_DAYS + 1)]
        usual = None
        if all(d.isoformat() in self.days for d in learned):
            gaps = [g for d in learned if (g := self._span(d, slot)) is not None]
            first = max(0, slot - ROUTINE_LOOKBACK_MIN // SLOT_MIN)
            active_days = sum(
                1 for d in learned if any(first <= x <= slot for x in self.days[d.isoformat()])
            )
            if len(gaps) == ROUTINE_DAYS and active_days >= ROUTINE_USUALLY_ACTIVE_DAYS:
                usual = sorted(gaps)[-1 - ROUTINE_ODD_DAYS]
        self._cache = {key: usual}
        return usual

    def tick(self, clock: Clock, local: datetime | None, last_sign: Anchor) -> Output:
        """routine_deviation when the present quiet is unusually long for this time of day."""
        if local is None or self.alerted:
            return Output()
        ref = local - timedelta(minutes=ROUTINE_MARGIN_MIN)
        usual = self.usual_quiet_min(ref.date(), _slot(ref))
        if usual is None:
            return Output()
        quiet_min = last_sign.elapsed(clock) / 60
        if quiet_min <= usual + ROUTINE_MARGIN_MIN:
            return Output()
        self.alerted = True
        since = local - timedelta(minutes=quiet_min)
        slot_start = ref.replace(minute=ref.minute - ref.minute % SLOT_MIN, second=0, microsecond=0)
        by = slot_start - timedelta(minutes=self._typical_gap(ref.date(), _slot(ref)))
        explain = f"no activity since {since:%H:%M}; usually active by {by:%H:%M}"
        draft = Draft.create(
            "routine_deviation",
            clock,
            priority=Priority.WARNING,
            data={"quiet_min": round(quiet_min), "usual_quiet_min": usual, "explain": explain},
        )
        return Output(drafts=[draft])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able profile (at most 15 days x 288 slots) and the days' history."""
        return {"days": self.days, "history": self.history, "alerted": self.alerted}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load the profile saved by to_dict."""
        self.days = {str(k): [int(s) for s in v] for k, v in raw.get("days", {}).items()}
        self.history = {
            str(k): [int(x) for x in v][:3]
            for k, v in raw.get("history", {}).items()
            if isinstance(v, list) and len(v) >= 3
        }
        self.alerted = bool(raw.get("alerted"))

"""Permit join and the walk test: the installer's two state machines (pure, `now` passed in).

Permit join works like Zigbee's: for `permit_join_s` (default 120 s) devices heard but
not paired are offered on the page; the pages pair only a device heard while a window
was open (`pingan-hub devices pair` stays free to pair anything in the inbox).
The walk test is a checklist of every paired device (and the hub's own red and green
buttons) that ticks itself off as each one is heard, plus a test alarm through the real
path; its report becomes a `walk_test` event. While it runs, an alarm raised by a device
on the checklist is still stored and sent the real way (nothing is dropped: a real
emergency still reaches the centre) but is flagged `test` with the walk test's id, as
Tunstall and Essence walk-test modes do. It ends by itself at `deadline`, so a forgotten
walk test never leaves real alarms flagged as tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Candidates offered at most (neighbours' 433 MHz gear can be chatty).
MAX_CANDIDATES = 32


@dataclass
class Candidate:
    """A device heard while permit join was open."""

    key: str
    protocol: str
    kind: str
    rssi: int | None
    count: int
    last_heard: float


class PermitJoin:
    """The permit-join window and what was heard during it."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.open_until = 0.0
        self.candidates: dict[str, Candidate] = {}

    def open(self, now: float) -> None:
        """Open (or extend) the window for window_s from now."""
        self.open_until = now + self.window_s

    def close(self) -> None:
        """Close the window now (candidates already heard stay pairable)."""
        self.open_until = 0.0

    def remaining(self, now: float) -> float:
        """Seconds the window stays open (0 when closed)."""
        return max(0.0, self.open_until - now)

    def heard(self, key: str, protocol: str, kind: str, rssi: int | None, now: float) -> bool:
        """An unpaired device was heard; True when it is (now) a candidate."""
        old = self.candidates.get(key)
        if old is None and self.remaining(now) <= 0:
            return False
        if old is None:
            if len(self.candidates) >= MAX_CANDIDATES:
                oldest = min(self.candidates.values(), key=lambda c: c.last_heard)
                del self.candidates[oldest.key]
            self.candidates[key] = Candidate(key, protocol, kind, rssi, 1, now)
        else:
            old.count += 1
            old.last_heard = now
            old.rssi = rssi if rssi is not None else old.rssi
        return True

    def paired(self, key: str) -> None:
        """A candidate was paired: it leaves the list."""
        self.candidates.pop(key, None)


@dataclass
class CheckItem:
    """One device of the walk test."""

    key: str
    name: str
    room: str
    kind: str
    heard_at: str | None = None  # wall time ISO-8601 when it was triggered


@dataclass
class WalkTest:
    """The walk test in progress."""

    started: str
    items: dict[str, CheckItem] = field(default_factory=dict)
    alarm_id: str | None = None
    alarm_state: str = ""
    id: str = ""
    deadline: float = math.inf  # monotonic: it ends by itself then
    test_alarms: list[str] = field(default_factory=list)  # alarms it flagged as tests

    def running(self, now: float) -> bool:
        """Still on (it ends by itself at its deadline, finished or not)."""
        return now < self.deadline

    def remaining(self, now: float) -> float:
        """Seconds until it ends by itself."""
        return max(0.0, self.deadline - now)

    def flags(self, device: str | None, test: bool, now: float) -> bool:
        """Whether an alarm raised now from `device` is the installer's: a test alarm
        already, or from a device on the checklist, while the walk test runs."""
        return self.running(now) and (test or (device is not None and device in self.items))

    def flagged(self, alarm_id: str) -> None:
        """An alarm was sent as this walk test's; the first is its test alarm."""
        self.test_alarms.append(alarm_id)
        if self.alarm_id is None:
            self.alarm_id = alarm_id

    def heard(self, key: str, at: str) -> bool:
        """A paired device was triggered; True when this ticked it off (first time)."""
        item = self.items.get(key)
        if item is None or item.heard_at is not None:
            return False
        item.heard_at = at
        return True

    @property
    def done(self) -> int:
        """How many devices were heard."""
        return sum(1 for i in self.items.values() if i.heard_at)

    def report(self, finished: str, ended: str = "finished") -> dict[str, Any]:
        """The walk_test event's data; `ended` is "finished" (by the installer),
        "timeout" (by itself) or "hub_stopped" (the hub stopped while it ran)."""
        return {
            "id": self.id,
            "started": self.started,
            "ended": ended,
            "finished": finished,
            "devices": [
                {
                    "device": i.key,
                    "name": i.name,
                    "room": i.room,
                    "kind": i.kind,
                    "ok": i.heard_at is not None,
                    "heard_at": i.heard_at,
                }
                for i in self.items.values()
            ],
            "passed": self.done,
            "total": len(self.items),
            "test_alarm": {"id": self.alarm_id, "state": self.alarm_state or None},
            "test_alarms": list(self.test_alarms),
            "complete": self.done == len(self.items) and self.alarm_state in DELIVERED_STATES,
        }


# The test alarm has reached the centre once it is in one of these states.
DELIVERED_STATES = ("acknowledged", "dispatched", "closed")

__all__ = ["DELIVERED_STATES", "Candidate", "CheckItem", "PermitJoin", "WalkTest"]

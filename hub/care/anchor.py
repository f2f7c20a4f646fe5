"""The last sign of life, kept on both clocks so it survives a restart.

Monotonic time does not survive a reboot, and a Pi has no RTC. Rule: the anchor is
persisted as the *wall* time of the last sign of life plus whether the wall clock was
synced then. On restore, when both that saved time and the current clock are synced, the
monotonic anchor is placed `now - saved_wall` seconds in the past, so the 24 h window
continues where it was. When the clock is not synced yet, the window restarts at boot
(never later) and the saved wall time is kept pending; as soon as the clock syncs, the
anchor moves back to the saved time if that is earlier. A restart can therefore delay
nothing beyond one boot-to-sync interval, and never resets the window once synced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.clock import Clock


class Anchor:
    """A moment on the monotonic clock with its wall time, restorable across a reboot."""

    def __init__(self, mono: float, wall: datetime, wall_synced: bool) -> None:
        self.mono = mono
        self.wall = wall
        self.wall_synced = wall_synced
        self.pending_wall: datetime | None = None

    @classmethod
    def now(cls, clock: Clock) -> Anchor:
        """An anchor at the current moment."""
        return cls(clock.monotonic(), clock.now(), clock.synced())

    def elapsed(self, clock: Clock) -> float:
        """Seconds since the anchor, on the monotonic clock."""
        self.resolve(clock)
        return clock.monotonic() - self.mono

    def resolve(self, clock: Clock) -> None:
        """Once the clock is synced, move a pending restored anchor back to its saved time."""
        if self.pending_wall is None or not clock.synced():
            return
        back = max(0.0, (clock.now() - self.pending_wall).total_seconds())
        self.mono = min(self.mono, clock.monotonic() - back)
        self.wall = self.pending_wall
        self.wall_synced = True
        self.pending_wall = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (wall time only: monotonic time dies with the process)."""
        wall = self.pending_wall or self.wall
        synced = self.wall_synced or self.pending_wall is not None
        return {"wall": wall.isoformat(), "synced": synced}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], clock: Clock) -> Anchor:
        """Restore after a restart, following the rule in the module docstring."""
        wall = datetime.fromisoformat(str(raw["wall"]))
        anchor = cls(clock.monotonic(), clock.now(), clock.synced())
        if bool(raw.get("synced")):
            anchor.pending_wall = wall
            anchor.resolve(clock)
        return anchor

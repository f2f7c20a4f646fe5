"""Clocks: wall time for timestamps, monotonic time for durations.

A Raspberry Pi has no RTC: wall time can jump at boot when NTP syncs. Durations
(timeouts, windows) therefore use the monotonic clock, and timestamps carry a
`clock_synced` flag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

# systemd-timesyncd touches this file each time it synchronises the clock.
_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
# Before this date the clock cannot be right: the software did not exist yet.
_EARLIEST_PLAUSIBLE = datetime(2026, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    """What the pure logic needs of time."""

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        ...

    def synced(self) -> bool:
        """Whether the wall clock is believed correct."""
        ...


class SystemClock:
    """The real clocks of the machine."""

    def now(self) -> datetime:
        """Wall-clock time, UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def synced(self) -> bool:
        """True when timesyncd says so, or the clock is at least plausible."""
        if _TIMESYNC_FLAG.exists():
            return True
        return self.now() >= _EARLIEST_PLAUSIBLE


@dataclass
class FakeClock:
    """A clock the tests move by hand; wall and monotonic advance together."""

    wall: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    mono: float = 1000.0
    is_synced: bool = True

    def now(self) -> datetime:
        """The fake wall time."""
        return self.wall

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self.mono

    def synced(self) -> bool:
        """The fake sync flag."""
        return self.is_synced

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def jump_wall(self, seconds: float) -> None:
        """Jump only the wall clock (an NTP step), as at boot on a Pi."""
        self.wall += timedelta(seconds=seconds)


class ScaledClock:
    """Real time run `speed` times faster, for soak runs.

    The hub's loops still pause in real time (their periods are shortened by the
    caller); every timer that reads this clock (alarm resends and escalation, care
    windows, supervision, the health archive's buckets, timestamps) sees days pass
    in minutes.
    """

    def __init__(self, speed: float, wall: datetime | None = None) -> None:
        self.speed = speed
        self._real0 = time.monotonic()
        self._wall0 = wall or datetime.now(UTC)

    def elapsed(self) -> float:
        """Simulated seconds since this clock was made."""
        return (time.monotonic() - self._real0) * self.speed

    def now(self) -> datetime:
        """The simulated wall time."""
        return self._wall0 + timedelta(seconds=self.elapsed())

    def monotonic(self) -> float:
        """The simulated monotonic time."""
        return 1000.0 + self.elapsed()

    def synced(self) -> bool:
        """The simulated clock is always right."""
        return True

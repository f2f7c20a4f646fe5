"""Shared pieces of the care checks: local actions, the step output, time helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from hub.event import Draft


@dataclass(frozen=True)
class Speak:
    """Play a spoken prompt by id (hub/voice resolves the language)."""

    prompt_id: str


@dataclass(frozen=True)
class Led:
    """Show an LED pattern on the hub."""

    pattern: str


@dataclass(frozen=True)
class Siren:
    """Sound the local siren (on=False silences it)."""

    on: bool = True


Action = Speak | Led | Siren


@dataclass(frozen=True)
class Evidence:
    """What an alarm rested on, for the centre and `simulate --explain`: lines a care
    manager reads, and the readings themselves (hub.care.signs.Seen.to_dict())."""

    lines: tuple[str, ...] = ()
    readings: tuple[dict[str, str], ...] = ()


@dataclass
class Output:
    """What one step of the checks produced: events to store and local actions to run."""

    drafts: list[Draft] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        """Append another step's output to this one."""
        self.drafts += other.drafts
        self.actions += other.actions


def local_now(now_utc: datetime, tz: ZoneInfo) -> datetime:
    """The wall time in the elder's timezone."""
    return now_utc.astimezone(tz)


def in_window(t: time, start: time, end: time) -> bool:
    """Whether local time `t` is inside [start, end); windows may cross midnight."""
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def parse_hhmm(text: str) -> time:
    """'07:30' -> time(7, 30); ValueError when it is not HH:MM."""
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def parse_clock(text: str) -> time:
    """'07:30' or '07:30:15' -> a local time of day; ValueError otherwise."""
    parts = text.split(":")
    if len(parts) == 3:
        return time(int(parts[0]), int(parts[1]), int(parts[2]))
    return parse_hhmm(text)


def clock_text(t: datetime) -> str:
    """A local time as the timelines show it: 'HH:MM', with ':SS' only when not zero."""
    return f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}"

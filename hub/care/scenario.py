"""Replay a care scenario on a fake clock through the real checks; print the timeline.

Scenario file format (plain text, one line per thing, `#` starts a comment):

    title   Mrs Chen, a normal week            # free text shown in the timeline
    start   2026-03-28                         # local date of day 1 (default 2026-11-02)
    days    7                                  # how long to run (overridable by --days)
    config  timezone = "Europe/London"         # one [care] option in TOML syntax
    config  inactivity = [{mode = "window", start = "07:00", end = "10:00"}]
    daily   07:10 motion pir:kitchen           # happens every day at that local time
    day 2   07:12 button gpio:ok               # happens once, on day 2
    day 3   02:10 door door:front open=true    # <kind> <device> [field=value ...]
    day 4   12:00 reboot                       # the hub restarts (monotonic clock resets)
    day 4   12:00 clock_wrong 2026-01-01 00:00 # wall clock wrong and unsynced (no RTC)
    day 4   12:02 clock_sync                   # NTP steps the wall clock to the true time

Times are the elder's local time (the `timezone` option, default Asia/Shanghai). The
runner advances one minute at a time: at each minute it feeds that minute's lines in file
order, then calls `tick()`; so an event is timed to the minute. A button reading defaults
to `action=press`; field values are numbers, true/false or words. A door, motion, smoke,
gas, water or button line says its state with a field (`open=false`, `motion=false`,
`alarm=false`) the way the hub's attribution reads it; a line with no such field is the
active state (motion seen, door open, detector in alarm, button pressed).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import Action, Led, Output, Siren, Speak, parse_hhmm
from hub.care.config import CareConfig, parse_care_config
from hub.care.engine import CareEngine
from hub.clock import FakeClock
from hub.errors import ConfigError
from hub.reading import Reading, State
from hub.sensors.attribute import attribute

DEFAULT_START = date(2026, 11, 2)
TICK_S = 60  # the app ticks once a minute; events are therefore timed to the minute
_DIRECTIVES = ("reboot", "restart", "clock_wrong", "clock_sync")
_STATEFUL_KINDS = ("door", "motion", "smoke", "gas", "water", "button")


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened: an event raised, or (when asked) a local action."""

    day: int
    time: str  # local HH:MM
    kind: str  # event kind, or "say", "led", "siren" for actions
    priority: int | None  # event priority; None for an action
    detail: str = ""


@dataclass(frozen=True)
class Step:
    """One scripted line at a true instant."""

    at: datetime  # UTC
    order: int
    words: tuple[str, ...]


@dataclass
class Scenario:
    """A parsed scenario file."""

    title: str
    start: date
    days: int
    cfg: CareConfig
    steps: list[Step]


def _value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_scenario(text: str, name: str = "scenario", days: int | None = None) -> Scenario:
    """Parse scenario text (`days` overrides its own); ConfigError names every bad line."""
    problems: list[str] = []
    title, start, file_days = name, DEFAULT_START, 7
    config_lines: list[str] = []
    timed: list[tuple[int | None, str, tuple[str, ...], int]] = []
    for no, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        head = words[0]
        try:
            if head == "title":
                title = " ".join(words[1:])
            elif head == "start":
                start = date.fromisoformat(words[1])
            elif head == "days":
                file_days = int(words[1])
            elif head == "config":
                config_lines.append(line.split("config", 1)[1].split("#", 1)[0].strip())
            elif head == "daily":
                parse_hhmm(words[1])
                timed.append((None, words[1], tuple(words[2:]), no))
            elif head == "day":
                parse_hhmm(words[2])
                timed.append((int(words[1]), words[2], tuple(words[3:]), no))
            else:
                problems.append(f"{name}:{no}: unknown line start {head!r}")
        except (ValueError, IndexError):
            problems.append(f"{name}:{no}: cannot read {line.strip()!r}")
    cfg = CareConfig()
    try:
        cfg = parse_care_config(tomllib.loads("\n".join(config_lines)))
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{name}: config lines are not TOML: {exc}")
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    days = days or file_days
    tz = cfg.tz
    steps = []
    for day, hhmm, what, no in timed:
        if not what:
            raise ConfigError([f"{name}:{no}: nothing happens on this line"])
        for d in range(1, days + 1) if day is None else [day]:
            local = datetime.combine(start + timedelta(days=d - 1), parse_hhmm(hhmm), tzinfo=tz)
            steps.append(Step(local.astimezone(UTC), no, what))
    steps.sort(key=lambda s: (s.at, s.order))
    return Scenario(title, start, days, cfg, steps)


def _reading(words: tuple[str, ...]) -> Reading:
    kind, device = words[0], words[1] if len(words) > 1 else "sim"
    values: dict[str, Any] = {}
    for item in words[2:]:
        key, _, raw = item.partition("=")
        values[key] = _value(raw)
    if kind == "button":
        values.setdefault("action", "press")
    reading = attribute(Reading(device=device, protocol="sim", kind=kind, values=values), kind)
    if reading.state is None and kind in _STATEFUL_KINDS and len(words) == 2:
        reading = attribute(replace(reading, state=State.ALARM), kind)
    return reading


class _Runner:
    def __init__(self, sc: Scenario, include_actions: bool) -> None:
        self.sc = sc
        self.tz: ZoneInfo = sc.cfg.tz
        self.include_actions = include_actions
        t0 = datetime.combine(sc.start, datetime.min.time(), tzinfo=self.tz).astimezone(UTC)
        self.true_now = t0
        self.clock = FakeClock(wall=t0)
        self.engine = CareEngine(sc.cfg, self.clock)
        self.timeline: list[TimelineEntry] = []

    def _stamp(self) -> tuple[int, str]:
        local = self.true_now.astimezone(self.tz)
        return (local.date() - self.sc.start).days + 1, f"{local:%H:%M}"

    def _record(self, out: Output) -> None:
        day, hhmm = self._stamp()
        for d in out.drafts:
            detail = str(d.data.get("explain", d.data.get("measure", "")))
            self.timeline.append(TimelineEntry(day, hhmm, d.kind, int(d.priority), detail))
        if self.include_actions:
            for a in out.actions:
                self.timeline.append(TimelineEntry(day, hhmm, _action(a), None, _detail(a)))

    def _directive(self, words: tuple[str, ...]) -> None:
        saved = json.loads(json.dumps(self.engine.to_dict()))
        if words[0] == "reboot":
            self.clock.mono = 10.0  # monotonic time starts again after a reboot
            self.engine = CareEngine.from_dict(self.sc.cfg, self.clock, saved)
        elif words[0] == "restart":
            self.engine = CareEngine.from_dict(self.sc.cfg, self.clock, saved)
        elif words[0] == "clock_wrong":
            wrong = datetime.fromisoformat(f"{words[1]}T{words[2]}").replace(tzinfo=self.tz)
            self.clock.wall = wrong.astimezone(UTC)
            self.clock.is_synced = False
        elif words[0] == "clock_sync":
            self.clock.wall = self.true_now
            self.clock.is_synced = True

    def run(self, days: int) -> list[TimelineEntry]:
        end = self.true_now + timedelta(days=days)
        steps = [s for s in self.sc.steps if s.at < end]
        i = 0
        while self.true_now < end:
            while i < len(steps) and steps[i].at <= self.true_now:
                words = steps[i].words
                if words[0] in _DIRECTIVES:
                    self._directive(words)
                else:
                    self._record(self.engine.feed(_reading(words)))
                i += 1
            self._record(self.engine.tick())
            self.true_now += timedelta(seconds=TICK_S)
            self.clock.advance(TICK_S)
        return self.timeline


def _action(a: Action) -> str:
    if isinstance(a, Speak):
        return "say"
    if isinstance(a, Led):
        return "led"
    return "siren"


def _detail(a: Action) -> str:
    if isinstance(a, Speak):
        return a.prompt_id
    if isinstance(a, Led):
        return a.pattern
    return "on" if isinstance(a, Siren) and a.on else "off"


def simulate_text(
    text: str, days: int | None = None, *, include_actions: bool = False
) -> list[TimelineEntry]:
    """Replay scenario text; the timeline of events (and actions when asked)."""
    sc = parse_scenario(text, days=days)
    return _Runner(sc, include_actions).run(sc.days)


def simulate(
    scenario_path: str | Path, days: int | None = None, *, include_actions: bool = False
) -> list[TimelineEntry]:
    """Replay a scenario file for `days` (default: its own `days` line); the event timeline."""
    path = Path(scenario_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    sc = parse_scenario(text, path.name, days)
    return _Runner(sc, include_actions).run(sc.days)


def format_timeline(entries: list[TimelineEntry], title: str = "") -> str:
    """Human-readable timeline, one line per entry; says so when nothing happened."""
    lines = [title] if title else []
    for e in entries:
        prio = f"p{e.priority}" if e.priority is not None else "  "
        extra = f"  {e.detail}" if e.detail else ""
        lines.append(f"day {e.day:>2} {e.time}  {prio}  {e.kind}{extra}")
    if not entries:
        lines.append("no events")
    return "\n".join(lines)

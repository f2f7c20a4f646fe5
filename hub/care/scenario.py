"""Replay a care scenario on a fake clock through the real checks; print the timeline.

Scenario file format (plain text, one line per thing, `#` starts a comment):

    title   Mrs Chen, a normal week            # free text shown in the timeline
    start   2026-03-28                         # local date of day 1 (default 2026-11-02)
    days    7                                  # how long to run (overridable by --days)
    config  timezone = "Europe/London"         # one [care] option in TOML syntax
    config  inactivity = [{mode = "window", start = "07:00", end = "10:00"}]
    device  pir:bath motion 卫生间               # a paired device: key, kind, room (registry)
    device  band:wrist wearable                # the elder's wristband (vitals, movement)
    daily   07:10 motion pir:kitchen           # happens every day at that local time
    every   10min 07:00-22:00 heart_rate band:wrist bpm=72   # daily, every 10 min (or 30s)
    day 2   every 5min 09:00-09:30 motion pir:living motion=false   # on day 2 only
    day 2   07:12 button gpio:ok               # happens once, on day 2
    day 3   02:10:30 door door:front open=true # <kind> <device> [field=value ...]; seconds
    day 3   09:00 press red                    # the hub's red SOS button (raises `sos`)
    day 3   09:05 press green                  # the green "I'm OK" button (check-in)
    day 3   09:10 hold green                   # a long press of the green button
    day 3   11:00 offline pir:bath             # supervision reports the device silent
    day 3   11:30 online pir:bath              # ... and heard again
    day 3   12:00 battery pir:bath 15          # a report with only the battery percentage
    day 3   12:05 activity band:wrist steps=840 # the wearable's movement (or moving=true)
    day 3   13:00 family out                   # the family page: "she is out with us"
    day 3   18:00 family home                  # ... "she is home"
    day 5   08:00 family holiday 2026-11-20    # ... a holiday through that day (or add HH:MM)
    day 4   12:00 reboot                       # the hub restarts (monotonic clock resets)
    day 4   12:00 clock_wrong 2026-01-01 00:00 # wall clock wrong and unsynced (no RTC)
    day 4   12:02 clock_sync                   # NTP steps the wall clock to the true time

Times are the elder's local time (the `timezone` option, default Asia/Shanghai), to the
minute or to the second. The runner calls `tick()` at every whole minute, as the hub does
(at most a minute late), and feeds each line at its own second, in file order, before the
tick of that minute; an event raised by a tick is therefore timed to the minute, one
raised by a reading to its second. A button reading defaults to `action=press`; field
values are numbers, true/false or words. A door, motion, smoke, gas, water or button line
says its state with a field (`open=false`, `motion=false`, `alarm=false`) the way the
hub's attribution reads it; a line with no such field is the active state (motion seen,
door open, detector in alarm, button pressed).

The registry: every `device` line, and every other device named by a reading line as the
kind of its first line (the devices in `care.wearable_devices` as wearables). Readings are
attributed to their paired kind exactly as the hub does (`hub.sensors.attribute`), and the
care checks are given each device's kind and room. What the hub itself adds around the
care checks is shown too, so the timeline is what the centre would receive: a press of
the red button or of a paired pendant is an `sos` alarm, and `offline`, `online` and a
battery at or below supervision's threshold are `sensor_offline`, `sensor_restored` and
`battery_low` (at most daily), as hub.sensors.supervision reports them.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import Action, Led, Output, Siren, Speak, clock_text, parse_clock
from hub.care.config import CareConfig, parse_care_config
from hub.care.engine import CareEngine
from hub.care.rooms import Paired
from hub.clock import FakeClock
from hub.errors import ConfigError
from hub.event import KIND_PRIORITY, Priority
from hub.reading import Reading, State
from hub.sensors.attribute import attribute
from hub.sensors.supervision import BATTERY_LOW_PERCENT, BATTERY_REPEAT

DEFAULT_START = date(2026, 11, 2)
TICK_S = 60  # the hub ticks the checks every 15 s; a minute keeps month-long runs quick
_DIRECTIVES = ("reboot", "restart", "clock_wrong", "clock_sync")
_STATEFUL_KINDS = ("door", "motion", "smoke", "gas", "water", "button")
# The hub's own buttons (hub.sensors.gpio): `press red` is the SOS button, `press green`
# the "I'm OK" button.
HUB_BUTTONS = {"red": "gpio:sos", "green": "gpio:ok"}
# Lines that are not a reading: what they need after the word.
_SPECIAL = {"press": 1, "hold": 1, "offline": 1, "online": 1, "battery": 2, "family": 1}


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened: an event raised, or (when asked) a local action.

    `why` and `data` (not compared) are what the rule that decided says about it (its
    explanation and the readings it rested on, for `simulate --explain`) and the event's
    data as the centre would receive it."""

    day: int
    time: str  # local HH:MM, or HH:MM:SS when not on the minute
    kind: str  # event kind, or "say", "led", "siren" for actions
    priority: int | None  # event priority; None for an action
    detail: str = ""
    why: tuple[str, ...] = field(default=(), compare=False)
    data: dict[str, Any] = field(default_factory=dict, compare=False)


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
    devices: dict[str, Paired] = field(default_factory=dict)


def _value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _check_what(what: tuple[str, ...]) -> None:
    """ValueError when a timed line cannot be run (found at parse time, not mid-run)."""
    if not what:
        raise ValueError("nothing happens on this line")
    head = what[0]
    need = _SPECIAL.get(head)
    if head == "family":
        _family(what)
    elif need is not None and len(what) != need + 1:
        raise ValueError(f"{head} takes {need} word(s)")
    if head in ("press", "hold") and what[1] not in HUB_BUTTONS:
        raise ValueError(f"{head} red|green")
    if head == "battery":
        int(what[2])


def _family(what: tuple[str, ...]) -> datetime | None:
    """`family out|home` -> None; `family holiday DATE [HH:MM]` -> its local end."""
    if what[1:] in (("out",), ("home",)):
        return None
    if len(what) in (3, 4) and what[1] == "holiday":
        end = datetime.fromisoformat(what[2])
        if len(what) == 3:
            return end + timedelta(days=1)  # through that day, as care.holiday_until
        t = parse_clock(what[3])
        return end.replace(hour=t.hour, minute=t.minute, second=t.second)
    raise ValueError("family out | family home | family holiday YYYY-MM-DD [HH:MM]")


def _every(interval: str, span: str) -> list[str]:
    """'10min', '07:00-08:00' -> ['07:00:00', '07:10:00', ...] (both ends included)."""
    if interval.endswith("min"):
        step = int(interval.removesuffix("min")) * 60
    else:
        step = int(interval.removesuffix("s"))
    first, _, last = span.partition("-")
    t0, t1 = parse_clock(first), parse_clock(last)
    lo = t0.hour * 3600 + t0.minute * 60 + t0.second
    hi = t1.hour * 3600 + t1.minute * 60 + t1.second
    if step <= 0 or hi < lo:
        raise ValueError("every: a positive interval and a span that does not cross midnight")
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(lo, hi + 1, step)]


def parse_scenario(text: str, name: str = "scenario", days: int | None = None) -> Scenario:
    """Parse scenario text (`days` overrides its own); ConfigError names every bad line."""
    problems: list[str] = []
    title, start, file_days = name, DEFAULT_START, 7
    config_lines: list[str] = []
    devices: dict[str, Paired] = {}
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
            elif head == "device":
                devices[words[1]] = Paired(words[2], " ".join(words[3:]))
            elif head == "daily":
                parse_clock(words[1])
                _check_what(tuple(words[2:]))
                timed.append((None, words[1], tuple(words[2:]), no))
            elif head == "every":
                timed += [(None, t, tuple(words[3:]), no) for t in _every(words[1], words[2])]
                _check_what(tuple(words[3:]))
            elif head == "day" and words[2] == "every":
                on = int(words[1])
                timed += [(on, t, tuple(words[5:]), no) for t in _every(words[3], words[4])]
                _check_what(tuple(words[5:]))
            elif head == "day":
                parse_clock(words[2])
                _check_what(tuple(words[3:]))
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
    for device in cfg.wearable_devices:
        devices.setdefault(device, Paired("wearable"))
    steps = []
    for day, hhmm, what, no in timed:
        if what[0] not in _DIRECTIVES and what[0] not in _SPECIAL and len(what) > 1:
            devices.setdefault(what[1], Paired(what[0]))
        for d in range(1, days + 1) if day is None else [day]:
            local = datetime.combine(start + timedelta(days=d - 1), parse_clock(hhmm), tzinfo=tz)
            steps.append(Step(local.astimezone(UTC), no, what))
    steps.sort(key=lambda s: (s.at, s.order))
    for button in HUB_BUTTONS.values():  # the hub's own, never in the registry
        devices.pop(button, None)
    return Scenario(title, start, days, cfg, steps, devices)


def _reading(words: tuple[str, ...], paired: Paired | None) -> Reading:
    kind, device = words[0], words[1] if len(words) > 1 else "sim"
    values: dict[str, Any] = {}
    for item in words[2:]:
        key, _, raw = item.partition("=")
        values[key] = _value(raw)
    if kind == "button":
        values.setdefault("action", "press")
    as_kind = paired.kind if paired is not None else kind
    reading = attribute(Reading(device=device, protocol="sim", kind=kind, values=values), as_kind)
    if reading.state is None and reading.kind in _STATEFUL_KINDS and len(words) == 2:
        reading = attribute(replace(reading, state=State.ALARM), as_kind)
    return reading


def _hub_button(words: tuple[str, ...], number: int) -> Reading:
    """A press or hold of the hub's red or green button, as hub.sensors.gpio reports it."""
    action, device = words[0], HUB_BUTTONS[words[1]]
    return Reading(
        device=device,
        protocol="gpio",
        kind="button",
        values={"action": action, "press": number},
        state=State.ALARM if action == "press" else None,
    )


class _Runner:
    def __init__(self, sc: Scenario, include_actions: bool) -> None:
        self.sc = sc
        self.tz: ZoneInfo = sc.cfg.tz
        self.include_actions = include_actions
        t0 = datetime.combine(sc.start, datetime.min.time(), tzinfo=self.tz).astimezone(UTC)
        self.true_now = t0
        self.clock = FakeClock(wall=t0)
        self.engine = self._new_engine()
        self.timeline: list[TimelineEntry] = []
        self.presses = 0
        self.offline: set[str] = set()
        self.battery_told: dict[str, float] = {}

    def _new_engine(self, saved: dict[str, Any] | None = None) -> CareEngine:
        engine = (
            CareEngine(self.sc.cfg, self.clock)
            if saved is None
            else CareEngine.from_dict(self.sc.cfg, self.clock, saved)
        )
        engine.know(self.sc.devices)  # the hub does this from its registry at start
        return engine

    def _stamp(self) -> tuple[int, str]:
        local = self.true_now.astimezone(self.tz)
        return (local.date() - self.sc.start).days + 1, clock_text(local)

    def _hub_event(self, kind: str, detail: str) -> None:
        """An event the hub raises around the care checks (SOS path, supervision)."""
        day, hhmm = self._stamp()
        priority = int(KIND_PRIORITY.get(kind, Priority.WARNING))
        self.timeline.append(TimelineEntry(day, hhmm, kind, priority, detail))

    def _record(self, out: Output) -> None:
        day, hhmm = self._stamp()
        for d in out.drafts:
            detail = str(d.data.get("explain", d.data.get("measure", "")))
            why = tuple(str(w) for w in d.data.get("why", ()))
            entry = TimelineEntry(day, hhmm, d.kind, int(d.priority), detail, why, dict(d.data))
            self.timeline.append(entry)
        if self.include_actions:
            for a in out.actions:
                self.timeline.append(TimelineEntry(day, hhmm, _action(a), None, _detail(a)))

    def _directive(self, words: tuple[str, ...]) -> None:
        saved = json.loads(json.dumps(self.engine.to_dict()))
        if words[0] == "reboot":
            self.clock.mono = 10.0  # monotonic time starts again after a reboot
            self.engine = self._new_engine(saved)
        elif words[0] == "restart":
            self.engine = self._new_engine(saved)
        elif words[0] == "clock_wrong":
            wrong = datetime.fromisoformat(f"{words[1]}T{words[2]}").replace(tzinfo=self.tz)
            self.clock.wall = wrong.astimezone(UTC)
            self.clock.is_synced = False
        elif words[0] == "clock_sync":
            self.clock.wall = self.true_now
            self.clock.is_synced = True

    def _health(self, device: str, online: bool) -> None:
        if online and device in self.offline:
            self.offline.discard(device)
            self._hub_event("sensor_restored", device)
        elif not online and device not in self.offline:
            self.offline.add(device)
            self._hub_event("sensor_offline", device)
        else:
            return
        self.engine.device_health(device, online=online)

    def _battery(self, device: str, percent: int) -> None:
        paired = self.sc.devices.get(device, Paired("sensor"))
        now = self.clock.monotonic()
        self._feed(Reading(device, "sim", paired.kind, battery=percent))
        told = self.battery_told.get(device)
        if percent <= BATTERY_LOW_PERCENT and (told is None or now - told >= BATTERY_REPEAT):
            self.battery_told[device] = now
            self._hub_event("battery_low", f"{device} {percent}%")

    def _feed(self, reading: Reading) -> None:
        if reading.device in self.offline:
            self._health(reading.device, online=True)  # heard again: supervision restores it
        paired = self.sc.devices.get(reading.device)
        hub_sos = reading.device == HUB_BUTTONS["red"]
        pendant = paired is not None and paired.kind in ("button", "wearable")
        pressed = reading.values.get("action") == "press"
        if pressed and (hub_sos or pendant):
            self._hub_event("sos", reading.device)  # raised by the SOS path, not the checks
        self._record(self.engine.feed(reading, paired))

    def _step(self, words: tuple[str, ...]) -> None:
        head = words[0]
        if head in _DIRECTIVES:
            self._directive(words)
        elif head in ("press", "hold"):
            if head == "press":
                self.presses += 1
            self._feed(_hub_button(words, self.presses))
        elif head in ("offline", "online"):
            self._health(words[1], online=head == "online")
        elif head == "battery":
            self._battery(words[1], int(words[2]))
        elif head == "family":
            until = _family(words)
            if until is not None:
                self.engine.set_holiday(until, "family")
            elif words[1] == "out":
                self.engine.go_out("family")
            else:
                self.engine.come_home("family")
        else:
            self._feed(_reading(words, self.sc.devices.get(words[1] if len(words) > 1 else "")))

    def _advance_to(self, at: datetime) -> None:
        delta = (at - self.true_now).total_seconds()
        if delta > 0:
            self.true_now = at
            self.clock.advance(delta)

    def run(self, days: int, stop: datetime | None = None) -> list[TimelineEntry]:
        """Run `days` days, or up to and including the instant `stop` (UTC)."""
        end = self.true_now + timedelta(days=days)
        if stop is not None:
            end = min(end, stop + timedelta(microseconds=1))
        steps = [s for s in self.sc.steps if s.at < end]
        tick_at = self.true_now
        i = 0
        while tick_at < end:
            while i < len(steps) and steps[i].at <= tick_at:
                self._advance_to(steps[i].at)
                self._step(steps[i].words)
                i += 1
            self._advance_to(tick_at)
            self._record(self.engine.tick())
            tick_at += timedelta(seconds=TICK_S)
        while i < len(steps):  # lines between the last tick and `stop`
            self._advance_to(steps[i].at)
            self._step(steps[i].words)
            i += 1
        if stop is not None:
            self._advance_to(stop)
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


@dataclass(frozen=True)
class Explained:
    """A scenario run up to an instant: what was raised by then, and every check's state."""

    at: str  # as asked, e.g. "day 3 02:20"
    timeline: list[TimelineEntry]
    state: list[str]


def _parse_at(text: str) -> tuple[int, str]:
    """'3 02:20', 'day 3 02:20:30' -> (3, '02:20:30'); ValueError otherwise."""
    words = text.split()
    if words and words[0] == "day":
        words = words[1:]
    if len(words) != 2:
        raise ValueError(text)
    day = int(words[0])
    parse_clock(words[1])
    if day < 1:
        raise ValueError(text)
    return day, words[1]


def explain_at(scenario_path: str | Path, at: str, *, include_actions: bool = False) -> Explained:
    """Replay a scenario file up to `at` ("DAY HH:MM[:SS]") and say, for every check, what
    it is waiting for and on which readings: why there is an alarm then, or why not."""
    path = Path(scenario_path)
    try:
        text = path.read_text(encoding="utf-8")
        day, hhmm = _parse_at(at)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    except ValueError as exc:
        raise ConfigError([f'--at {at!r}: give a day and a local time, e.g. "3 02:20"']) from exc
    sc = parse_scenario(text, path.name, max(day, 1))
    local = datetime.combine(
        sc.start + timedelta(days=day - 1), parse_clock(hhmm), tzinfo=sc.cfg.tz
    )
    runner = _Runner(sc, include_actions)
    timeline = runner.run(day, stop=local.astimezone(UTC))
    return Explained(f"day {day} {hhmm}", timeline, runner.engine.explain())


def format_timeline(entries: list[TimelineEntry], title: str = "", *, why: bool = False) -> str:
    """Human-readable timeline, one line per entry; says so when nothing happened. With
    `why`, each event is followed by the rule that decided it and the readings it used."""
    lines = [title] if title else []
    for e in entries:
        prio = f"p{e.priority}" if e.priority is not None else "  "
        extra = f"  {e.detail}" if e.detail else ""
        lines.append(f"day {e.day:>2} {e.time}  {prio}  {e.kind}{extra}")
        if why:
            lines += [f"             {w}" for w in e.why]
            if "incident" in e.data:
                lines.append(
                    f"             incident {e.data['incident']} update {e.data['update']}"
                )
    if not entries:
        lines.append("no events")
    return "\n".join(lines)


def format_explained(explained: Explained, title: str = "") -> str:
    """The timeline up to the instant, then every check's state at it."""
    lines = [format_timeline(explained.timeline, title, why=True), f"at {explained.at}:"]
    lines += [f"  {line}" for line in explained.state]
    return "\n".join(lines)

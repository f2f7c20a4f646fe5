"""Typed care options ([care] section) and their validation.

Errors are keyed `care.<option>: ...` like hub/config.py. Defaults and their sources:
- survival_window_h 24: 生存状态确认, Fujian 2024 guidance (service-docs/): "no sign within 24 h".
- prealarm_min 5: Tunstall Vi+ inactivity pre-alarm (5 minutes, spoken, cancellable).
- night_start/night_end 22:00-06:00: the hours in which most elderly falls at home happen
  on the way to or from the toilet (nocturia); a hub choice, set per elder.
- night_visit_min 30: a night toilet visit with no movement anywhere for 30 minutes and no
  return to bed is taken for a fall; a hub choice (an ordinary visit is 2-15 minutes, and
  a long one still shows movement every few minutes), followed by the spoken pre-alarm.
- bathroom_still_day_min 45: by day, a radar in a night_visit_rooms room (bathroom) that
  sees her there, still, for this long with no action of hers -> the pre-alarm ->
  fall_suspected. A hub choice, longer than the 30 min at night: a daytime bath or a slow
  toilet visit is longer than a night one, and a radar sees her breathing and shifting as
  "still", not as gone.
- vitals: see hub/care/vitals.py for each threshold's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.care.base import parse_hhmm
from hub.care.rooms import ROOM_KINDS
from hub.errors import ConfigError

# What can count as the elder acting (hub/care/signs.py says which readings are which):
# motion seen by a PIR, a door transition (opened or closed, not a status report), a
# button press or hold, a help phrase heard, the wearable's own movement (steps, moving).
ACTION_KINDS = ("motion", "door", "button", "voice", "activity")
DEFAULT_SIGN_KINDS = ACTION_KINDS
# Passive readings: they show the wearable is worn, never that she acted. A presence tag
# merely being in range says even less.
PASSIVE_KINDS = ("spo2", "heart_rate", "blood_pressure", "presence")


class InactivityMode(Enum):
    """The three Tunstall Vi+ inactivity modes."""

    CONTINUOUS = "continuous"  # no activity for `hours` at any time of day
    WINDOW = "window"  # no activity at all between start and end
    IDLE_IN_WINDOW = "idle_in_window"  # `minutes` without activity while inside start-end


@dataclass(frozen=True)
class InactivityRule:
    """One inactivity check; several may run per day."""

    mode: InactivityMode
    hours: float = 12.0
    start: time = time(7, 0)
    end: time = time(10, 0)
    minutes: float = 60.0

    @property
    def name(self) -> str:
        """A stable, readable key for state and event data."""
        if self.mode is InactivityMode.CONTINUOUS:
            return f"continuous-{self.hours:g}h"
        span = f"{self.start:%H:%M}-{self.end:%H:%M}"
        if self.mode is InactivityMode.WINDOW:
            return f"window-{span}"
        return f"idle-{self.minutes:g}min-{span}"


@dataclass(frozen=True)
class VitalThresholds:
    """Per-elder limits; a reading outside them must persist `sustained_min` to alert."""

    spo2_low_pct: float = 90.0
    spo2_critical_pct: float = 88.0
    hr_low_bpm: float = 40.0
    hr_high_bpm: float = 130.0
    systolic_high_mmhg: float = 180.0
    systolic_low_mmhg: float = 90.0
    diastolic_high_mmhg: float = 110.0
    sustained_min: float = 5.0


@dataclass(frozen=True)
class CareConfig:
    """Everything the care checks need to know, validated."""

    timezone: str = "Asia/Shanghai"
    sign_of_life_kinds: tuple[str, ...] = DEFAULT_SIGN_KINDS
    excluded_devices: tuple[str, ...] = ()
    survival_window_h: float = 24.0
    survival_repeat_h: float = 6.0  # 0 = raise once until activity clears it
    checkin_enabled: bool = True
    checkin_devices: tuple[str, ...] = ("gpio:ok",)
    checkin_reminder: time | None = time(10, 0)
    checkin_grace_min: float = 120.0
    prealarm_min: float = 5.0
    prealarm_repeat_s: float = 60.0
    inactivity: tuple[InactivityRule, ...] = ()
    wearable_devices: tuple[str, ...] = ()
    night_exit: bool | None = None  # None: on when a door contact is paired
    night_start: time = time(22, 0)
    night_end: time = time(6, 0)
    night_return_min: float = 15.0
    night_visit_min: float = 30.0  # 0 = off
    night_visit_rooms: tuple[str, ...] = ("bathroom",)
    bathroom_still_day_min: float = 45.0  # a radar sees her still there by day; 0 = off
    room_kinds: tuple[tuple[str, str], ...] = ()  # installer's room name -> room kind
    holiday_until: datetime | None = None  # local, naive; set by installer or fleet push
    vitals: VitalThresholds = field(default_factory=VitalThresholds)

    @property
    def tz(self) -> ZoneInfo:
        """The elder's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def room_table(self) -> dict[str, str]:
        """The installer's room name -> room kind table."""
        return dict(self.room_kinds)


def _num(
    raw: dict[str, Any], key: str, default: float, lo: float, hi: float, *, p: list[str]
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        p.append(f"care.{key}: must be a number, got {value!r}")
        return default
    if not lo <= value <= hi:
        p.append(f"care.{key}: {value} is out of range {lo:g}..{hi:g}")
        return default
    return float(value)


def _hhmm(raw: dict[str, Any], key: str, default: time | None, p: list[str]) -> time | None:
    value = raw.get(key)
    if value is None:
        return default
    if value == "":
        return None
    try:
        return parse_hhmm(str(value))
    except ValueError:
        p.append(f'care.{key}: {value!r} is not a local time like "07:30"')
        return default


def _strs(raw: dict[str, Any], key: str, default: tuple[str, ...], p: list[str]) -> tuple[str, ...]:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        p.append(f"care.{key}: must be a list of strings")
        return default
    return tuple(value)


def _kinds(raw: dict[str, Any], p: list[str]) -> tuple[str, ...]:
    kinds = _strs(raw, "sign_of_life_kinds", DEFAULT_SIGN_KINDS, p)
    for kind in kinds:
        if kind == "presence":
            p.append("care.sign_of_life_kinds: presence alone is not a sign of life; remove it")
        elif kind in PASSIVE_KINDS:
            p.append(
                f"care.sign_of_life_kinds: {kind} is a passive vital sign: it shows the "
                "wearable is worn, never that she acted; remove it"
            )
        elif kind not in ACTION_KINDS:
            p.append(f"care.sign_of_life_kinds: {kind!r} is not one of {', '.join(ACTION_KINDS)}")
    return kinds


def _room_kinds(
    raw: dict[str, Any], key: str, default: tuple[str, ...], p: list[str]
) -> tuple[str, ...]:
    kinds = _strs(raw, key, default, p)
    bad = [k for k in kinds if k not in ROOM_KINDS]
    if bad:
        p.append(f"care.{key}: {bad[0]!r} is not a room kind ({', '.join(ROOM_KINDS)})")
        return default
    return kinds


def _room_table(raw: dict[str, Any], p: list[str]) -> tuple[tuple[str, str], ...]:
    table = raw.get("room_kinds", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        p.append('care.room_kinds: must be a table of room name = kind, e.g. {"小房" = "bedroom"}')
        return ()
    bad = [v for v in table.values() if v not in ROOM_KINDS]
    if bad:
        p.append(f"care.room_kinds: {bad[0]!r} is not a room kind ({', '.join(ROOM_KINDS)})")
        return ()
    return tuple(sorted((str(k).strip(), str(v)) for k, v in table.items()))


def _night_exit(raw: dict[str, Any], p: list[str]) -> bool | None:
    value = raw.get("night_exit", "auto")
    if value == "auto":
        return None
    if isinstance(value, bool):
        return value
    p.append(f'care.night_exit: must be true, false or "auto" (on with a door), got {value!r}')
    return None


def _holiday(raw: dict[str, Any], p: list[str]) -> datetime | None:
    """A local end: "2026-12-20" means through that day, "2026-12-20 18:00" until then."""
    value = raw.get("holiday_until", "")
    if value == "":
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text) + timedelta(days=1)
        return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=None)
    except ValueError:
        p.append(
            f'care.holiday_until: {value!r} is not a local date like "2026-12-20" '
            '(through that day) or "2026-12-20 18:00"'
        )
        return None


def _rules(raw: Any, p: list[str]) -> tuple[InactivityRule, ...]:
    if not isinstance(raw, list):
        p.append("care.inactivity: must be a list of tables")
        return ()
    rules = []
    for i, item in enumerate(raw):
        key = f"inactivity[{i}]"
        if not isinstance(item, dict):
            p.append(f"care.{key}: must be a table")
            continue
        try:
            mode = InactivityMode(item.get("mode"))
        except ValueError:
            modes = ", ".join(m.value for m in InactivityMode)
            p.append(f"care.{key}.mode: must be one of {modes}")
            continue
        sub: list[str] = []
        hours = _num(item, "hours", 12.0, 0.5, 72.0, p=sub)
        minutes = _num(item, "minutes", 60.0, 1.0, 24 * 60.0, p=sub)
        start = _hhmm(item, "start", time(7, 0), sub) or time(7, 0)
        end = _hhmm(item, "end", time(10, 0), sub) or time(10, 0)
        p += [s.replace("care.", f"care.{key}.", 1) for s in sub]
        rules.append(InactivityRule(mode, hours, start, end, minutes))
    return tuple(rules)


_KNOWN = {
    "timezone",
    "sign_of_life_kinds",
    "excluded_devices",
    "survival_window_h",
    "survival_repeat_h",
    "checkin_enabled",
    "checkin_devices",
    "checkin_reminder",
    "checkin_grace_min",
    "prealarm_min",
    "prealarm_repeat_s",
    "inactivity",
    "wearable_devices",
    "night_exit",
    "night_start",
    "night_end",
    "night_return_min",
    "night_visit_min",
    "night_visit_rooms",
    "bathroom_still_day_min",
    "room_kinds",
    "holiday_until",
    "vitals",
}


def parse_care_config(raw: dict[str, Any]) -> CareConfig:
    """Validate the [care] table into a CareConfig; ConfigError names every bad option."""
    p: list[str] = []
    for key in raw:
        if key not in _KNOWN:
            p.append(f"care.{key}: unknown option")
    tz = str(raw.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        p.append(f"care.timezone: {tz!r} is not an IANA timezone such as Asia/Shanghai")
    kinds = _kinds(raw, p)
    vit_raw = raw.get("vitals", {})
    if not isinstance(vit_raw, dict):
        p.append("care.vitals: must be a table")
        vit_raw = {}
    vsub: list[str] = []
    d = VitalThresholds()
    vitals = VitalThresholds(
        spo2_low_pct=_num(vit_raw, "spo2_low_pct", d.spo2_low_pct, 50, 100, p=vsub),
        spo2_critical_pct=_num(vit_raw, "spo2_critical_pct", d.spo2_critical_pct, 50, 100, p=vsub),
        hr_low_bpm=_num(vit_raw, "hr_low_bpm", d.hr_low_bpm, 20, 100, p=vsub),
        hr_high_bpm=_num(vit_raw, "hr_high_bpm", d.hr_high_bpm, 60, 250, p=vsub),
        systolic_high_mmhg=_num(
            vit_raw, "systolic_high_mmhg", d.systolic_high_mmhg, 100, 300, p=vsub
        ),
        systolic_low_mmhg=_num(vit_raw, "systolic_low_mmhg", d.systolic_low_mmhg, 50, 150, p=vsub),
        diastolic_high_mmhg=_num(
            vit_raw, "diastolic_high_mmhg", d.diastolic_high_mmhg, 60, 200, p=vsub
        ),
        sustained_min=_num(vit_raw, "sustained_min", d.sustained_min, 0, 120, p=vsub),
    )
    if vitals.spo2_critical_pct > vitals.spo2_low_pct:
        vsub.append(
            f"care.spo2_critical_pct: {vitals.spo2_critical_pct:g} is above spo2_low_pct "
            f"({vitals.spo2_low_pct:g}); the critical level must be the lower one"
        )
    p += [s.replace("care.", "care.vitals.", 1) for s in vsub]
    night_start = _hhmm(raw, "night_start", time(22, 0), p)
    if night_start is None:
        p.append(
            'care.night_start: give a local time like "22:00"; to turn the night-exit '
            "watch off set night_exit = false, the night visit rule night_visit_min = 0"
        )
        night_start = time(22, 0)
    cfg = CareConfig(
        timezone=tz,
        sign_of_life_kinds=kinds,
        excluded_devices=_strs(raw, "excluded_devices", (), p),
        survival_window_h=_num(raw, "survival_window_h", 24.0, 1.0, 168.0, p=p),
        survival_repeat_h=_num(raw, "survival_repeat_h", 6.0, 0.0, 168.0, p=p),
        checkin_enabled=bool(raw.get("checkin_enabled", True)),
        checkin_devices=_strs(raw, "checkin_devices", ("gpio:ok",), p),
        checkin_reminder=_hhmm(raw, "checkin_reminder", time(10, 0), p),
        checkin_grace_min=_num(raw, "checkin_grace_min", 120.0, 1.0, 24 * 60.0, p=p),
        prealarm_min=_num(raw, "prealarm_min", 5.0, 0.0, 60.0, p=p),
        prealarm_repeat_s=_num(raw, "prealarm_repeat_s", 60.0, 10.0, 600.0, p=p),
        inactivity=_rules(raw.get("inactivity", []), p),
        wearable_devices=_strs(raw, "wearable_devices", (), p),
        night_exit=_night_exit(raw, p),
        night_start=night_start,
        night_end=_hhmm(raw, "night_end", time(6, 0), p) or time(6, 0),
        night_return_min=_num(raw, "night_return_min", 15.0, 1.0, 240.0, p=p),
        night_visit_min=_num(raw, "night_visit_min", 30.0, 0.0, 240.0, p=p),
        night_visit_rooms=_room_kinds(raw, "night_visit_rooms", ("bathroom",), p),
        bathroom_still_day_min=_num(raw, "bathroom_still_day_min", 45.0, 0.0, 240.0, p=p),
        room_kinds=_room_table(raw, p),
        holiday_until=_holiday(raw, p),
        vitals=vitals,
    )
    if p:
        raise ConfigError(p)
    return cfg

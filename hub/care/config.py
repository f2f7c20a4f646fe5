"""Typed care options ([care] section) and their validation.

Errors are keyed `care.<option>: ...` like hub/config.py. Defaults and their sources:
- survival_window_h 24: 生存状态确认, Fujian 2024 guidance (service-docs/): "no sign within 24 h".
- prealarm_min 5: Tunstall Vi+ inactivity pre-alarm (5 minutes, spoken, cancellable).
- vitals: see hub/care/vitals.py for each threshold's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.care.base import parse_hhmm
from hub.errors import ConfigError

# Presence (a BLE tag merely being in range) says nothing about the elder being well.
DEFAULT_SIGN_KINDS = (
    "motion",
    "door",
    "button",
    "voice",
    "activity",
    "spo2",
    "heart_rate",
    "blood_pressure",
)


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
    night_start: time | None = None
    night_end: time = time(6, 0)
    night_return_min: float = 15.0
    vitals: VitalThresholds = field(default_factory=VitalThresholds)

    @property
    def tz(self) -> ZoneInfo:
        """The elder's timezone."""
        return ZoneInfo(self.timezone)


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
    "night_start",
    "night_end",
    "night_return_min",
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
    kinds = _strs(raw, "sign_of_life_kinds", DEFAULT_SIGN_KINDS, p)
    if "presence" in kinds:
        p.append("care.sign_of_life_kinds: presence alone is not a sign of life; remove it")
    vit_raw = raw.get("vitals", {})
    if not isinstance(vit_raw, dict):
        p.append("care.vitals: must be a table")
        vit_raw = {}
    vsub: list[str] = []
    d = VitalThresholds()
    vitals = VitalThresholds(
        spo2_low_pct=_num(vit_raw, "spo2_low_pct", d.spo2_low_pct, 50, 100, p=vsub),
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
    p += [s.replace("care.", "care.vitals.", 1) for s in vsub]
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
        night_start=_hhmm(raw, "night_start", None, p),
        night_end=_hhmm(raw, "night_end", time(6, 0), p) or time(6, 0),
        night_return_min=_num(raw, "night_return_min", 15.0, 1.0, 240.0, p=p),
        vitals=vitals,
    )
    if p:
        raise ConfigError(p)
    return cfg

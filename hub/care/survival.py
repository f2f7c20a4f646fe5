"""Survival check (生存状态确认): no action of hers for the window -> survival_overdue.

A pulse from a worn band never resets the window (a fallen elder has a pulse); it only
changes what the alarm says: "alive, but not moving" instead of "no sign of life".
"""

from __future__ import annotations

from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.anchor import Anchor
from hub.care.base import Led, Output, clock_text
from hub.care.config import CareConfig
from hub.care.signs import Seen
from hub.clock import Clock
from hub.event import Draft, Priority

# A vital reading this recent says the band is on her wrist now (bands report every
# 1-10 minutes while worn; half an hour leaves room for a few lost ones).
WORN_RECENT_S = 30 * 60.0


class SurvivalState(Enum):
    """OK until the window runs out; OVERDUE until a sign of life."""

    OK = "ok"
    OVERDUE = "overdue"


class SurvivalCheck:
    """Raises survival_overdue (priority 0) and repeats it every `survival_repeat_h`."""

    def __init__(self, cfg: CareConfig) -> None:
        self.cfg = cfg
        self.state = SurvivalState.OK
        self.alerts = 0
        self.last_alert_idle = 0.0  # idle seconds at the last alert: repeats count from it

    def on_sign(self) -> None:
        """A sign of life clears an overdue state."""
        self.state = SurvivalState.OK
        self.alerts = 0

    def tick(
        self,
        clock: Clock,
        last_sign: Anchor,
        *,
        last_action: Seen | None,
        worn: Seen | None,
        tz: ZoneInfo,
    ) -> Output:
        """Raise or repeat when the time since her last action is long enough; `worn` is
        the last vital reading, if it is recent (WORN_RECENT_S)."""
        out = Output()
        window_s = self.cfg.survival_window_h * 3600
        idle = last_sign.elapsed(clock)
        if idle < window_s:
            return out
        repeat_s = self.cfg.survival_repeat_h * 3600
        due = window_s if self.alerts == 0 else self.last_alert_idle + repeat_s
        if self.alerts > 0 and repeat_s == 0:
            return out
        if idle < due:
            return out
        self.state = SurvivalState.OVERDUE
        self.alerts += 1
        self.last_alert_idle = idle
        hours = idle / 3600
        if worn is not None:
            at = clock_text(worn.wall.astimezone(tz))
            explain = (
                f"no action for {hours:.1f} h; her wearable still reads her vital signs "
                f"({worn.what} at {at}): alive, but not moving"
            )
        else:
            explain = f"no sign of life for {hours:.1f} h"
        readings = [s for s in (last_action, worn) if s is not None]
        rule = f"survival-{self.cfg.survival_window_h:g}h"
        last = last_action.text(tz) if last_action else "none since the hub started"
        out.drafts.append(
            Draft.create(
                "survival_overdue",
                clock,
                priority=Priority.ALARM,
                data={
                    "hours_without_sign": round(hours, 2),
                    "last_sign": last_sign.wall.isoformat(),
                    "repeat": self.alerts - 1,
                    "worn": worn is not None,
                    "explain": explain,
                    "rule": rule,
                    "readings": [s.to_dict() for s in readings],
                    "why": [
                        f"rule {rule}: {explain}",
                        f"last action: {last}",
                        *([f"last vital: {worn.text(tz)}"] if worn else []),
                    ],
                },
            )
        )
        out.actions.append(Led("alarm"))
        return out

    def explain(self, clock: Clock, last_sign: Anchor, paused: str) -> str:
        """One line for `simulate --explain`."""
        hours = last_sign.elapsed(clock) / 3600
        window = self.cfg.survival_window_h
        if paused:
            return f"paused ({paused}); {hours:.1f} h without action"
        if self.state is SurvivalState.OVERDUE:
            return f"overdue: {hours:.1f} h without action, raised {self.alerts} time(s)"
        return f"{hours:.1f} h of {window:g} h without action"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "state": self.state.value,
            "alerts": self.alerts,
            "last_alert_idle": self.last_alert_idle,
        }

    def restore(self, raw: dict[str, Any]) -> None:
        """Load state saved by to_dict."""
        self.state = SurvivalState(raw.get("state", "ok"))
        self.alerts = int(raw.get("alerts", 0))
        self.last_alert_idle = float(raw.get("last_alert_idle", 0.0))

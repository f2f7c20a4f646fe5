"""Survival check (生存状态确认): no sign of life for the window -> survival_overdue."""

from __future__ import annotations

from enum import Enum
from typing import Any

from hub.care.anchor import Anchor
from hub.care.base import Led, Output
from hub.care.config import CareConfig
from hub.clock import Clock
from hub.event import Draft, Priority


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

    def tick(self, clock: Clock, last_sign: Anchor) -> Output:
        """Raise or repeat when the time since the last sign of life is long enough."""
        out = Output()
        window_s = self.cfg.survival_window_h * 3600
        idle = last_sign.elapsed(clock)
        if idle < window_s:
            return out
        repeat_s = self.cfg.survival_repeat_h * 3600
        due = window_s if self.alerts == 0 else self.last_alert_idle + repeat_s
        if self.alerts > 0 and repeat_s == 0:
            return out
        if idle >= due:
            self.state = SurvivalState.OVERDUE
            self.alerts += 1
            self.last_alert_idle = idle
            hours = idle / 3600
            out.drafts.append(
                Draft.create(
                    "survival_overdue",
                    clock,
                    priority=Priority.ALARM,
                    data={
                        "hours_without_sign": round(hours, 2),
                        "last_sign": last_sign.wall.isoformat(),
                        "repeat": self.alerts - 1,
                        "explain": f"no sign of life for {hours:.1f} h",
                    },
                )
            )
            out.actions.append(Led("alarm"))
        return out

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

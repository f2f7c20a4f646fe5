"""Night exit (dementia wandering): door opened at night, then no return or the wearable leaves.

Return means: a door-closed report followed by a sign of life from inside (motion etc.),
or the wearable seen again, within `night_return_min`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from hub.care.base import Led, Output, in_window
from hub.care.config import CareConfig
from hub.care.signs import is_door_closed, is_door_open, wearable_presence
from hub.clock import Clock
from hub.event import Draft, Priority
from hub.reading import Reading


class NightState(Enum):
    """Night-exit states."""

    IDLE = "idle"
    DOOR_OPENED = "door_opened"  # the door was opened at night; waiting for a return
    DOOR_CLOSED = "door_closed"  # closed again; inside activity now means a return


class NightExitCheck:
    """Raises night_exit once per exit."""

    def __init__(self, cfg: CareConfig) -> None:
        self.cfg = cfg
        self.state = NightState.IDLE
        self.opened_mono = 0.0
        self.opened_local = ""

    def feed(self, reading: Reading, clock: Clock, local: datetime | None, sign: bool) -> Output:
        """Follow door, wearable and inside activity."""
        start = self.cfg.night_start
        present = wearable_presence(reading, self.cfg)
        if self.state is NightState.IDLE:
            at_night = start and local and in_window(local.time(), start, self.cfg.night_end)
            if at_night and local and is_door_open(reading):
                self.state = NightState.DOOR_OPENED
                self.opened_mono = clock.monotonic()
                self.opened_local = f"{local:%H:%M}"
            return Output()
        if present is False:
            return self._raise(clock, f"door opened at {self.opened_local}; wearable left")
        if present is True:
            self.state = NightState.IDLE
        elif is_door_closed(reading):
            self.state = NightState.DOOR_CLOSED
        elif sign and reading.kind != "door" and self.state is NightState.DOOR_CLOSED:
            self.state = NightState.IDLE
        return Output()

    def _raise(self, clock: Clock, why: str) -> Output:
        self.state = NightState.IDLE
        draft = Draft.create("night_exit", clock, priority=Priority.ALARM, data={"explain": why})
        return Output(drafts=[draft], actions=[Led("alarm")])

    def tick(self, clock: Clock) -> Output:
        """No return in time -> night_exit."""
        if self.state is NightState.IDLE:
            return Output()
        if clock.monotonic() - self.opened_mono >= self.cfg.night_return_min * 60:
            return self._raise(
                clock,
                f"door opened at {self.opened_local}; "
                f"no return within {self.cfg.night_return_min:g} min",
            )
        return Output()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"state": self.state.value, "opened_local": self.opened_local}

    def restore(self, raw: dict[str, Any], clock: Clock) -> None:
        """Load state; a running wait restarts from the restore moment."""
        self.state = NightState(raw.get("state", "idle"))
        self.opened_local = str(raw.get("opened_local", ""))
        self.opened_mono = clock.monotonic()

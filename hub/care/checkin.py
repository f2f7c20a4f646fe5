"""Daily check-in (报平安): reminder at a local time if not pressed, then checkin_missed."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from hub.care.base import Led, Output, Speak
from hub.care.config import CareConfig
from hub.clock import Clock
from hub.event import Draft, Source


class CheckinState(Enum):
    """Today's check-in."""

    WAITING = "waiting"  # not pressed, reminder time not reached
    REMINDED = "reminded"  # reminder spoken, grace running
    DONE = "done"  # pressed, missed or skipped for today


class CheckinCheck:
    """One state per local day; a new day starts WAITING."""

    def __init__(self, cfg: CareConfig) -> None:
        self.cfg = cfg
        self.day: date | None = None
        self.state = CheckinState.WAITING
        self.reminded_mono = 0.0
        self.pressed_unsynced = False  # pressed while the wall clock was not trusted

    def _roll(self, local: datetime) -> None:
        if self.day != local.date():
            self.day, self.state = local.date(), CheckinState.WAITING

    def on_press(self, clock: Clock, local: datetime | None, source: Source) -> Output:
        """The green button: a `checkin` event, thanks spoken, today settled."""
        if local is None:
            self.pressed_unsynced = True  # counted for the day the clock then shows
        else:
            self._roll(local)
            self.state = CheckinState.DONE
        return Output(
            drafts=[Draft.create("checkin", clock, source=source)],
            actions=[Speak("checkin_thanks"), Led("checkin_ok")],
        )

    def tick(self, clock: Clock, local: datetime | None, away: bool) -> Output:
        """Remind at the configured time; raise checkin_missed after the grace period."""
        reminder = self.cfg.checkin_reminder
        if not self.cfg.checkin_enabled or reminder is None or local is None:
            return Output()
        self._roll(local)
        if self.pressed_unsynced:
            self.pressed_unsynced = False
            self.state = CheckinState.DONE
        if self.state is CheckinState.WAITING and local.time() >= reminder:
            if away:
                return Output()  # out with the pendant: remind when she is back
            self.state = CheckinState.REMINDED
            self.reminded_mono = clock.monotonic()
            return Output(actions=[Speak("checkin_reminder"), Led("checkin_due")])
        grace_s = self.cfg.checkin_grace_min * 60
        if (
            self.state is CheckinState.REMINDED
            and clock.monotonic() - self.reminded_mono >= grace_s
        ):
            self.state = CheckinState.DONE
            draft = Draft.create(
                "checkin_missed",
                clock,
                data={
                    "reminder": f"{reminder:%H:%M}",
                    "explain": f"no check-in by {reminder:%H:%M} "
                    f"nor in the {self.cfg.checkin_grace_min:g} min after the reminder",
                },
            )
            return Output(drafts=[draft])
        return Output()

    def explain(self) -> str:
        """One line for `simulate --explain`."""
        if not self.cfg.checkin_enabled or self.cfg.checkin_reminder is None:
            return "off"
        day = self.day.isoformat() if self.day else "today"
        return f"{self.state.value} ({day}; reminder at {self.cfg.checkin_reminder:%H:%M})"

    def skip_today(self, local: datetime) -> None:
        """After a wall-clock jump: a reminder time already past today fires nothing."""
        self._roll(local)
        reminder = self.cfg.checkin_reminder
        if self.state is CheckinState.WAITING and reminder and local.time() >= reminder:
            self.state = CheckinState.DONE

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"day": self.day.isoformat() if self.day else None, "state": self.state.value}

    def restore(self, raw: dict[str, Any], clock: Clock) -> None:
        """Load state; a running grace period restarts from the restore moment."""
        day = raw.get("day")
        self.day = date.fromisoformat(day) if day else None
        self.state = CheckinState(raw.get("state", "waiting"))
        self.reminded_mono = clock.monotonic()

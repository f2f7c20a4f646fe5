"""Night exit (dementia wandering): the door opened at night, and she did not come back.

On with `care.night_exit = true`, or by default ("auto") as soon as a door contact is
paired. Between night_start and night_end, a door opening starts a wait of
`night_return_min`. It ends quietly on a return: the door closed and then an action
inside, or her wearable seen again. Otherwise:

- her wearable leaves range -> `night_exit` (priority 0) at once: she went out;
- the wait runs out and her wearable was near when the door opened and is still near ->
  `night_door` (priority 1, a note for the centre): her band never left, so somebody
  else went out (a visitor, a carer), or she checked the door and went back to bed
  unseen by any sensor;
- the wait runs out with no wearable, or one whose whereabouts are not known ->
  `night_exit` (priority 0): nobody can tell who left, so it is taken to be her.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import Led, Output, clock_text, in_window
from hub.care.config import CareConfig
from hub.care.signs import Seen
from hub.clock import Clock
from hub.event import Draft, Priority, Source


class NightState(Enum):
    """Night-exit states."""

    IDLE = "idle"
    DOOR_OPENED = "door_opened"  # the door was opened at night; waiting for a return
    DOOR_CLOSED = "door_closed"  # closed again; inside activity now means a return


class NightExitCheck:
    """Raises night_exit (or notes night_door) once per exit."""

    def __init__(self, cfg: CareConfig, tz: ZoneInfo) -> None:
        self.cfg = cfg
        self.tz = tz
        self.state = NightState.IDLE
        self.opened_mono = 0.0
        self.opened: Seen | None = None
        self.closed: Seen | None = None
        self.band_home = False  # her wearable was near when the door opened

    def at_night(self, local: datetime | None) -> bool:
        """Whether local time is inside the night window (never while it is untrusted)."""
        return local is not None and in_window(
            local.time(), self.cfg.night_start, self.cfg.night_end
        )

    def on_door(
        self, seen: Seen, opened: bool, clock: Clock, local: datetime | None, band_near: bool
    ) -> None:
        """A door transition (opened or closed); `band_near`: her wearable is near now."""
        if self.state is NightState.IDLE:
            if opened and self.at_night(local):
                self.state = NightState.DOOR_OPENED
                self.opened_mono = clock.monotonic()
                self.opened, self.closed = seen, None
                self.band_home = band_near
        elif not opened:
            self.state = NightState.DOOR_CLOSED
            self.closed = seen

    def on_inside(self) -> None:
        """An action inside: after the door closed, that is her back (or never gone)."""
        if self.state is NightState.DOOR_CLOSED:
            self.state = NightState.IDLE

    def on_wearable(self, present: bool, seen: Seen, clock: Clock) -> Output:
        """Her wearable left (she went out) or was seen again (she is back)."""
        if self.state is NightState.IDLE:
            return Output()
        if present or self.opened is None:
            self.state = NightState.IDLE
            return Output()
        return self._raise(clock, self.opened, f"her wearable left at {self._at(seen)}", [seen])

    def _at(self, seen: Seen) -> str:
        return clock_text(seen.wall.astimezone(self.tz))

    def _readings(self, extra: list[Seen]) -> list[Seen]:
        return [s for s in (self.opened, self.closed, *extra) if s is not None]

    def _raise(self, clock: Clock, opened: Seen, what: str, extra: list[Seen]) -> Output:
        self.state = NightState.IDLE
        why = f"door opened at {self._at(opened)} at night; {what}"
        readings = self._readings(extra)
        draft = Draft.create(
            "night_exit",
            clock,
            priority=Priority.ALARM,
            source=Source(opened.device),
            data={
                "explain": why,
                "rule": "night_exit",
                "readings": [s.to_dict() for s in readings],
                "why": [f"rule night_exit: {why}", *(s.text(self.tz) for s in readings)],
            },
        )
        return Output(drafts=[draft], actions=[Led("alarm")])

    def tick(self, clock: Clock, band_near: bool) -> Output:
        """No return in time: night_door when her band stayed home, else night_exit."""
        if self.state is NightState.IDLE or self.opened is None:
            return Output()
        if clock.monotonic() - self.opened_mono < self.cfg.night_return_min * 60:
            return Output()
        wait = f"{self.cfg.night_return_min:g} min"
        if self.band_home and band_near:
            self.state = NightState.IDLE
            why = (
                f"door opened at {self._at(self.opened)} at night; her wearable stayed "
                f"home and no return was seen within {wait}: somebody else went out, or "
                "she checked the door"
            )
            readings = self._readings([])
            draft = Draft.create(
                "night_door",
                clock,
                priority=Priority.WARNING,
                source=Source(self.opened.device),
                data={
                    "explain": why,
                    "rule": "night_exit",
                    "readings": [s.to_dict() for s in readings],
                    "why": [f"rule night_exit: {why}", *(s.text(self.tz) for s in readings)],
                },
            )
            return Output(drafts=[draft])
        who = "no wearable to tell who left" if not self.band_home else "her wearable not near"
        return self._raise(clock, self.opened, f"no return within {wait} ({who})", [])

    def explain(self, clock: Clock, enabled: bool, why_enabled: str) -> str:
        """One line for `simulate --explain`."""
        window = f"{self.cfg.night_start:%H:%M}-{self.cfg.night_end:%H:%M}"
        if not enabled:
            return f"off ({why_enabled})"
        if self.state is NightState.IDLE or self.opened is None:
            return f"on ({why_enabled}), {window}: watching the door"
        mins = (clock.monotonic() - self.opened_mono) / 60
        band = "her wearable near at the opening" if self.band_home else "no wearable near"
        return (
            f"on, {window}: {self.opened.text(self.tz)}, {mins:.0f} of "
            f"{self.cfg.night_return_min:g} min without a return ({band})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "state": self.state.value,
            "opened": self.opened.to_dict() if self.opened else None,
            "band_home": self.band_home,
        }

    def restore(self, raw: dict[str, Any], clock: Clock) -> None:
        """Load state; a running wait goes on from its opening (from now while unsynced)."""
        self.state = NightState(raw.get("state", "idle"))
        opened = raw.get("opened")
        self.opened = Seen.from_dict(opened) if isinstance(opened, dict) else None
        if self.opened is None:
            self.state = NightState.IDLE
        self.band_home = bool(raw.get("band_home"))
        self.opened_mono = clock.monotonic()
        if self.opened is not None and clock.synced():  # the wait goes on where it was
            self.opened_mono -= max(0.0, (clock.now() - self.opened.wall).total_seconds())

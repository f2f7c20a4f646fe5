"""Inactivity in the three Tunstall Vi+ modes, each with a spoken, cancellable pre-alarm.

Pre-alarm: the hub says "如果您没事,请按绿色按钮" (prompt `prealarm_press_green`) every
`prealarm_repeat_s` for `prealarm_min` (default 5 min, as Tunstall Vi+); the green button,
or any other sign of life, cancels it. Otherwise `inactivity` (priority 0) is raised.
Wall-clock windows are only evaluated while the wall clock is trusted (synced, no jump).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from hub.care.anchor import Anchor
from hub.care.base import Evidence, Led, Output, Speak, in_window
from hub.care.config import CareConfig, InactivityMode, InactivityRule
from hub.clock import Clock
from hub.event import Draft, Priority

PREALARM_PROMPT = "prealarm_press_green"


class RuleState(Enum):
    """Where one inactivity rule is."""

    WATCHING = "watching"  # looking for inactivity
    PREALARM = "prealarm"  # speaking the pre-alarm, waiting for the green button
    RAISED = "raised"  # alarm raised; waits for activity (or the next day for windows)


def window_key(local: datetime, rule: InactivityRule) -> date:
    """The local date on which the window containing (or last before) `local` started."""
    if rule.start <= rule.end or local.time() >= rule.start:
        return local.date()
    return local.date() - timedelta(days=1)


class InactivityCheck:
    """One configured rule's state machine."""

    def __init__(self, rule: InactivityRule, cfg: CareConfig) -> None:
        self.rule = rule
        self.cfg = cfg
        self.state = RuleState.WATCHING
        self.armed_key: date | None = None  # window being watched
        self.done_key: date | None = None  # window already settled today
        self.active_in_window = False
        self.pre_start = 0.0
        self.last_prompt = 0.0
        self.reason = ""
        self.evidence = Evidence()

    # transitions -----------------------------------------------------------------
    def on_sign(self, clock: Clock) -> Output:
        """Activity: cancels a pre-alarm, re-arms continuous/idle rules."""
        out = Output()
        if self.state is RuleState.PREALARM:
            out.actions.append(Speak("prealarm_cancelled"))
            out.actions.append(Led("off"))
            if self.rule.mode is InactivityMode.WINDOW:
                self.done_key = self.armed_key
        # a window already settled today stays settled (done_key); the next one is watched
        self.state = RuleState.WATCHING
        self.active_in_window = True
        return out

    def _start_prealarm(self, clock: Clock, reason: str) -> Output:
        self.state = RuleState.PREALARM
        self.pre_start = self.last_prompt = clock.monotonic()
        self.reason = reason
        if self.cfg.prealarm_min == 0:
            return self._raise(clock)
        return Output(actions=[Speak(PREALARM_PROMPT), Led("prealarm")])

    def _raise(self, clock: Clock) -> Output:
        self.state = RuleState.RAISED
        if self.rule.mode is InactivityMode.WINDOW:
            self.done_key = self.armed_key
        draft = Draft.create(
            "inactivity",
            clock,
            priority=Priority.ALARM,
            data={
                "mode": self.rule.mode.value,
                "rule": self.rule.name,
                "explain": self.reason,
                "readings": list(self.evidence.readings),
                "why": [
                    f"rule {self.rule.name}: {self.reason}; the pre-alarm was not answered",
                    *self.evidence.lines,
                ],
            },
        )
        return Output(drafts=[draft], actions=[Led("alarm")])

    def tick(
        self,
        clock: Clock,
        last_sign: Anchor,
        local: datetime | None,
        away: bool,
        evidence: Evidence | None = None,
    ) -> Output:
        """Advance the rule; `local` is None while the wall clock is not trusted;
        `evidence`: what an alarm raised now would cite (her last action, ...)."""
        mono = clock.monotonic()
        if evidence is not None:
            self.evidence = evidence
        if self.state is RuleState.PREALARM:
            if mono - self.pre_start >= self.cfg.prealarm_min * 60:
                return self._raise(clock)
            if mono - self.last_prompt >= self.cfg.prealarm_repeat_s:
                self.last_prompt = mono
                return Output(actions=[Speak(PREALARM_PROMPT)])
            return Output()
        if away or self.state is not RuleState.WATCHING:
            return Output()
        idle = last_sign.elapsed(clock)
        rule = self.rule
        if rule.mode is InactivityMode.CONTINUOUS:
            if idle >= rule.hours * 3600:
                return self._start_prealarm(clock, f"no activity for {idle / 3600:.1f} h")
            return Output()
        if local is None:
            return Output()
        key = window_key(local, rule)
        inside = in_window(local.time(), rule.start, rule.end)
        if inside and key not in (self.armed_key, self.done_key):
            self.armed_key, self.active_in_window = key, False
        if self.armed_key != key or self.done_key == key:
            return Output()
        if rule.mode is InactivityMode.WINDOW:
            if not inside and not self.active_in_window:
                return self._start_prealarm(
                    clock, f"no activity between {rule.start:%H:%M} and {rule.end:%H:%M}"
                )
            if not inside:
                self.done_key = key
            return Output()
        # Quiet time counts from the window's start at the earliest (aware datetimes with the
        # same ZoneInfo subtract naively, hence the conversion to UTC).
        start = datetime.combine(key, rule.start, tzinfo=local.tzinfo).astimezone(UTC)
        quiet = min(idle, (local.astimezone(UTC) - start).total_seconds())
        if inside and quiet >= rule.minutes * 60:
            return self._start_prealarm(
                clock,
                f"no activity for {rule.minutes:g} min between "
                f"{rule.start:%H:%M} and {rule.end:%H:%M}",
            )
        return Output()

    def explain(self, clock: Clock, last_sign: Anchor, local: datetime | None, away: bool) -> str:
        """One line for `simulate --explain`."""
        rule = self.rule
        quiet = last_sign.elapsed(clock) / 60
        if self.state is RuleState.PREALARM:
            return f"pre-alarm: {self.reason}"
        if self.state is RuleState.RAISED:
            return f"raised: {self.reason}; waits for an action"
        if away:
            return f"paused (away); {quiet:.0f} min without action"
        if rule.mode is InactivityMode.CONTINUOUS:
            return f"{quiet:.0f} min of {rule.hours * 60:.0f} without action"
        if local is None:
            return "waits for a trusted wall clock"
        if not in_window(local.time(), rule.start, rule.end):
            settled = self.done_key == window_key(local, rule)
            return "outside its window" + (" (today's settled)" if settled else "")
        if rule.mode is InactivityMode.WINDOW:
            seen = "action seen" if self.active_in_window else "no action yet"
            return f"in its window: {seen}"
        return f"in its window: {quiet:.0f} min of {rule.minutes:g} without action"

    def skip_today(self, local: datetime) -> None:
        """After a wall-clock jump: settle the current window without firing."""
        if self.rule.mode is not InactivityMode.CONTINUOUS and self.state is RuleState.WATCHING:
            key = window_key(local, self.rule)
            if not in_window(local.time(), self.rule.start, self.rule.end):
                self.done_key = key

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (a pre-alarm restarts from the restore moment)."""
        return {
            "state": self.state.value,
            "armed_key": self.armed_key.isoformat() if self.armed_key else None,
            "done_key": self.done_key.isoformat() if self.done_key else None,
            "active": self.active_in_window,
            "reason": self.reason,
        }

    def restore(self, raw: dict[str, Any], clock: Clock) -> None:
        """Load state saved by to_dict."""
        self.state = RuleState(raw.get("state", "watching"))
        ak, dk = raw.get("armed_key"), raw.get("done_key")
        self.armed_key = date.fromisoformat(ak) if ak else None
        self.done_key = date.fromisoformat(dk) if dk else None
        self.active_in_window = bool(raw.get("active"))
        self.reason = str(raw.get("reason", ""))
        self.pre_start = self.last_prompt = clock.monotonic()

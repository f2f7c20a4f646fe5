"""The confirmation flow after a help phrase is heard: a pure state machine.

After a detection the hub speaks prompt `confirm_help` and listens for yes/no or a button. Silence
raises the SOS: an elder who fell may be unable to answer, so when in doubt, call.
Only "no" (spoken or the cancel button) stands the alarm down, and it is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Issue 8 asks for "~10 s" to answer; long enough for a slow reply, short enough that a
# silent elder is not left waiting.
CONFIRM_TIMEOUT_S = 10.0


class ConfirmState(Enum):
    """Where the flow stands."""

    IDLE = "idle"
    ASKING = "asking"


class Answer(Enum):
    """What the elder did while we were asking."""

    YES = "yes"
    NO = "no"
    BUTTON_SOS = "button_sos"
    BUTTON_CANCEL = "button_cancel"


class Action(Enum):
    """What the hub must do as a result of a step."""

    ASK = "ask"  # speak prompt confirm_help and start listening for yes/no
    RAISE_SOS = "raise_sos"  # raise the SOS (kind "sos", source voice)
    LOG_DECLINED = "log_declined"  # store event kind "voice_declined"


@dataclass(frozen=True)
class Outcome:
    """One action the hub must take, with the phrase and confidence that started it."""

    action: Action
    phrase: str
    confidence: float
    reason: str


class ConfirmFlow:
    """Detection -> ask -> (yes | silence -> SOS) or (no -> logged). `now` is monotonic."""

    def __init__(self, timeout_s: float = CONFIRM_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.state = ConfirmState.IDLE
        self._deadline = 0.0
        self._phrase = ""
        self._confidence = 0.0

    def on_detection(self, phrase: str, confidence: float, now: float) -> Outcome | None:
        """Start asking; a detection while already asking changes nothing."""
        if self.state is ConfirmState.ASKING:
            return None
        self.state = ConfirmState.ASKING
        self._deadline = now + self.timeout_s
        self._phrase = phrase
        self._confidence = confidence
        return self._outcome(Action.ASK, "detected")

    def on_answer(self, answer: Answer, now: float) -> Outcome | None:
        """Yes or the SOS button raises the alarm; no or cancel logs and stands down."""
        if self.state is not ConfirmState.ASKING:
            return None
        if now >= self._deadline:
            return self.tick(now)
        self.state = ConfirmState.IDLE
        if answer in (Answer.YES, Answer.BUTTON_SOS):
            return self._outcome(Action.RAISE_SOS, answer.value)
        return self._outcome(Action.LOG_DECLINED, answer.value)

    def tick(self, now: float) -> Outcome | None:
        """Raise the SOS once the answer window has passed in silence."""
        if self.state is ConfirmState.ASKING and now >= self._deadline:
            self.state = ConfirmState.IDLE
            return self._outcome(Action.RAISE_SOS, "no_answer")
        return None

    def _outcome(self, action: Action, reason: str) -> Outcome:
        return Outcome(action, self._phrase, self._confidence, reason)

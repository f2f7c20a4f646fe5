"""What the hub is waiting to say, in the order the elder needs it (pure: no IO).

Three levels: alarm prompts (where the alarm is, hazard guidance, "contacting your
family"), then the elder's other feedback (care prompts, the question after a call for
help, the hub's own sentences such as the spoken PIN), then the centre's `cmd/speak`
text. The elder's own prompts always go first and cut short centre text that is playing;
when the queue is full it is centre text that is dropped, never the elder's feedback. A
prompt already waiting is not queued twice, so a burst of alarms cannot fill the queue
with copies of one sentence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Urgency(IntEnum):
    """Lower goes first."""

    ALARM = 0
    ELDER = 1
    CENTRE = 2


class Kind(StrEnum):
    """What an utterance is."""

    PROMPT = "prompt"  # a fixed prompt, by id
    TEXT = "text"  # a sentence of the hub's own (may be the installer PIN: never logged)
    CENTRE = "centre"  # the centre's cmd/speak text, admitted (cleaned, rate limited)


# The prompts that follow an alarm: they go before every other prompt.
ALARM_PROMPTS = frozenset(
    {
        "alarm_sent",
        "centre_received",
        "help_dispatched",
        "contacting_family",
        "gas_guidance",
        "smoke_guidance",
        "water_guidance",
    }
)
# Everything waiting, all levels together. The elder's prompts are de-duplicated, so
# they alone (a dozen distinct ids) never fill it; the centre's text is what gives way.
CAPACITY = 16
# Centre text waiting at once: the rate limit lets three through in a burst (prompts.py).
CENTRE_WAITING = 4


@dataclass(frozen=True)
class Utterance:
    """One thing to say."""

    kind: Kind
    what: str  # a prompt id, or the text

    @property
    def urgency(self) -> Urgency:
        """Its level in the queue."""
        if self.kind is Kind.CENTRE:
            return Urgency.CENTRE
        if self.kind is Kind.PROMPT and self.what in ALARM_PROMPTS:
            return Urgency.ALARM
        return Urgency.ELDER

    def shown(self) -> str:
        """How the log names it: a prompt by id, centre text by length, our own text not at all."""
        if self.kind is Kind.PROMPT:
            return f"prompt {self.what[:40]}"
        if self.kind is Kind.CENTRE:
            return f"centre text ({len(self.what)} chars)"
        return "a sentence (not logged)"


@dataclass(frozen=True)
class Queued:
    """What putting an utterance in did."""

    accepted: bool  # it will be spoken (or is already waiting)
    dropped: tuple[Utterance, ...] = ()  # centre text pushed out to make room for it
    interrupt: bool = False  # centre text is playing now: cut it short


class SpeechQueue:
    """Utterances by urgency, first in first out within a level, bounded."""

    def __init__(self, capacity: int = CAPACITY, centre_waiting: int = CENTRE_WAITING) -> None:
        self.capacity = capacity
        self.centre_waiting = centre_waiting
        self._levels: dict[Urgency, deque[Utterance]] = {u: deque() for u in Urgency}

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels.values())

    def waiting(self) -> list[Utterance]:
        """Everything waiting, in the order it will be spoken."""
        return [u for level in Urgency for u in self._levels[level]]

    def put(self, item: Utterance, playing: Utterance | None = None) -> Queued:
        """Queue `item`; `playing` is what is being spoken now, if anything."""
        level = self._levels[item.urgency]
        if item.urgency is Urgency.CENTRE:
            if len(level) >= self.centre_waiting or len(self) >= self.capacity:
                return Queued(accepted=False)
            level.append(item)
            return Queued(accepted=True)
        interrupt = playing is not None and playing.urgency is Urgency.CENTRE
        if item in level:
            return Queued(accepted=True, interrupt=interrupt)
        dropped: list[Utterance] = []
        centre = self._levels[Urgency.CENTRE]
        while len(self) >= self.capacity and centre:
            dropped.append(centre.pop())  # the one that would have been spoken last
        if len(self) >= self.capacity:
            # Only reachable with more than `capacity` distinct sentences of the hub's
            # own waiting (prompts alone are a dozen ids): the newest one gives way.
            return Queued(accepted=False, dropped=tuple(dropped))
        level.append(item)
        return Queued(accepted=True, dropped=tuple(dropped), interrupt=interrupt)

    def pop(self) -> Utterance | None:
        """The next utterance to speak, or None when nothing waits."""
        for urgency in Urgency:
            if self._levels[urgency]:
                return self._levels[urgency].popleft()
        return None

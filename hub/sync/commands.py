"""The centre's commands (`cmd/{name}`): parsed, de-duplicated and bounded (pure: no IO).

Commands are instructions, not state. A retained one is ignored (the uplink drops it
before it gets here): obeying it again at every reconnect and restart once turned one
test into a test alarm per reconnect. A command that carries an `id` is obeyed once per
id (QoS 1 may deliver it twice; a centre may retry). `cmd/test` must carry one:

    {"id": "T-20261201-0001", "escalation": false}

It raises a test alarm through the real path unless a test alarm from the centre is
still open (at most one at a time: a burst of 100 once made 100 alarms, and 30 s later
100 SMS and 100 calls to the family). A test alarm never texts or calls the family,
unless the command asks for the full escalation test (`"escalation": true`), and that is
allowed at most once every ESCALATION_TEST_EVERY_S; a second one in the same day is run
as an ordinary test alarm (the hub's log says why).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from hub.errors import DecodeError

# Command ids are the centre's own references; 64 characters is the event id limit too.
MAX_ID_CHARS: Final = 64
# Ids remembered for de-duplication: far more than a day of real commands (a handful),
# so a redelivery or a retry is always recognised; older ones are forgotten.
SEEN_IDS: Final = 256
# The family is texted and called for a test at most once a day: a family that gets test
# texts often learns to ignore the hub's texts, and one real one matters.
ESCALATION_TEST_EVERY_S: Final = 24 * 3600.0


@dataclass(frozen=True)
class CentreTest:
    """`cmd/test`: a test alarm; `escalation` asks for the full escalation test."""

    id: str
    escalation: bool = False


def command_id(args: dict[str, Any]) -> str | None:
    """A command's `id`, when it has one; DecodeError when it is not a usable id."""
    value = args.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise DecodeError(f"'id' must be a non-empty string of at most {MAX_ID_CHARS}")
    if not value.isprintable():
        raise DecodeError("'id' must be printable")
    return value


def parse_test(args: dict[str, Any]) -> CentreTest:
    """`cmd/test`'s arguments; DecodeError without an id or with a bad field."""
    test_id = command_id(args)
    if test_id is None:
        raise DecodeError("cmd/test needs an 'id' (so a repeat is recognised)")
    escalation = args.get("escalation", False)
    if not isinstance(escalation, bool):
        raise DecodeError("'escalation' must be true or false")
    return CentreTest(test_id, escalation)


class Verdict(StrEnum):
    """What to do with a test command."""

    RAISE = "raise"  # a test alarm (without the family)
    RAISE_WITH_FAMILY = "raise_with_family"  # the full escalation test
    RAISE_WITHOUT_FAMILY = "raise_without_family"  # asked for the family, but not today
    BUSY = "busy"  # a test alarm from the centre is still open: ignored


class CommandGate:
    """Remembers command ids and when the family was last part of a test."""

    def __init__(self, last_family_test: float | None = None) -> None:
        """`last_family_test`: wall-clock epoch seconds of the last full escalation test."""
        self.last_family_test = last_family_test
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, name: str, command: str | None) -> bool:
        """True the first time command id `command` of `name` is seen (and remembers it);
        commands without an id are always new."""
        if command is None:
            return True
        key = f"{name}\0{command}"
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return True

    def judge_test(self, command: CentreTest, *, test_open: bool, now: float) -> Verdict:
        """Decide on a (first-time) test command; `now` is wall-clock epoch seconds. A
        RAISE_WITH_FAMILY verdict counts as today's full escalation test."""
        if test_open:
            return Verdict.BUSY
        if not command.escalation:
            return Verdict.RAISE
        if not self.family_test_allowed(now):
            return Verdict.RAISE_WITHOUT_FAMILY
        self.last_family_test = now
        return Verdict.RAISE_WITH_FAMILY

    def family_test_allowed(self, now: float) -> bool:
        """Whether a full escalation test may text and call the family now."""
        last = self.last_family_test
        if last is None:
            return True
        if last - now > ESCALATION_TEST_EVERY_S:
            # Recorded more than a day in the future: the clock was wrong then (a Pi with
            # no RTC before NTP); a record that can never expire would block tests forever.
            return True
        return now - last >= ESCALATION_TEST_EVERY_S

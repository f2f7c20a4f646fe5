"""A week of marks for the family page's activity strip and the weekly summary (issue 22):
when she checked in, when a night visit to the bathroom began, when an alarm was raised.

Pure: times come in, times go out. Kept `MARK_DAYS` days in the care state, which the care
service already writes at every decision (a check-in, an alarm) and at most every 15 min
otherwise: no write of its own. `since` is when the record began (a hub upgraded to this
version has none before it), so a week the record does not cover is unknown, never "no
check-in" or "0 night visits".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# The strip's week from its first midnight, and the weekly summary's calendar week seen
# up to two days late (a hub off over the Monday): a few hundred bytes.
MARK_DAYS = 10
MARK_KINDS = ("checkin", "night_visit", "alarm")
# A check-in pressed twice, or one alarm reported again, is one mark.
_SAME_S = 60.0


class DayMarks:
    """Times of check-ins, night visits and alarms over the last MARK_DAYS days."""

    def __init__(self, since: datetime) -> None:
        self.since = since
        self.times: dict[str, list[datetime]] = {kind: [] for kind in MARK_KINDS}

    def add(self, kind: str, at: datetime) -> None:
        """Mark `kind` at `at` (timezone-aware); older marks are forgotten."""
        times = self.times[kind]
        if times and abs((at - times[-1]).total_seconds()) < _SAME_S:
            return
        times.append(at)
        cutoff = at - timedelta(days=MARK_DAYS)
        for kind_times in self.times.values():
            kind_times[:] = [t for t in kind_times if t >= cutoff]

    def since_start(self, kind: str, start: datetime, now: datetime) -> list[datetime] | None:
        """The marks of `kind` from `start`, or None when the record does not reach back to
        it (it began after `start`, or `start` is more than MARK_DAYS before `now`)."""
        if self.since > start or start < now - timedelta(days=MARK_DAYS):
            return None
        return [t for t in self.times[kind] if t >= start]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return {
            "since": self.since.isoformat(),
            **{kind: [t.isoformat() for t in times] for kind, times in self.times.items()},
        }

    @classmethod
    def from_dict(cls, raw: Any, now: datetime) -> DayMarks:
        """Restored from `to_dict`; a state without marks starts the record `now`."""
        if not isinstance(raw, dict):
            return cls(now)
        try:
            marks = cls(datetime.fromisoformat(str(raw["since"])))
            for kind in MARK_KINDS:
                marks.times[kind] = sorted(
                    datetime.fromisoformat(str(t)) for t in raw.get(kind, [])
                )
        except (KeyError, ValueError, TypeError):
            return cls(now)
        if marks.since.tzinfo is None or any(
            t.tzinfo is None for times in marks.times.values() for t in times
        ):
            return cls(now)
        return marks

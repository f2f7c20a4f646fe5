"""One incident, one alarm thread: later alarms of the same cause are updates of the first.

An elder who falls and lies still raises, over the hours, an inactivity alarm, perhaps a
second rule's, then the 24 h survival alarm and its repeats. They are one incident. Each
care alarm carries `data.incident` (the event id of the alarm that opened the incident)
and `data.update` (0 for that first alarm, then 1, 2, ...): the centre opens a case for
an alarm whose `incident` is its own `id`, and adds any other to the open case with that
id. Every one is still a priority-0 alarm the centre must acknowledge: the hub cannot
know whether the case is being handled, and an update may come after the case was
closed as a false alarm.

Causes (what makes two alarms one incident):
- "elder": no action of hers (inactivity, survival_overdue, fall_suspected, night_exit),
  and a fall a radar saw.
  Closed by her next action (or her wearable coming home).
- "vital:<measure>": a vital sign out of its critical range (vital_abnormal, priority 0).
  Closed when that measure reads normal again.
Warnings and hazard alarms (smoke, gas, water: their own episodes) are not threaded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hub.event import Draft, Priority

ELDER = "elder"
_ELDER_KINDS = frozenset({"inactivity", "survival_overdue", "fall_suspected", "night_exit", "fall"})


@dataclass
class Incident:
    """An open incident: the id of the alarm that opened it and how many updates since."""

    id: str
    kind: str
    opened: str  # ISO wall time of the first alarm
    updates: int = 0


def cause_of(draft: Draft) -> str | None:
    """Which incident an alarm belongs to, or None when it is not threaded."""
    if draft.priority is not Priority.ALARM:
        return None
    if draft.kind in _ELDER_KINDS:
        return ELDER
    if draft.kind == "vital_abnormal":
        return f"vital:{draft.data.get('measure', '')}"
    return None


class Incidents:
    """The open incidents, by cause."""

    def __init__(self) -> None:
        self.open: dict[str, Incident] = {}

    def thread(self, drafts: list[Draft]) -> list[Draft]:
        """The drafts with `data.incident` and `data.update` set on every threaded alarm."""
        out = []
        for draft in drafts:
            cause = cause_of(draft)
            if cause is None:
                out.append(draft)
                continue
            incident = self.open.get(cause)
            if incident is None:
                incident = Incident(draft.id, draft.kind, draft.ts.isoformat())
                self.open[cause] = incident
                update = 0
            else:
                incident.updates += 1
                update = incident.updates
            data = {**draft.data, "incident": incident.id, "update": update}
            out.append(replace(draft, data=data))
        return out

    def close(self, cause: str) -> None:
        """The incident's cause is over (she acted; the measure is normal again)."""
        self.open.pop(cause, None)

    def explain(self) -> str:
        """One line for `simulate --explain`."""
        if not self.open:
            return "none open"
        return "; ".join(
            f"{cause}: {i.id} ({i.kind} at {i.opened}), {i.updates} update(s)"
            for cause, i in sorted(self.open.items())
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            cause: {"id": i.id, "kind": i.kind, "opened": i.opened, "updates": i.updates}
            for cause, i in self.open.items()
        }

    def restore(self, raw: dict[str, Any]) -> None:
        """Load what to_dict wrote."""
        self.open = {
            str(cause): Incident(
                str(v["id"]), str(v["kind"]), str(v["opened"]), int(v.get("updates", 0))
            )
            for cause, v in raw.items()
            if isinstance(v, dict) and "id" in v
        }

"""A fall a radar saw: a `fall` alarm at once, with the room (pure, clock injected).

A fall-detection radar (hub/sensors/mr60fda1.py) says "fall" itself (`Reading.kind ==
"fall"`, state ALARM) and "no fall" when it is over (CLEAR). There is nothing to wait for:
the module already judged the movement a fall, and an elder on the floor needs help now,
so the first ALARM of an episode is a priority-0 `fall` alarm through the SOS lifecycle
(ack, resend, escalation), carrying the device and its room. The module repeats its state
when asked (the hub asks when the port opens): repeats of an open episode raise nothing;
CLEAR ends the episode and a later ALARM is a new fall. Open episodes are saved with the
care state, so a restart neither repeats the alarm nor forgets it. A fall is an alarm
about her, threaded with the other "no action" alarms (hub/care/incident.py): a
fall_suspected that follows it is an update of the same incident.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from hub.care.base import Led, Output
from hub.care.signs import Seen
from hub.clock import Clock
from hub.event import Draft, Priority, Source
from hub.reading import Reading

RULE = "radar_fall"


class FallCheck:
    """Fall episodes per radar."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.active: dict[str, str] = {}  # device -> ISO wall time the fall was raised

    def feed(self, reading: Reading, seen: Seen, clock: Clock, source: Source) -> Output:
        """A radar's fall reading -> the alarm, once per episode."""
        if reading.kind != "fall" or reading.state is None:
            return Output()
        if reading.clear:
            self.active.pop(reading.device, None)
            return Output()
        if reading.device in self.active:
            return Output()
        self.active[reading.device] = clock.now().isoformat()
        where = seen.room or reading.device
        why = f"the radar in {where} saw a fall"
        draft = Draft.create(
            "fall",
            clock,
            priority=Priority.ALARM,
            source=source,
            data={
                "explain": why,
                "rule": RULE,
                "room": seen.room,
                "readings": [seen.to_dict()],
                "why": [f"rule {RULE}: {why}", seen.text(self.tz)],
            },
        )
        return Output(drafts=[draft], actions=[Led("alarm")])

    def explain(self) -> str:
        """One line for `simulate --explain`."""
        if not self.active:
            return "no fall seen"
        return "; ".join(f"{d} since {at}" for d, at in sorted(self.active.items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"active": dict(self.active)}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load what to_dict wrote."""
        active = raw.get("active", {})
        self.active = (
            {str(k): str(v) for k, v in active.items()} if isinstance(active, dict) else {}
        )

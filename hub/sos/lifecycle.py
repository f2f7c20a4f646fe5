"""The alarm lifecycle as a pure state machine: no IO, a monotonic `now` passed in.

    raised -> committed -> sent (PUBACK) -> acknowledged -> dispatched -> closed
                                   \\-> cancelled (the elder held the red button)

The centre's `ack` carries `received` (-> acknowledged), `dispatched` or `resolved`
(-> closed); a later state may arrive first and skips the ones between. Methods
return the actions the IO layer must carry out; they never perform them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class AlarmState(Enum):
    """Where an alarm is in its life."""

    RAISED = "raised"
    COMMITTED = "committed"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    CLOSED = "closed"
    CANCELLED = "cancelled"


_ORDER = list(AlarmState)
OPEN_STATES = frozenset(
    {
        AlarmState.RAISED,
        AlarmState.COMMITTED,
        AlarmState.SENT,
        AlarmState.ACKNOWLEDGED,
        AlarmState.DISPATCHED,
    }
)
# Until the centre has answered, the alarm is resent and may escalate.
UNANSWERED = frozenset({AlarmState.RAISED, AlarmState.COMMITTED, AlarmState.SENT})
CENTRE_STATES = {
    "received": AlarmState.ACKNOWLEDGED,
    "dispatched": AlarmState.DISPATCHED,
    "resolved": AlarmState.CLOSED,
}


@dataclass(frozen=True)
class Timing:
    """The lifecycle's timers, from config `[sos]`."""

    # Essence's UL-listed profile retries an alarm 5-10 times with 3-7 s acknowledgement
    # timeouts on one path before falling back to the other. Here: resent every 5 s while
    # the centre has not answered, so by the 30 s ack timeout (the default) it
    # has been sent 6 times (first send + 5 retries) and the fallback (escalation: siren,
    # SMS, calls) starts. After that it is resent every 60 s (same id; the cloud
    # de-duplicates) so it still reaches the centre when the uplink returns.
    ack_timeout_s: float = 30.0
    resend_s: float = 5.0
    cancel_window_s: float = 30.0
    slow_resend_s: float = 60.0
    # An alarm raised while the uplink is down cannot be acknowledged at all: the other
    # path starts once the uplink has been down this long (escalation.uplink_grace_s).
    uplink_grace_s: float = 10.0


@dataclass(frozen=True)
class Feedback:
    """Tell the elder (LED, buzzer, later voice) that the alarm reached `state`."""

    alarm_id: str
    state: AlarmState


@dataclass(frozen=True)
class Resend:
    """Publish the alarm event again (same id: the cloud de-duplicates)."""

    alarm_id: str


@dataclass(frozen=True)
class Escalate:
    """The centre has not answered in time: emit `escalate` and call the escalation hook."""

    alarm_id: str
    reason: str


@dataclass(frozen=True)
class Persist:
    """Store the alarm's record (state change worth surviving a restart)."""

    alarm_id: str


Action = Feedback | Resend | Escalate | Persist


@dataclass
class Alarm:
    """One alarm's lifecycle record."""

    id: str
    kind: str
    raised_at: float  # monotonic
    state: AlarmState = AlarmState.RAISED
    test: bool = False
    raised_by: str = ""  # e.g. the press that raised it, so that press's own hold cannot cancel it
    seq: int = 0
    last_sent_at: float | None = None
    escalated: bool = False
    operator: str = ""
    note: str = ""
    history: list[tuple[str, float]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """Still needs attention."""
        return self.state in OPEN_STATES

    def to_record(self) -> dict[str, Any]:
        """JSON-able form for persistence and `status`."""
        rec = asdict(self)
        rec["state"] = self.state.value
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any], now: float) -> Alarm:
        """Restore after a restart; timers restart at `now` (monotonic time does not survive)."""
        alarm = cls(
            id=str(rec["id"]),
            kind=str(rec["kind"]),
            raised_at=now,
            state=AlarmState(rec["state"]),
            test=bool(rec.get("test")),
            raised_by=str(rec.get("raised_by", "")),
            seq=int(rec.get("seq", 0)),
            escalated=bool(rec.get("escalated")),
            operator=str(rec.get("operator", "")),
            note=str(rec.get("note", "")),
        )
        alarm.last_sent_at = now if alarm.state is AlarmState.SENT else None
        return alarm


class AlarmBook:
    """Every alarm the hub knows about, and the rules that move them."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.alarms: dict[str, Alarm] = {}

    def _move(self, alarm: Alarm, state: AlarmState, now: float) -> list[Action]:
        alarm.state = state
        alarm.history.append((state.value, now))
        return [Feedback(alarm.id, state), Persist(alarm.id)]

    def raised(
        self, alarm_id: str, kind: str, now: float, *, test: bool = False, raised_by: str = ""
    ) -> list[Action]:
        """A new alarm exists (not yet on disk)."""
        alarm = Alarm(alarm_id, kind, now, test=test, raised_by=raised_by)
        alarm.history.append((AlarmState.RAISED.value, now))
        self.alarms[alarm_id] = alarm
        return [Feedback(alarm_id, AlarmState.RAISED)]

    def committed(self, alarm_id: str, seq: int, now: float) -> list[Action]:
        """The alarm event is durable in the outbox."""
        alarm = self.alarms.get(alarm_id)
        if alarm is None or alarm.state is not AlarmState.RAISED:
            return []
        alarm.seq = seq
        return self._move(alarm, AlarmState.COMMITTED, now)

    def sent(self, alarm_id: str, now: float) -> list[Action]:
        """The broker has the alarm (PUBACK), first time or a resend."""
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            return []
        alarm.last_sent_at = now
        if alarm.state in (AlarmState.RAISED, AlarmState.COMMITTED):
            return self._move(alarm, AlarmState.SENT, now)
        return []

    def acked(
        self, alarm_id: str, centre_state: str, now: float, *, operator: str = "", note: str = ""
    ) -> list[Action] | None:
        """The centre answered; None when the id or state is unknown (the caller logs it)."""
        alarm = self.alarms.get(alarm_id)
        target = CENTRE_STATES.get(centre_state)
        if alarm is None or target is None:
            return None
        alarm.operator = operator or alarm.operator
        alarm.note = note or alarm.note
        if alarm.state is AlarmState.CANCELLED or _ORDER.index(target) <= _ORDER.index(alarm.state):
            return [Persist(alarm.id)]  # a duplicate or late ack: keep the details only
        return self._move(alarm, target, now)

    def open_alarm_for_cancel(self, now: float, press: str) -> Alarm | None:
        """The alarm a hold of the red button may cancel: an open SOS raised within the
        cancel window by an earlier press."""
        for alarm in sorted(self.alarms.values(), key=lambda a: a.raised_at, reverse=True):
            if (
                alarm.kind == "sos"
                and alarm.is_open
                and alarm.raised_by != press
                and now - alarm.raised_at <= self.timing.cancel_window_s
            ):
                return alarm
        return None

    def cancelled(self, alarm_id: str, now: float) -> list[Action]:
        """The elder cancelled a false alarm."""
        alarm = self.alarms.get(alarm_id)
        if alarm is None or not alarm.is_open:
            return []
        return self._move(alarm, AlarmState.CANCELLED, now)

    def open_sos(self) -> Alarm | None:
        """The newest open SOS, if any (a second press then raises nothing new)."""
        opened = [a for a in self.alarms.values() if a.kind == "sos" and a.is_open]
        return max(opened, key=lambda a: a.raised_at) if opened else None

    def tick(self, now: float, uplink_down_since: float | None = None) -> list[Action]:
        """Timers: resend unanswered alarms, escalate those the centre ignored or cannot
        receive (the uplink down for `uplink_grace_s`, given as monotonic time)."""
        actions: list[Action] = []
        for alarm in self.alarms.values():
            if alarm.state not in UNANSWERED:
                continue
            interval = self.timing.slow_resend_s if alarm.escalated else self.timing.resend_s
            if (
                alarm.state is AlarmState.SENT
                and alarm.last_sent_at is not None
                and now - alarm.last_sent_at >= interval
            ):
                alarm.last_sent_at = now  # one resend per interval, even while it is in flight
                actions.append(Resend(alarm.id))
            undelivered = alarm.state is not AlarmState.SENT
            cut_off = (
                undelivered
                and uplink_down_since is not None
                and now - max(alarm.raised_at, uplink_down_since) >= self.timing.uplink_grace_s
            )
            if not alarm.escalated and (
                cut_off or now - alarm.raised_at >= self.timing.ack_timeout_s
            ):
                alarm.escalated = True
                reason = (
                    "uplink_down" if cut_off else ("not_delivered" if undelivered else "no_ack")
                )
                actions += [Escalate(alarm.id, reason), Persist(alarm.id)]
        return actions

    def forget_closed(self) -> list[str]:
        """Drop closed and cancelled alarms from memory; returns their ids."""
        done = [a.id for a in self.alarms.values() if not a.is_open]
        for alarm_id in done:
            del self.alarms[alarm_id]
        return done

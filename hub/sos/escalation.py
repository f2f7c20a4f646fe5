"""Local escalation when the centre does not answer: a pure policy, no IO.

For a priority-0 alarm that the centre has not acknowledged in time, or that was raised
while the uplink is down, the hub itself reaches the family:

    start -> siren + "正在联系您的家人" -> SMS to each contact in order
          -> voice calls in order until one answers (each rings at most ring_timeout_s)
          -> if nobody answered: wait round_gap_s and call the list again (call_rounds)
    a centre ack at any point stops the cascade (a ringing call is hung up;
    an answered call is left alone: the relative is talking to the elder).

`Cascade` returns the actions the IO layer carries out (one modem step at a time, since
there is one modem) and the event drafts (`Record`) to commit for every attempt and
outcome; the IO layer reports each outcome back. Time is a monotonic `now` passed in.

The uplink retry timing lives with the alarm lifecycle (hub/sos/lifecycle.py, [sos]);
this cascade is the "other path" it falls back to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from hub.errors import ConfigError
from hub.event import Event
from hub.sos.sms import mask_number

# The spoken status for the elder while the hub reaches the family.
SPOKEN_STATUS = "正在联系您的家人"

# -- timing: where each number comes from --------------------------------------------------
# With the uplink already down when the alarm is raised, waiting the full ack timeout
# would only delay the family: a short grace covers a reconnect that is in progress
# (the uplink's first reconnect attempts are sub-second to a few seconds).
UPLINK_GRACE_S = 10.0
# About eight rings; long enough to reach a phone in another room, shorter than the
# 20-30 s after which many networks divert to voicemail (which would "answer").
RING_TIMEOUT_S = 25.0
# Two passes through the list, a minute apart: a relative in the shower or on the
# underground gets a second chance without the hub calling for ever.
CALL_ROUNDS = 2
ROUND_GAP_S = 60.0
MAX_CONTACTS = 10

# What each alarm kind is called in the family's SMS.
KIND_TEXT = {
    "sos": "紧急求助",
    "fall": "疑似跌倒",
    "smoke": "烟雾报警",
    "gas": "燃气泄漏报警",
    "co": "一氧化碳报警",
    "water": "水浸报警",
    "survival_overdue": "未按时报平安",
    "inactivity": "长时间无活动",
    "night_exit": "夜间离家未归",
    "fall_suspected": "疑似夜间跌倒",
    "vital_abnormal": "生命体征危急",
}


# -- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """An emergency contact (from configuration, never from logs)."""

    name: str
    number: str
    relation: str = ""


@dataclass(frozen=True)
class EscalationConfig:
    """[escalation]"""

    contacts: tuple[Contact, ...] = ()
    centre_numbers: tuple[str, ...] = ()  # incoming calls from these are auto-answered
    sms: bool = True
    calls: bool = True
    uplink_grace_s: float = UPLINK_GRACE_S
    ring_timeout_s: float = RING_TIMEOUT_S
    call_rounds: int = CALL_ROUNDS
    round_gap_s: float = ROUND_GAP_S
    modem_port: str = ""  # "" no modem (siren only); "sim" the simulator; else a device
    modem_baudrate: int = 115200
    # The family opted in to one SMS a week with the weekly summary (hub/care/weekly.py);
    # needs the modem and at least one contact.
    weekly_sms: bool = False


# option -> (type, lo, hi, help)
_NUMBERS: dict[str, tuple[type, float, float, str]] = {
    "uplink_grace_s": (float, 0, 600, "seconds the uplink may be down before escalating"),
    "ring_timeout_s": (float, 5, 120, "seconds each call may ring"),
    "call_rounds": (int, 1, 5, "passes through the contact list"),
    "round_gap_s": (float, 0, 3600, "seconds between passes"),
    "modem_baudrate": (int, 9600, 4_000_000, "serial speed of the modem port"),
}
_CONTACT_KEYS = ("name", "number", "relation")


def _clean_number(value: Any) -> str:
    """The number as dialled: spaces and dashes people write for reading removed."""
    return value.strip().replace(" ", "").replace("-", "") if isinstance(value, str) else ""


def _number_problem(option: str, value: Any) -> str | None:
    digits = _clean_number(value).removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 3 <= len(digits) <= 20:
        return (
            f"{option}: must be a phone number of 3-20 digits, optionally starting "
            f'with +, e.g. "+8613800138000"'
        )
    return None


def parse_escalation(raw: Mapping[str, Any]) -> EscalationConfig:
    """Validate the [escalation] table; ConfigError names each bad option."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ConfigError(["[escalation]: must be a table"])
    known = {"contacts", "centre_numbers", "sms", "calls", "modem_port", "weekly_sms", *_NUMBERS}
    for key in raw:
        if key not in known:
            problems.append(f"escalation.{key}: unknown option")
    values: dict[str, Any] = {}
    contacts: list[Contact] = []
    raw_contacts = raw.get("contacts", [])
    if not isinstance(raw_contacts, list):
        problems.append("escalation.contacts: must be a list of tables ([[escalation.contacts]])")
        raw_contacts = []
    if len(raw_contacts) > MAX_CONTACTS:
        problems.append(f"escalation.contacts: at most {MAX_CONTACTS} contacts")
    for i, item in enumerate(raw_contacts):
        where = f"escalation.contacts[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: must be a table with name, number and relation")
            continue
        problems += [f"{where}.{k}: unknown option" for k in item if k not in _CONTACT_KEYS]
        name, relation = item.get("name", ""), item.get("relation", "")
        if not isinstance(name, str) or not name.strip():
            problems.append(f'{where}.name: required text, e.g. "王小红"')
        if not isinstance(relation, str):
            problems.append(f'{where}.relation: must be text, e.g. "女儿"')
        problem = _number_problem(f"{where}.number", item.get("number"))
        if problem:
            problems.append(problem)
        elif isinstance(name, str) and isinstance(relation, str):
            contacts.append(Contact(name.strip(), _clean_number(item["number"]), relation.strip()))
    values["contacts"] = tuple(contacts)
    centre = raw.get("centre_numbers", [])
    if not isinstance(centre, list):
        problems.append("escalation.centre_numbers: must be a list of phone numbers")
        centre = []
    for i, number in enumerate(centre):
        problem = _number_problem(f"escalation.centre_numbers[{i}]", number)
        if problem:
            problems.append(problem)
    values["centre_numbers"] = tuple(_clean_number(n) for n in centre)
    for flag in ("sms", "calls", "weekly_sms"):
        if flag in raw:
            if not isinstance(raw[flag], bool):
                problems.append(f"escalation.{flag}: must be true or false")
            else:
                values[flag] = raw[flag]
    if "modem_port" in raw:
        if not isinstance(raw["modem_port"], str):
            problems.append('escalation.modem_port: must be text, e.g. "/dev/ttyUSB2" or "sim"')
        else:
            values["modem_port"] = raw["modem_port"]
    for key, (kind, lo, hi, help_text) in _NUMBERS.items():
        if key not in raw:
            continue
        value = raw[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not isinstance(value, int))
        ):
            what = "a whole number" if kind is int else "a number"
            problems.append(f"escalation.{key}: must be {what} ({help_text})")
        elif not lo <= value <= hi:
            problems.append(f"escalation.{key}: {value!r} is out of range; allowed {lo} to {hi}")
        else:
            values[key] = kind(value)
    if values.get("weekly_sms") and not (values.get("modem_port") and contacts):
        problems.append(
            "escalation.weekly_sms: the weekly summary SMS needs a modem (modem_port) and "
            "at least one contact ([[escalation.contacts]])"
        )
    if problems:
        raise ConfigError(problems)
    return EscalationConfig(**values)


# -- when to escalate -------------------------------------------


def escalation_reason(
    *,
    raised_at: float,
    now: float,
    answered: bool,
    uplink_down_since: float | None,
    ack_timeout_s: float,
    cfg: EscalationConfig,
) -> str | None:
    """Why an alarm must escalate now ("uplink_down", "no_ack"), or None."""
    if answered:
        return None
    if uplink_down_since is not None:
        down_for = now - max(raised_at, uplink_down_since)
        if down_for >= cfg.uplink_grace_s:
            return "uplink_down"
    if now - raised_at >= ack_timeout_s:
        return "no_ack"
    return None


# -- the cascade ------------------------------------------------------------------------


def sms_time(ts: datetime, timezone: str) -> str:
    """A timestamp as the family reads it, in the hub's timezone: "11月23日 08:00"."""
    local = ts.astimezone(ZoneInfo(timezone))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


@dataclass(frozen=True)
class AlarmFacts:
    """What the family's SMS says about the alarm."""

    alarm_id: str
    kind: str
    hub_id: str
    local_time: str  # e.g. "11月23日 08:00", the hub's timezone
    room: str = ""
    test: bool = False
    # Whether the cascade texts and calls the family. Not for a test alarm (the centre's
    # routine tests once texted and called the family a hundred times), unless it is the
    # centre's full escalation test (hub/sync/commands.py) or a device's real trigger
    # the walk test flagged as a test (a person set it off: it still reaches them).
    family: bool = True

    @classmethod
    def from_event(cls, event: Event, timezone: str) -> AlarmFacts:
        """The facts of a stored alarm event (its time, not the time of escalation)."""
        return cls(
            alarm_id=event.id,
            kind=event.kind,
            hub_id=event.hub,
            local_time=sms_time(event.ts, timezone),
            room=event.source.room if event.source else "",
            test=event.is_test,
            family=not event.is_test
            or event.data.get("escalation_test") is True
            or "walk_test" in event.data,
        )


@dataclass(frozen=True)
class SendSms:
    """Text `contact` (index in the configured list)."""

    contact: int
    number: str
    text: str


@dataclass(frozen=True)
class Call:
    """Call `contact`; report the outcome with `Cascade.call_ended`."""

    contact: int
    number: str
    ring_timeout_s: float


@dataclass(frozen=True)
class HangUp:
    """End the call that is ringing (the centre has taken over)."""


@dataclass(frozen=True)
class Siren:
    """Sound the local siren."""


@dataclass(frozen=True)
class Speak:
    """Say `text` to the elder."""

    text: str


@dataclass(frozen=True)
class Record:
    """Commit an event draft of `kind` with `data` (synced when the uplink returns)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


EscalationAction = SendSms | Call | HangUp | Siren | Speak | Record


class CascadeState(Enum):
    """Where the cascade is."""

    NEW = "new"
    TEXTING = "texting"
    CALLING = "calling"
    WAITING = "waiting"  # between two passes through the list
    ANSWERED = "answered"
    EXHAUSTED = "exhausted"
    STOPPED = "stopped"  # the centre acknowledged


FINISHED = frozenset({CascadeState.ANSWERED, CascadeState.EXHAUSTED, CascadeState.STOPPED})


def sms_text(facts: AlarmFacts) -> str:
    """The family's SMS: kind, room, local time, hub id, what to do (in Chinese)."""
    kind = KIND_TEXT.get(facts.kind, "报警")
    where = f"（{facts.room}）" if facts.room else ""
    test = "【测试，请勿处理】" if facts.test else ""
    # Kept within 70 characters for a usual room name: one UCS2 message, not two parts.
    return (
        f"【平安通】{test}{facts.local_time} 您的家人触发{kind}{where}，"
        f"中心未能接通，请尽快联系老人，必要时拨打120。设备{facts.hub_id}"
    )


class Cascade:
    """One alarm's escalation to the family, one modem step at a time."""

    def __init__(self, facts: AlarmFacts, cfg: EscalationConfig) -> None:
        self.facts = facts
        self.cfg = cfg
        self.state = CascadeState.NEW
        self.reason = ""
        self.waiting_for: SendSms | Call | None = None
        self.round = 0
        self.resume_at: float | None = None
        self.texts_sent = 0
        self.calls_made = 0

    @property
    def finished(self) -> bool:
        """Nothing more will be attempted."""
        return self.state in FINISHED

    def _base(self, contact: int) -> dict[str, Any]:
        person = self.cfg.contacts[contact]
        return {
            "alarm_id": self.facts.alarm_id,
            "contact": contact,
            "relation": person.relation,
            "number": mask_number(person.number),
            "test": self.facts.test,
        }

    def start(self, reason: str, now: float) -> list[EscalationAction]:
        """The centre did not answer (`reason`): siren, tell the elder, first contact."""
        if self.state is not CascadeState.NEW:
            return []
        self.reason = reason
        actions: list[EscalationAction] = [Siren()]
        if not self.facts.family:
            # A test alarm tests the hub and the centre; the family is texted and called
            # only for a full escalation test the centre asked for.
            self.state = CascadeState.EXHAUSTED
            return actions
        if not self.cfg.contacts or not (self.cfg.sms or self.cfg.calls):
            self.state = CascadeState.EXHAUSTED
            return [
                *actions,
                Record(
                    "fault",
                    {
                        "alarm_id": self.facts.alarm_id,
                        "component": "escalation",
                        "detail": "no emergency contacts configured: only the siren sounds",
                    },
                ),
            ]
        actions.append(Speak(SPOKEN_STATUS))
        if self.cfg.sms:
            return actions + self._text(0)
        return actions + self._call(0, now)

    def _text(self, contact: int) -> list[EscalationAction]:
        self.state = CascadeState.TEXTING
        step = SendSms(contact, self.cfg.contacts[contact].number, sms_text(self.facts))
        self.waiting_for = step
        return [step]

    def _call(self, contact: int, now: float) -> list[EscalationAction]:
        if not self.cfg.calls:
            self.state = CascadeState.EXHAUSTED
            self.waiting_for = None
            return [self._exhausted()]
        self.state = CascadeState.CALLING
        step = Call(contact, self.cfg.contacts[contact].number, self.cfg.ring_timeout_s)
        self.waiting_for = step
        return [step]

    def _exhausted(self) -> Record:
        if self.cfg.calls:
            detail = f"no emergency contact answered after {self.round + 1} round(s)"
        else:  # nobody was called: saying "nobody answered" would mislead the centre
            detail = (
                f"{self.texts_sent} of {len(self.cfg.contacts)} emergency contact(s) texted; "
                "calls are switched off (escalation.calls = false)"
            )
        return Record(
            "fault",
            {"alarm_id": self.facts.alarm_id, "component": "escalation", "detail": detail},
        )

    def sms_sent(self, contact: int, ok: bool, detail: str, now: float) -> list[EscalationAction]:
        """The modem finished texting `contact` (ok or not)."""
        step = self.waiting_for
        if not isinstance(step, SendSms) or step.contact != contact:
            return []
        self.waiting_for = None
        self.texts_sent += ok
        actions: list[EscalationAction] = [
            Record("escalation_sms", {**self._base(contact), "ok": ok, "detail": detail})
        ]
        if not ok:
            actions.append(self._fault(contact, detail))
        if self.state is CascadeState.STOPPED:
            return actions
        if contact + 1 < len(self.cfg.contacts):
            return actions + self._text(contact + 1)
        return actions + self._call(0, now)

    def call_ended(
        self, contact: int, outcome: str, detail: str, now: float
    ) -> list[EscalationAction]:
        """The call to `contact` ended up `outcome` (answered, busy, no_answer, failed)."""
        step = self.waiting_for
        if not isinstance(step, Call) or step.contact != contact:
            return []
        self.waiting_for = None
        self.calls_made += 1
        actions: list[EscalationAction] = [
            Record(
                "escalation_call",
                {
                    **self._base(contact),
                    "outcome": outcome,
                    "round": self.round + 1,
                    "detail": detail,
                },
            )
        ]
        if outcome == "failed":
            actions.append(self._fault(contact, detail))
        if self.state is CascadeState.STOPPED:
            return actions
        if outcome == "answered":
            self.state = CascadeState.ANSWERED
            return actions
        if contact + 1 < len(self.cfg.contacts):
            return actions + self._call(contact + 1, now)
        if self.round + 1 < self.cfg.call_rounds:
            self.state = CascadeState.WAITING
            self.resume_at = now + self.cfg.round_gap_s
            return actions
        self.state = CascadeState.EXHAUSTED
        return [*actions, self._exhausted()]

    def _fault(self, contact: int, detail: str) -> Record:
        return Record(
            "fault",
            {
                "alarm_id": self.facts.alarm_id,
                "component": "modem",
                "contact": contact,
                "detail": detail,
            },
        )

    def tick(self, now: float) -> list[EscalationAction]:
        """Timers: the next pass through the list when its time has come."""
        if (
            self.state is CascadeState.WAITING
            and self.resume_at is not None
            and now >= self.resume_at
        ):
            self.round += 1
            self.resume_at = None
            return self._call(0, now)
        return []

    def acked(self, now: float) -> list[EscalationAction]:
        """The centre acknowledged: stop; hang up a call that is still ringing."""
        if self.state is CascadeState.NEW:
            self.state = CascadeState.STOPPED  # acknowledged in time: never starts
            return []
        if self.finished:
            return []
        ringing = isinstance(self.waiting_for, Call)
        self.state = CascadeState.STOPPED
        actions: list[EscalationAction] = [HangUp()] if ringing else []
        return [
            *actions,
            Record(
                "escalation_stopped",
                {
                    "alarm_id": self.facts.alarm_id,
                    "reason": "centre_ack",
                    "texts_sent": self.texts_sent,
                    "calls_made": self.calls_made,
                    "test": self.facts.test,
                },
            ),
        ]

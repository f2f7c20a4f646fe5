"""The alarm service: priority-0 alarms raised, carried through their lifecycle and kept.

The lifecycle itself is the pure state machine of hub/sos/lifecycle.py (AlarmBook); this
room carries out what it decides: feedback (LED, buzzer, the elder's prompt, listeners
such as the pages and Home Assistant), persistence of the alarm records (so a restart
resumes open alarms), resends while the centre is silent, and escalation to the family
(hub/services/family.py) when it stays silent.

An alarm is committed to the outbox (hub/services/committer.py) before anything sends
it: the lifecycle moves to COMMITTED from the committer's `when_committed` call, at once,
before the uplink can have sent it. An alarm the disk refuses stays open in memory and
escalates locally; it is held and stored (then sent) when the disk answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hub.clock import Clock
from hub.config import Config, RunningConfig
from hub.errors import HubError, StoreError
from hub.event import Draft, Event, Priority, Source
from hub.sensors.gpio import Indicators
from hub.services.committer import EventCommitter
from hub.services.family import FamilyEscalation
from hub.services.speech import SpeechService
from hub.sos.lifecycle import (
    Action,
    Alarm,
    AlarmBook,
    AlarmState,
    Escalate,
    Feedback,
    Persist,
    Resend,
    Timing,
)
from hub.store.outbox import AsyncOutbox
from hub.sync.messages import Ack
from hub.sync.uplink import Uplink
from hub.tasks import Tasks

_LOGGER = logging.getLogger(__name__)

# Closed and cancelled alarms stay visible in `status` this long.
_KEEP_CLOSED_S = 3600.0
# Alarm records and PUBACK marks are written this long after they change, in one batch.
_LAZY_WRITE_S = 0.1
# What the elder hears as an alarm moves on.
ALARM_PROMPTS = {
    AlarmState.SENT: "alarm_sent",
    AlarmState.ACKNOWLEDGED: "centre_received",
    AlarmState.DISPATCHED: "help_dispatched",
}

_PATTERN = {
    AlarmState.RAISED: "raised",
    AlarmState.COMMITTED: "raised",
    AlarmState.SENT: "sent",
    AlarmState.ACKNOWLEDGED: "acknowledged",
    AlarmState.DISPATCHED: "acknowledged",
    AlarmState.CLOSED: "off",
    AlarmState.CANCELLED: "off",
}

EscalationHook = Callable[[Alarm, str], Awaitable[None]]
AlarmListener = Callable[[Alarm], None]


def timing(cfg: Config) -> Timing:
    """The alarm lifecycle's timers from [sos]."""
    sos = cfg.sos
    return Timing(
        sos.ack_timeout_s,
        sos.resend_s,
        sos.cancel_window_s,
        sos.slow_resend_s,
        cfg.escalation.uplink_grace_s,
    )


class AlarmService:
    """Raises alarms and carries out their lifecycle; `book` holds them."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        tasks: Tasks,
        *,
        events: EventCommitter,
        outbox: AsyncOutbox,
        uplink: Uplink,
        indicators: Indicators,
        speech: SpeechService,
        family: FamilyEscalation,
        escalation: EscalationHook | None = None,
        presence: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self.clock = clock
        self.tasks = tasks
        self.events = events
        self.outbox = outbox
        self.uplink = uplink
        self.indicators = indicators
        self.speech = speech
        self.family = family
        self.book = AlarmBook(timing(running.cfg))
        # What is done when the centre stays silent (the family cascade unless replaced).
        self.escalation: EscalationHook = escalation or family.escalate
        # The wearables' last known presence, attached to every alarm raised here.
        self.presence = presence
        # Told of every lifecycle step (the family cascade, the pages, Home Assistant).
        self.listeners: list[AlarmListener] = [family.answered]
        # Each may flag an alarm's draft before it is raised (the walk test marks its
        # devices' alarms as tests); they never drop one.
        self.marks: list[Callable[[Draft], Draft]] = []
        self._dirty_alarms: set[str] = set()
        self._persist_wanted = asyncio.Event()

    async def restore(self) -> None:
        """Take back the alarms that were open when the hub last stopped."""
        now = self.clock.monotonic()
        for record in await self.outbox.load_alarms():
            try:
                alarm = Alarm.from_record(record, now)
            except (KeyError, ValueError) as exc:
                _LOGGER.error("stored alarm record unusable, skipped: %s", exc)
                continue
            self.book.alarms[alarm.id] = alarm
            _LOGGER.warning(
                "alarm %s restored after restart in state %s", alarm.id, alarm.state.value
            )

    def reconfigure(self, cfg: Config) -> None:
        """New [sos] timers apply to the open alarms' next steps."""
        self.book.timing = timing(cfg)

    # -- raising --------------------------------------------------------------------

    async def raise_alarm(
        self,
        kind: str,
        *,
        source: Source | None = None,
        data: dict[str, Any] | None = None,
        test: bool = False,
        raised_by: str = "",
    ) -> Event | None:
        """Raise a priority-0 alarm: feedback at once, commit, then the uplink sends it."""
        payload = dict(data or {})
        if test:
            payload["test"] = True
        presence = self.presence()
        if presence:  # an emergency: where the wearable was
            payload.setdefault("presence", presence)
        draft = Draft.create(kind, self.clock, data=payload, source=source)
        return await self.raise_alarm_draft(draft, raised_by=raised_by)

    async def raise_alarm_draft(self, draft: Draft, *, raised_by: str = "") -> Event | None:
        """Raise an alarm from a ready draft (care checks make their own)."""
        for mark in self.marks:
            draft = mark(draft)
        test = bool(draft.data.get("test"))
        self._execute(
            self.book.raised(
                draft.id, draft.kind, self.clock.monotonic(), test=test, raised_by=raised_by
            )
        )
        event = await self.events.commit_or_hold(draft)  # committed: committed() moved it on
        if event is None:
            # The disk failed us. The alarm stays open in memory so the lifecycle
            # escalates it locally (siren) when no centre ack comes; it is held and
            # stored (then sent) as soon as the disk answers, with its own time.
            _LOGGER.critical(
                "ALARM %s could not be stored; escalating locally, storing it again "
                "when the disk answers",
                draft.id,
            )
        return event

    async def test_alarm(self) -> dict[str, Any]:
        """An SOS marked test through the real path, as `test-alarm`: {id, seq}."""
        event = await self.raise_alarm(
            "sos", test=True, source=Source("control", name="test-alarm", protocol="cli")
        )
        if event is None:
            raise HubError("the test alarm could not be stored; see the hub's log")
        return {"id": event.id, "seq": event.seq}

    async def cancel_held(self, press: str, source: Source) -> None:
        """The red button held: the alarm that press raised, if still within its cancel
        window, is cancelled (and `sos_cancelled` stored)."""
        alarm = self.book.open_alarm_for_cancel(self.clock.monotonic(), press)
        if alarm is not None:
            self._execute(self.book.cancelled(alarm.id, self.clock.monotonic()))
            await self.events.commit_or_hold(
                Draft.create(
                    "sos_cancelled", self.clock, source=source, data={"alarm_id": alarm.id}
                )
            )

    def open_sos(self) -> Alarm | None:
        """The open SOS, if any (a second press shows it rather than raising another)."""
        return self.book.open_sos()

    def any_open(self) -> bool:
        """Whether any alarm is open."""
        return any(a.is_open for a in self.book.alarms.values())

    def show(self, alarm: Alarm) -> None:
        """Show `alarm`'s state again on the LED and buzzer."""
        self.indicators.show(_PATTERN[alarm.state])

    # -- what the outbox and the centre tell us ---------------------------------------

    def committed(self, event: Event) -> None:
        """An event is on disk: an alarm moves to COMMITTED (before it can be sent)."""
        if event.priority is Priority.ALARM:  # at once, before the uplink can have sent it
            self._execute(self.book.committed(event.id, event.seq, self.clock.monotonic()))

    def sent(self, event: Event) -> None:
        """The broker has `event` (PUBACK)."""
        self._execute(self.book.sent(event.id, self.clock.monotonic()))

    def acked(self, ack: Ack) -> None:
        """The centre's ack (received, dispatched, resolved)."""
        actions = self.book.acked(
            ack.id, ack.state, self.clock.monotonic(), operator=ack.operator, note=ack.note
        )
        if actions is None:
            _LOGGER.warning("ack for unknown alarm %r ignored", ack.id)
            return
        self._execute(actions)

    def tick(self, now: float) -> None:
        """The lifecycle's timers: resends and escalation when the centre is silent."""
        self._execute(self.book.tick(now, self.uplink.down_since))

    def forget_closed(self, now: float) -> None:
        """Drop alarms closed or cancelled more than _KEEP_CLOSED_S ago (and their cascades)."""
        for alarm in list(self.book.alarms.values()):
            if not alarm.is_open and alarm.history and now - alarm.history[-1][1] > _KEEP_CLOSED_S:
                del self.book.alarms[alarm.id]
                self.family.forget(alarm.id)

    # -- carrying out the lifecycle's actions -----------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            alarm = self.book.alarms.get(action.alarm_id)
            if alarm is None:
                continue
            if isinstance(action, Feedback):
                _LOGGER.info("alarm %s %s", alarm.id, action.state.value)
                if action.state in ALARM_PROMPTS:
                    self.speech.say(ALARM_PROMPTS[action.state])
                for listener in self.listeners:
                    listener(alarm)
                # gpiozero starts and joins pattern threads: do it on the next loop turn,
                # not between the press and the commit.
                asyncio.get_running_loop().call_soon(self.indicators.show, _PATTERN[action.state])
            elif isinstance(action, Persist):
                self._dirty_alarms.add(alarm.id)
                self._persist_wanted.set()
            elif isinstance(action, Resend):
                self.tasks.spawn(self._resend(alarm.id), "resend")
            elif isinstance(action, Escalate):
                self.tasks.spawn(self._escalate(alarm, action.reason), "escalate")

    async def persist_forever(self) -> None:
        """Write changed alarm records in batches, a moment after they change.

        Batching keeps SD-card writes few and keeps the single database thread free
        for the next alarm's commit.
        """
        while True:
            await self._persist_wanted.wait()
            await asyncio.sleep(_LAZY_WRITE_S)
            await self.persist_now()

    async def persist_now(self) -> None:
        """Write the changed alarm records now (a refusing disk: kept for the next try)."""
        self._persist_wanted.clear()
        dirty, self._dirty_alarms = self._dirty_alarms, set()
        records, drops = [], []
        for alarm_id in dirty:
            alarm = self.book.alarms.get(alarm_id)
            if alarm is not None and alarm.state is AlarmState.RAISED:
                # Not stored yet (held): a record would outlive it across a restart, an
                # open SOS with nothing to send that the next red press defers to.
                continue
            if alarm is not None and alarm.is_open:
                records.append(alarm.to_record())
            else:
                drops.append(alarm_id)
        if records or drops:
            try:
                await self.outbox.save_alarms(records, drops)
            except StoreError as exc:  # a refusing disk: written with the next change
                self._dirty_alarms |= dirty
                _LOGGER.error("alarm records not saved, kept for the next try: %s", exc)

    async def _resend(self, alarm_id: str) -> None:
        event = await self.outbox.get(alarm_id)
        if event is not None and await self.uplink.resend(event):
            _LOGGER.info("alarm %s resent (no centre ack yet)", alarm_id)

    async def _escalate(self, alarm: Alarm, reason: str) -> None:
        _LOGGER.warning("alarm %s escalated: %s", alarm.id, reason)
        await self.events.commit_or_hold(  # a refusing disk must not stop the family being called
            Draft.create(
                "escalate",
                self.clock,
                data={
                    "alarm_id": alarm.id,
                    "alarm_kind": alarm.kind,
                    "reason": reason,
                    "test": alarm.test,
                },
            )
        )
        await self.escalation(alarm, reason)

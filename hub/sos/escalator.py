"""Escalation carried out: the pure cascade (hub.sos.escalation) driven through the
cellular modem, with the hub's siren, voice and event drafts as callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hub.sos.escalation import (
    AlarmFacts,
    Call,
    Cascade,
    CascadeState,
    EscalationAction,
    EscalationConfig,
    HangUp,
    Record,
    SendSms,
    Siren,
    Speak,
)
from hub.sos.modem import Modem, ModemError
from hub.timeouts import wait_within

_LOGGER = logging.getLogger(__name__)

RecordFn = Callable[[str, dict[str, Any]], Awaitable[object]]


class Escalator:
    """Runs `hub.sos.escalation.Cascade`s: the modem steps, siren, voice and event drafts.

    `record(kind, data)` commits an event draft; `siren()` and `speak(text)` are the
    hub's local feedback; `monotonic()` is the clock the cascade's timers use.
    """

    def __init__(
        self,
        modem: Modem | None,
        cfg: EscalationConfig,
        *,
        record: RecordFn,
        siren: Callable[[], object],
        speak: Callable[[str], object],
        monotonic: Callable[[], float],
    ) -> None:
        self.modem = modem
        self.cfg = cfg
        self.record = record
        self.siren = siren
        self.speak = speak
        self.monotonic = monotonic
        self.cascades: dict[str, Cascade] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def escalate(self, facts: AlarmFacts, reason: str) -> Cascade:
        """Reach the family for this alarm; returns when the cascade has finished."""
        cascade = self.cascades.get(facts.alarm_id)
        if cascade is None:
            cascade = self.cascades[facts.alarm_id] = Cascade(facts, self.cfg)
        if self.modem is None:
            self.siren()
            await self.record(
                "fault",
                {
                    "alarm_id": facts.alarm_id,
                    "component": "modem",
                    "detail": "no cellular modem configured: only the siren sounds",
                },
            )
            return cascade
        modem = self.modem
        actions = cascade.start(reason, self.monotonic())
        while True:
            step = await self._carry_out(actions)
            if isinstance(step, SendSms):
                try:
                    refs = await modem.send_sms(step.number, step.text)
                    ok, detail = True, f"sent in {len(refs)} part(s)"
                except ModemError as exc:
                    ok, detail = False, str(exc)
                actions = cascade.sms_sent(step.contact, ok, detail, self.monotonic())
            elif isinstance(step, Call):
                result = await modem.dial(step.number, ring_timeout=step.ring_timeout_s)
                actions = cascade.call_ended(
                    step.contact, result.outcome.value, result.detail, self.monotonic()
                )
            elif cascade.state is CascadeState.WAITING and cascade.resume_at is not None:
                wake = self._wakes.setdefault(facts.alarm_id, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    delay = max(0.0, cascade.resume_at - self.monotonic())
                    await wait_within(wake.wait(), delay)
                actions = cascade.tick(self.monotonic())
            else:
                return cascade

    async def _carry_out(self, actions: list[EscalationAction]) -> SendSms | Call | None:
        step: SendSms | Call | None = None
        for action in actions:
            if isinstance(action, (SendSms, Call)):
                step = action
            elif isinstance(action, Record):
                await self.record(action.kind, action.data)
            elif isinstance(action, Siren):
                self.siren()
            elif isinstance(action, Speak):
                self.speak(action.text)
            elif isinstance(action, HangUp) and self.modem is not None:
                try:
                    await self.modem.hang_up()
                except ModemError as exc:
                    _LOGGER.warning("hang-up after the centre's ack failed: %s", exc)
        return step

    def acked(self, alarm_id: str) -> None:
        """The centre acknowledged `alarm_id`: stop its cascade (from the hub's ack handler)."""
        cascade = self.cascades.get(alarm_id)
        if cascade is None:
            return  # never escalated: the lifecycle does not escalate acknowledged alarms
        actions = cascade.acked(self.monotonic())
        wake = self._wakes.get(alarm_id)
        if wake is not None:
            wake.set()  # a cascade waiting between rounds ends now, not after the gap
        if actions:
            task = asyncio.get_running_loop().create_task(self._carry_out(actions))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def forget(self, alarm_id: str) -> None:
        """Drop a closed alarm's cascade."""
        self.cascades.pop(alarm_id, None)
        self._wakes.pop(alarm_id, None)

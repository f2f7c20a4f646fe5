"""The other path to help: when the centre does not answer an alarm, the siren, then
SMS and calls to the family through the cellular modem (hub/sos/escalator.py carries
out the pure cascade of hub/sos/escalation.py).

This room also keeps the modem itself: opened at start, reopened (backing off) when it
is unplugged, calls from the centre answered and recorded, its signal read for the
heartbeat and the installer's survey. A modem that fails is a `fault` event, never a
crash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hub.clock import Clock
from hub.config import RunningConfig
from hub.event import Draft, Event
from hub.sensors.gpio import Indicators
from hub.services.committer import EventCommitter
from hub.services.speech import SpeechService
from hub.sim.modem import SimulatedModem
from hub.sos.at import SignalQuality
from hub.sos.escalation import AlarmFacts, sms_time
from hub.sos.escalator import Escalator
from hub.sos.lifecycle import UNANSWERED, Alarm
from hub.sos.modem import Modem, ModemError
from hub.store.outbox import AsyncOutbox
from hub.tasks import Tasks
from hub.timeouts import wait_within

_LOGGER = logging.getLogger(__name__)

# A lost modem is reopened after this delay, doubling up to the maximum; the port is
# checked this often while waiting for incoming calls.
_MODEM_RETRY_MIN_S = 5.0
_MODEM_RETRY_MAX_S = 300.0
_MODEM_CHECK_S = 5.0


class FamilyEscalation:
    """The modem and the family cascade: `escalate` an alarm, told when it is `answered`."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        tasks: Tasks,
        *,
        events: EventCommitter,
        outbox: AsyncOutbox,
        indicators: Indicators,
        speech: SpeechService,
    ) -> None:
        self.running = running
        self.clock = clock
        self.tasks = tasks
        self.events = events
        self.outbox = outbox
        self.indicators = indicators
        self.speech = speech
        self.modem: Modem | None = None
        self.sim_modem: SimulatedModem | None = None
        self.escalator: Escalator
        self.modem_rssi_dbm: int | None = None

    async def start(self) -> None:
        """Open the modem (when one is configured) and get the cascade ready."""
        await self._start_modem()
        self.escalator = Escalator(
            self.modem,
            self.running.cfg.escalation,
            record=self._record,
            siren=lambda: self.indicators.show("siren"),
            speak=lambda _text: self.speech.say("contacting_family"),
            monotonic=self.clock.monotonic,
        )

    async def close(self) -> None:
        """Close the modem (and the simulated one)."""
        if self.modem is not None:
            await self.modem.close()
        if self.sim_modem is not None:
            self.sim_modem.close()

    async def _start_modem(self) -> None:
        """Open the cellular modem when one is configured; a failure is a fault, not a crash."""
        cfg = self.running.cfg
        port = cfg.escalation.modem_port
        if not port:
            return
        if port == "sim":
            self.sim_modem = SimulatedModem()
            port = self.sim_modem.start()
        self.modem = Modem(
            port,
            centre_numbers=cfg.escalation.centre_numbers,
            baudrate=cfg.escalation.modem_baudrate,
        )
        await self._open_modem(report=True)
        self.tasks.supervise("modem", self._modem_forever)

    async def _open_modem(self, *, report: bool) -> bool:
        """Open and initialise the modem; a failure is a fault event (when `report`)."""
        assert self.modem is not None
        try:
            if not self.modem.is_open:
                await self.modem.open()
            await self.modem.initialise()
        except ModemError as exc:
            _LOGGER.error("cellular modem not usable: %s", exc)
            if report:
                await self.events.commit_or_hold(
                    Draft.create(
                        "fault", self.clock, data={"component": "modem", "detail": str(exc)}
                    )
                )
            return False
        return True

    async def _modem_forever(self) -> None:
        """Keep the modem open (reopen an unplugged one, backing off) and report calls in."""
        assert self.modem is not None
        delay = _MODEM_RETRY_MIN_S
        reported = not self.modem.is_open  # start-up already reported this outage
        while True:
            if not self.modem.is_open:
                if await self._open_modem(report=not reported):  # one fault per outage
                    reported, delay = False, _MODEM_RETRY_MIN_S
                else:
                    reported = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _MODEM_RETRY_MAX_S)
                    continue
            try:
                # Not anext() of incoming_calls(): a timeout would cancel and so end
                # the generator, and the next wait would crash with StopAsyncIteration.
                call = await wait_within(self.modem.next_call(), _MODEM_CHECK_S)
            except TimeoutError:
                continue
            await self.events.commit_or_hold(  # a refusing disk must not restart the modem part
                Draft.create(
                    "incoming_call",
                    self.clock,
                    data={
                        "number": call.number_masked,
                        "answered": call.answered,
                        "error": call.error,
                    },
                )
            )

    async def _record(self, kind: str, data: dict[str, Any]) -> None:
        await self.events.commit_or_hold(Draft.create(kind, self.clock, data=data))

    async def escalate(self, alarm: Alarm, reason: str) -> None:
        """The centre did not answer: siren, then SMS and calls to the family (modem)."""
        cfg = self.running.cfg
        event = await self.outbox.get(alarm.id)
        held = self.events.held.get(alarm.id)
        if event is None and held is not None:  # refused by the disk: its facts are here
            event = Event.from_draft(held, cfg.hub.id, seq=0)
        tz = cfg.hub.timezone
        facts = (
            AlarmFacts.from_event(event, tz)
            if event is not None
            else AlarmFacts(
                alarm.id,
                alarm.kind,
                cfg.hub.id,
                sms_time(self.clock.now(), tz),
                test=alarm.test,
                family=not alarm.test,
            )
        )
        await self.escalator.escalate(facts, reason)

    def answered(self, alarm: Alarm) -> None:
        """An alarm moved on: once the centre has it, its cascade stops."""
        if alarm.state not in UNANSWERED:
            self.escalator.acked(alarm.id)

    def forget(self, alarm_id: str) -> None:
        """A closed alarm left the book: its cascade goes too."""
        self.escalator.forget(alarm_id)

    async def signal(self) -> SignalQuality | None:
        """AT+CSQ through the modem driver; None without a modem or when it fails."""
        if self.modem is None or not self.modem.is_open:
            return None
        try:
            quality = await self.modem.signal_quality()
        except ModemError as exc:
            _LOGGER.warning("modem signal not read: %s", exc)
            return None
        self.modem_rssi_dbm = quality.rssi_dbm
        return quality

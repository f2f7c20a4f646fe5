"""The elder's voice as a way to call for help: the microphone listened to for a help
phrase, the hub's question ("do you need help?") asked, and the answer acted on (SOS
raised, or the "no" recorded); and the elder's own phrase enrolled.

The spotter engines are loaded only when [voice] listen is on, in a process of their own
(hub/voice/engine_proc.py: the hub's memory does not depend on the models), waited for in
a thread (seconds on a Pi Zero, while the buttons already work). Audio never leaves the
listener and the engines: only the phrase, the engine's confidence and the reason reach
an event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hub.clock import Clock
from hub.config import RunningConfig
from hub.errors import ControlError
from hub.event import Draft, Source
from hub.reading import Reading
from hub.services.alarms import AlarmService
from hub.services.care import CareService
from hub.services.committer import EventCommitter
from hub.services.speech import SpeechService
from hub.tasks import Tasks
from hub.voice.capture import ArecordSource, AudioSource
from hub.voice.confirm import Action as VoiceAction
from hub.voice.confirm import Answer as VoiceAnswer
from hub.voice.confirm import ConfirmFlow
from hub.voice.confirm import Outcome as VoiceOutcome
from hub.voice.listen import VoiceListener

_LOGGER = logging.getLogger(__name__)


class VoiceService:
    """Listens for help phrases (`listener`, when [voice] listen is on) and acts on them."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        tasks: Tasks,
        *,
        alarms: AlarmService,
        care: CareService,
        events: EventCommitter,
        speech: SpeechService,
        audio_source: AudioSource | None = None,
    ) -> None:
        self.running = running
        self.clock = clock
        self.tasks = tasks
        self.alarms = alarms
        self.care = care
        self.events = events
        self.speech = speech
        self._audio_source = audio_source
        self.listener: VoiceListener | None = None

    async def start(self) -> None:
        """Listen for a help phrase (the engines are loaded only when this is on, in a
        thread: loading takes seconds on a Pi Zero, and the buttons already run)."""
        from hub.errors import VoiceError
        from hub.voice.gate import EnergyGate
        from hub.voice.setup import start_spotters

        cfg = self.running.cfg
        try:  # the engines load in a process of their own (hub/voice/engine_proc.py)
            spotter, answers = await asyncio.to_thread(start_spotters, cfg.voice, cfg.data_path)
        except (VoiceError, ImportError) as exc:
            _LOGGER.error(
                "voice.listen is on but no spotter can start: %s (install the 'voice' extra)", exc
            )
            return
        self.listener = VoiceListener(
            self._audio_source or ArecordSource(),
            spotter,
            ConfirmFlow(cfg.voice.confirm_s),
            monotonic=self.clock.monotonic,
            on_outcome=self._voice_outcome,
            gate=EnergyGate(threshold_rms=cfg.voice.gate_rms),
            answer_spotters=answers,
        )
        self.tasks.supervise("microphone", self.listener.run)

    async def tick(self) -> None:
        """The confirmation's timer (a question unanswered in time)."""
        if self.listener is not None:
            await self.listener.tick()

    async def answer(self, answer: VoiceAnswer) -> None:
        """A button pressed while the hub may be asking: it answers the question."""
        if self.listener is not None:
            await self.listener.answer(answer)

    def close(self) -> None:
        """Stop listening (arecord ends)."""
        if self.listener is not None:
            self.listener.close()

    async def enrol(self, phrase: object) -> dict[str, Any]:
        """Record the elder's own help phrase three times; only its features are kept."""
        from hub.voice.setup import check_label, enrol

        if self.listener is None:
            raise ControlError("the hub is not listening: set [voice] listen = true first")
        label = check_label(phrase)
        speaker = self.speech.speaker

        async def prompt() -> None:  # played to the end before the take is recorded
            if speaker is not None:
                await asyncio.to_thread(speaker.say, "enrol_take")

        cfg = self.running.cfg
        enrolled = await enrol(
            self.listener, label, cfg.data_path, cfg.voice.enrolled_threshold, prompt
        )
        return {"phrase": enrolled.phrase, "takes": enrolled.takes, "recorded": enrolled.recorded}

    async def _voice_outcome(self, outcome: VoiceOutcome) -> None:
        """Ask, raise the SOS, or log the elder's "no" (only phrase and confidence kept)."""
        data = {
            "phrase": outcome.phrase,
            "confidence": round(outcome.confidence, 3),
            "reason": outcome.reason,
        }
        if outcome.reason in (VoiceAnswer.YES.value, VoiceAnswer.NO.value):
            # A spoken answer to the hub's question is a person acting (a phrase alone
            # may be the television; a button answer reached the checks as a press).
            await self.care.feed(Reading("voice", "voice", "voice", {"answer": outcome.reason}))
        if outcome.action is VoiceAction.ASK:
            self.speech.say("confirm_help")
        elif outcome.action is VoiceAction.RAISE_SOS:
            if self.alarms.open_sos() is None:
                await self.alarms.raise_alarm(
                    "sos", data=data, source=Source("voice", name="呼救语音", protocol="voice")
                )
        else:  # a refusing disk holds it: the microphone part must not restart over it
            await self.events.commit_or_hold(Draft.create("voice_declined", self.clock, data=data))

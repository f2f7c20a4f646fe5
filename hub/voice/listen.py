"""From the microphone to an SOS: gate -> spotter -> confirmation flow (the thin IO part).

Frames come from an `AudioSource` (arecord on the hub, an array or a paced queue in tests).
The energy gate keeps the spotter asleep in silence; the spotter runs on its own thread so
the event loop never waits on the recogniser. While the hub asks "需要帮助吗" the audio goes
to the answer spotters (yes/no) instead; while the installer enrols the elder's own phrase,
whole utterances are handed to the enrolment. Audio never leaves this object except as
features for enrolment: only outcomes (phrase, confidence, what to do) are handed on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from hub.timeouts import wait_within
from hub.voice.capture import AudioSource
from hub.voice.confirm import Answer, ConfirmFlow, ConfirmState, Outcome
from hub.voice.gate import EnergyGate
from hub.voice.spotter import AnswerSpotter, Detection, Spotter

_LOGGER = logging.getLogger(__name__)

OutcomeHandler = Callable[[Outcome], Awaitable[None]]
# Frames (30 ms) heard before the gate opens are handed on too: a soft onset ("h" of
# "help") is below the gate's level but matters to every engine.
PREROLL_FRAMES = 10
# Longest enrolment take kept: a phrase, not a conversation.
MAX_TAKE_BYTES = 5 * 16000 * 2


class VoiceListener:
    """Listens for a help phrase and runs the confirmation flow."""

    def __init__(
        self,
        source: AudioSource,
        spotter: Spotter,
        flow: ConfirmFlow,
        *,
        monotonic: Callable[[], float],
        on_outcome: OutcomeHandler,
        gate: EnergyGate | None = None,
        answer_spotters: Sequence[AnswerSpotter] = (),
    ) -> None:
        self.source = source
        self.spotter = spotter
        self.flow = flow
        self.monotonic = monotonic
        self.on_outcome = on_outcome
        self.gate = gate or EnergyGate()
        self.answer_spotters = list(answer_spotters)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotter")
        self._takes: asyncio.Queue[bytes] | None = None  # set while enrolling
        self._take = bytearray()
        self._heard_no: list[AnswerSpotter] = []

    async def run(self) -> None:
        """Consume audio until the source ends or the task is cancelled."""
        loop = asyncio.get_running_loop()
        was_open = False
        preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        async for frame in self.source.frames():
            if self.gate.is_open(frame):
                if not was_open:  # the quiet start of the phrase, just before the gate opened
                    for early in preroll:
                        await self._heard(loop, early)
                    preroll.clear()
                was_open = True
                await self._heard(loop, frame)
            elif not was_open:
                preroll.append(frame)
            elif was_open:  # the utterance ended: decide, and the next one starts clean
                was_open = False
                await self._utterance_ended(loop)
            await self._background_detection()
            await self.tick()

    async def _heard(self, loop: asyncio.AbstractEventLoop, frame: bytes) -> None:
        if self._takes is not None:
            if len(self._take) < MAX_TAKE_BYTES:
                self._take += frame
        elif self.flow.state is ConfirmState.ASKING:
            answer = await loop.run_in_executor(self._pool, self._feed_answer, frame)
            if answer is not None:
                await self._answered(answer)
        else:
            detection = await loop.run_in_executor(self._pool, self.spotter.feed, frame)
            await self._detected(detection)

    async def _utterance_ended(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._takes is not None:
            take, self._take = bytes(self._take), bytearray()
            self._takes.put_nowait(take)
        elif self.flow.state is ConfirmState.ASKING:
            answer = await loop.run_in_executor(self._pool, self._end_answer)
            if answer is not None:
                await self._answered(answer)
        else:
            await self._detected(await loop.run_in_executor(self._pool, self.spotter.finish))

    async def _background_detection(self) -> None:
        """A verdict an engine reached in its own process after the utterance ended (the
        Mandarin stage takes seconds on a Pi): picked up on every frame, silence too."""
        poll = getattr(self.spotter, "poll", None)
        if poll is None:
            return
        detection = poll()
        if detection is None or self._takes is not None:
            return  # while enrolling, the installer's takes raise nothing
        if self.flow.state is ConfirmState.ASKING:
            # Said before the question was heard out, and judged since: another call for
            # help, which answers yes.
            _LOGGER.warning("another call for help while asking (%s)", detection.engine)
            await self.answer(Answer.YES)
        else:
            await self._detected(detection)

    async def _answered(self, yes: bool) -> None:
        _LOGGER.warning("spoken answer: %s", "yes" if yes else "no")
        await self.answer(Answer.YES if yes else Answer.NO)

    def _feed_answer(self, frame: bytes) -> bool | None:
        """While asking: a help phrase or "yes" answers yes at once; a "no" waits for the
        end of the utterance, and loses to any help phrase in it (a short "no" is easily
        heard in "help": when in doubt, call). The answer spotters listen for help
        phrases too."""
        for spotter in self.answer_spotters:
            heard = spotter.feed_answer(frame)
            if heard:
                self._reset_answers()
                return True
            if heard is False and spotter not in self._heard_no:
                self._heard_no.append(spotter)
        return None

    def _end_answer(self) -> bool | None:
        confirmed = any(spotter.confirms_no() for spotter in self._heard_no)
        self._reset_answers()
        return False if confirmed else None

    def _reset_answers(self) -> None:
        self._heard_no = []
        for spotter in self.answer_spotters:
            spotter.reset_answer()

    async def _detected(self, detection: Detection | None) -> None:
        if detection is None:
            return
        _LOGGER.warning(
            "help phrase heard: %r (%.2f, %s)",
            detection.phrase,
            detection.confidence,
            detection.engine,
        )
        await self._handle(
            self.flow.on_detection(detection.phrase, detection.confidence, self.monotonic())
        )

    async def record_take(self, timeout_s: float) -> bytes:
        """The next whole utterance from the microphone (for enrolment); TimeoutError if none.

        Help-phrase spotting pauses meanwhile, so the installer's takes raise no alarm.
        """
        self._takes = asyncio.Queue()
        self._take = bytearray()
        try:
            return await wait_within(self._takes.get(), timeout_s)
        finally:
            self._takes = None
            self._take = bytearray()
            await asyncio.get_running_loop().run_in_executor(self._pool, self.spotter.reset)

    async def tick(self) -> None:
        """Let the answer window close (silence raises the SOS)."""
        await self._handle(self.flow.tick(self.monotonic()))

    async def answer(self, answer: Answer) -> None:
        """A button (or a spoken yes/no) while the hub is asking."""
        await self._handle(self.flow.on_answer(answer, self.monotonic()))

    async def _handle(self, outcome: Outcome | None) -> None:
        if outcome is not None:
            await self.on_outcome(outcome)

    def close(self) -> None:
        """Stop the spotter's thread, and engines that run their own process."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.spotter, "close", None)
        if close is not None:
            close()

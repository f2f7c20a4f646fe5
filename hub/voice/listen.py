"""From the microphone to an SOS: gate -> spotter -> confirmation flow (the thin IO part).

Frames come from an `AudioSource` (arecord on the hub, an array in tests). The energy
gate keeps the spotter asleep in silence; the spotter runs on its own thread so the
event loop never waits on the recogniser. Audio never leaves this object: only the
outcomes (phrase, confidence, what to do) are handed on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from hub.voice.capture import AudioSource
from hub.voice.confirm import Answer, ConfirmFlow, Outcome
from hub.voice.gate import EnergyGate
from hub.voice.spotter import Spotter

_LOGGER = logging.getLogger(__name__)

OutcomeHandler = Callable[[Outcome], Awaitable[None]]


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
    ) -> None:
        self.source = source
        self.spotter = spotter
        self.flow = flow
        self.monotonic = monotonic
        self.on_outcome = on_outcome
        self.gate = gate or EnergyGate()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotter")

    async def run(self) -> None:
        """Consume audio until the source ends or the task is cancelled."""
        loop = asyncio.get_running_loop()
        was_open = False
        async for frame in self.source.frames():
            if self.gate.is_open(frame):
                was_open = True
                detection = await loop.run_in_executor(self._pool, self.spotter.feed, frame)
                if detection is not None:
                    _LOGGER.warning(
                        "help phrase heard: %r (%.2f, %s)",
                        detection.phrase,
                        detection.confidence,
                        detection.engine,
                    )
                    await self._handle(
                        self.flow.on_detection(
                            detection.phrase, detection.confidence, self.monotonic()
                        )
                    )
            elif was_open:  # the utterance ended: the next one starts clean
                was_open = False
                await loop.run_in_executor(self._pool, self.spotter.reset)
            await self.tick()

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
        """Stop the spotter's thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)

"""What the elder hears: prompts and sentences queued and spoken one at a time.

Elder-facing prompts go before the centre's text and cut it short (hub/voice/
speech_queue.py decides); rendering (espeak-ng) and playing (aplay) run off the event
loop. Without espeak-ng, or with [voice] prompts off, nothing is queued.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from hub.config import RunningConfig
from hub.tasks import Tasks
from hub.voice.prompt_pack import PromptPack
from hub.voice.prompts import Interrupted, PromptRenderer, Speaker, SpeechError, Voice
from hub.voice.speech_queue import Kind, SpeechQueue, Utterance

_LOGGER = logging.getLogger(__name__)

Player = Callable[[Sequence[str]], None]


class SpeechService:
    """The hub's voice: `say`, `say_text` and `say_centre` queue; one part speaks."""

    def __init__(
        self,
        running: RunningConfig,
        tasks: Tasks,
        *,
        monotonic: Callable[[], float],
        player: Player | None = None,
    ) -> None:
        self.running = running
        self.tasks = tasks
        self.monotonic = monotonic
        self._player = player
        self.speaker: Speaker | None = None
        # What waits to be spoken, elder-facing prompts first (hub/voice/speech_queue.py).
        self._speech = SpeechQueue()
        self._speech_waiting = asyncio.Event()
        self._speaking: Utterance | None = None

    def start(self) -> None:
        """Make the speaker and start speaking (espeak-ng must be installed)."""
        if shutil.which("espeak-ng") is None:
            _LOGGER.error(
                "voice.prompts is on but espeak-ng is not installed: the elder "
                "hears nothing (apt-get install espeak-ng, or set prompts = false)"
            )
            return
        cfg = self.running.cfg
        voice = Voice(cfg.hub.language, cfg.voice.rate, cfg.voice.volume)
        renderer = PromptRenderer(cfg.data_path / "prompts")
        pack = (
            PromptPack(Path(cfg.voice.prompt_pack), voice.language)
            if cfg.voice.prompt_pack
            else None
        )
        self.speaker = Speaker(renderer, voice, player=self._player, pack=pack)
        self.tasks.supervise("speech", self._speak_forever)

    def close(self) -> None:
        """espeak-ng and aplay end with the hub, now."""
        if self.speaker is not None:
            self.speaker.close()

    def say_text(self, text: str) -> None:
        """Queue a sentence of our own (e.g. the installer PIN) to be spoken to the room."""
        self._queue_speech(Kind.TEXT, text)

    def say(self, prompt_id: str) -> None:
        """Queue a fixed prompt for the elder (never blocks; goes before the centre's text)."""
        self._queue_speech(Kind.PROMPT, prompt_id)

    def say_centre(self, text: str) -> None:
        """Queue the centre's text (cmd/speak), once it is cleaned, cut and rate-limited."""
        if self.speaker is not None:
            # Cleaned, cut and rate-limited before it is queued: a burst never fills
            # the queue, and nothing raw reaches the log or the synthesiser.
            admitted = self.speaker.admit_centre_text(text, self.monotonic())
            if admitted is not None:
                self._queue_speech(Kind.CENTRE, admitted)

    def _queue_speech(self, kind: Kind, what: str) -> None:
        if self.speaker is None:
            return
        item = Utterance(kind, what)
        queued = self._speech.put(item, self._speaking)
        for dropped in queued.dropped:
            _LOGGER.warning("speech queue full: %s dropped for %s", dropped.shown(), item.shown())
        if not queued.accepted:
            _LOGGER.warning("speech queue full: %s dropped", item.shown())
            return
        if queued.interrupt and self._speaking is not None:
            _LOGGER.info("%s cut short for %s", self._speaking.shown(), item.shown())
            self.speaker.interrupt()
        self._speech_waiting.set()

    async def _speak_forever(self) -> None:
        """Play prompts one at a time (rendering and aplay run off the event loop)."""
        speaker = self.speaker
        assert speaker is not None
        await asyncio.to_thread(speaker.prerender)
        while True:
            item = self._speech.pop()
            if item is None:
                self._speech_waiting.clear()
                await self._speech_waiting.wait()
                continue
            self._speaking = item
            try:
                if item.kind is Kind.CENTRE:
                    await asyncio.to_thread(speaker.speak_admitted, item.what)
                elif item.kind is Kind.TEXT:
                    await asyncio.to_thread(speaker.speak_text, item.what)
                else:
                    await asyncio.to_thread(speaker.say, item.what)
            except Interrupted:
                _LOGGER.info("%s cut short", item.shown())
            except (OSError, subprocess.SubprocessError, SpeechError) as exc:
                _LOGGER.error("could not speak %s: %s", item.shown(), exc)
            finally:
                self._speaking = None

"""Microphone capture: `arecord` raw 16 kHz mono s16le, read asynchronously, never stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from hub.errors import VoiceError

FRAME_BYTES = 960  # 30 ms at 16 kHz mono s16le
ARECORD = ("arecord", "-q", "-f", "S16_LE", "-r", "16000", "-c", "1", "-t", "raw")


class AudioSource(Protocol):
    """Anything that yields raw 16 kHz mono s16le frames."""

    def frames(self) -> AsyncIterator[bytes]:
        """Yield frames of FRAME_BYTES until the source ends."""
        ...


class ArecordSource:
    """ALSA capture through an arecord subprocess; audio stays in this process's memory."""

    def __init__(self, argv: Sequence[str] = ARECORD) -> None:
        self.argv = tuple(argv)

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield frames from arecord's stdout; kill arecord when the consumer stops."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
            )
        except OSError as exc:
            raise VoiceError(f"cannot start {self.argv[0]}: {exc}") from exc
        assert proc.stdout is not None
        try:
            while True:
                try:
                    frame = await proc.stdout.readexactly(FRAME_BYTES)
                except asyncio.IncompleteReadError as exc:
                    raise VoiceError(f"{self.argv[0]} stopped") from exc
                yield frame
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


class ArraySource:
    """Frames from bytes in memory, for tests and the demo."""

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield the audio in FRAME_BYTES pieces, then stop."""
        for i in range(0, len(self.pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            yield self.pcm[i : i + FRAME_BYTES]
            await asyncio.sleep(0)


class LiveSource:
    """A microphone in memory, paced in real time: silence until audio is `say`-ed into it.

    Tests and the demo speak into it while the hub runs, as a person would into the mic.
    """

    def __init__(self, frame_s: float = FRAME_BYTES / 32000) -> None:
        self.frame_s = frame_s
        self._pending = bytearray()

    def say(self, pcm: bytes) -> None:
        """Queue audio to be heard after what is already queued."""
        self._pending += pcm

    @property
    def idle(self) -> bool:
        """Whether everything said has been heard."""
        return not self._pending

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield one frame every frame_s: queued audio first, else silence."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        silence = b"\x00" * FRAME_BYTES
        while True:
            if len(self._pending) >= FRAME_BYTES:
                frame = bytes(self._pending[:FRAME_BYTES])
                del self._pending[:FRAME_BYTES]
            else:
                frame = (
                    bytes(self._pending).ljust(FRAME_BYTES, b"\x00") if self._pending else silence
                )
                self._pending.clear()
            yield frame
            next_at += self.frame_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))

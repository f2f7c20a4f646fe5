"""Stories of the microphone feed reaching the spotter."""

from __future__ import annotations

import pytest

from hub.errors import VoiceError
from hub.voice.capture import FRAME_BYTES, ArecordSource, ArraySource


async def test_audio_in_memory_arrives_in_30_ms_frames() -> None:
    frames = [f async for f in ArraySource(b"\x01\x00" * (FRAME_BYTES + 10)).frames()]
    assert [len(f) for f in frames] == [FRAME_BYTES, FRAME_BYTES]


async def test_a_capture_process_is_read_frame_by_frame() -> None:
    source = ArecordSource(["head", "-c", str(FRAME_BYTES * 3), "/dev/zero"])
    got: list[bytes] = []
    with pytest.raises(VoiceError, match="stopped"):
        async for frame in source.frames():
            got.append(frame)
    assert got == [b"\x00" * FRAME_BYTES] * 3


async def test_a_missing_recorder_is_a_voice_error() -> None:
    with pytest.raises(VoiceError, match="cannot start"):
        async for _ in ArecordSource(["no-such-arecord-binary"]).frames():
            pass

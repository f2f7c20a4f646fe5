"""Stories of the hub speaking to the elder."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.voice.gate import EnergyGate
from hub.voice.prompts import (
    LANGUAGES,
    PROMPTS,
    PromptRenderer,
    Speaker,
    TokenBucket,
    Voice,
    clip_speak_text,
    prompt_text,
)


def wav(samples: int = 100) -> bytes:
    """A 16-bit mono 22,050 Hz WAV as espeak-ng writes it to a pipe (sizes left unknown)."""
    fmt = struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 0x7FFFF024)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", 0x7FFFF000)
        + b"\x00\x00" * samples
    )


class Recorder:
    """Stands in for espeak-ng (argv and stdin in, a WAV out) or for aplay (argv in)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.stdin: list[bytes] = []

    def __call__(self, argv: Sequence[str], stdin: bytes = b"") -> bytes:
        self.calls.append(list(argv))
        self.stdin.append(stdin)
        return wav()


def test_every_prompt_exists_in_mandarin_cantonese_and_english() -> None:
    for texts in PROMPTS.values():
        assert set(texts) == set(LANGUAGES)
    assert prompt_text("confirm_help") == "需要帮助吗？"
    assert prompt_text("prealarm") == "如果您没事，请按绿色按钮"
    assert prompt_text("contacting_family", "xx") == "正在联系您的家人"


def test_a_prompt_is_rendered_once_and_then_played_from_the_cache(tmp_path: Path) -> None:
    tts, player = Recorder(), Recorder()
    speaker = Speaker(PromptRenderer(tmp_path, runner=tts), Voice("yue"), player=player)
    speaker.say("alarm_sent")
    speaker.say("alarm_sent")
    assert len(tts.calls) == 1
    assert tts.calls[0][:3] == ["espeak-ng", "-v", "yue"]
    assert [c[0] for c in player.calls] == ["aplay", "aplay"]
    assert player.calls[0][-1] == player.calls[1][-1]


def test_louder_volume_is_a_separate_cache_entry(tmp_path: Path) -> None:
    renderer = PromptRenderer(tmp_path, runner=Recorder())
    assert renderer.path_for("x", Voice(volume=100)) != renderer.path_for("x", Voice(volume=180))


def test_centre_text_is_clipped_and_a_flood_is_rate_limited(tmp_path: Path) -> None:
    player = Recorder()
    speaker = Speaker(
        PromptRenderer(tmp_path, runner=Recorder()),
        player=player,
        bucket=TokenBucket(capacity=2, refill_per_s=0.1, tokens=2),
    )
    assert speaker.speak_centre_text("台风预警" * 100, now=0.0)
    assert speaker.speak_centre_text("防诈骗提醒", now=1.0)
    assert not speaker.speak_centre_text("third", now=2.0)
    assert speaker.speak_centre_text("later", now=12.0)
    assert len(player.calls) == 3
    assert len(clip_speak_text("台风预警" * 100)) == 200
    # Control characters go; a line break is a space between words, not nothing.
    assert clip_speak_text("a\x00b\nc") == "ab c"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_ng_really_renders_mandarin(tmp_path: Path) -> None:
    path = PromptRenderer(tmp_path).render(prompt_text("confirm_help"), Voice())
    assert path.read_bytes()[:4] == b"RIFF"


def test_the_spotter_sleeps_in_silence_and_wakes_for_speech() -> None:
    gate = EnergyGate(threshold_rms=300.0, hangover_frames=2)
    silence = b"\x00\x00" * 480
    loud = (2000).to_bytes(2, "little", signed=True) * 480
    assert [gate.is_open(f) for f in (silence, loud, silence, silence, silence)] == [
        False,
        True,
        True,
        True,
        False,
    ]

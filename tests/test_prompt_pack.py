"""A deployment records the prompts with a real voice: the elder hears the operator, and a bad
take is caught at start, logged with the reason, and spoken by espeak-ng instead."""

from __future__ import annotations

import io
import logging
import math
import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.errors import ConfigError
from hub.sim.broker import Mosquitto
from hub.voice.prompt_pack import PromptPack, Recording, check_wav
from hub.voice.prompts import PROMPTS, PromptRenderer, Speaker, Voice, prompt_text
from tests.conftest import hub_raw
from tests.helpers import Collector, eventually
from tests.test_spine import press
from tests.test_voice_prompts import Recorder


def take(
    seconds: float = 1.5,
    *,
    rate: int = 22_050,
    channels: int = 1,
    width: int = 2,
    peak: float = 0.5,
    lead_s: float = 0.0,
    gain: float = 1.0,
) -> bytes:
    """A speech-like recording: a voiced buzz (150 Hz and harmonics) in syllables of 0.25 s
    with short gaps, after `lead_s` of silence; `gain` above 1 clips it as a hot microphone
    does."""
    frames = bytearray()
    top = (1 << (8 * width - 1)) - 1
    for n in range(int((lead_s + seconds) * rate)):
        t = n / rate - lead_s
        voiced = t >= 0 and (t % 0.3) < 0.25
        x = sum(math.sin(2 * math.pi * 150 * k * t) / k for k in (1, 2, 3)) / 1.84 if voiced else 0
        v = max(-top - 1, min(top, round(x * peak * gain * top)))
        frames += v.to_bytes(width, "little", signed=True) * channels
    return wav_of(bytes(frames), rate, channels, width)


def wav_of(frames: bytes, rate: int = 22_050, channels: int = 1, width: int = 2) -> bytes:
    """PCM frames as a WAV file's bytes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def float_wav() -> bytes:
    """A 32-bit float WAV (format 3), as some phone recorders save."""
    data = struct.pack("<100f", *([0.25] * 100))
    fmt = struct.pack("<HHIIHH", 3, 1, 22050, 88200, 4, 32)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


GOOD = take()


def pack_with(root: Path, language: str = "cmn", **files: bytes) -> PromptPack:
    folder = root / language
    folder.mkdir(parents=True, exist_ok=True)
    for prompt_id, data in files.items():
        (folder / f"{prompt_id}.wav").write_bytes(data)
    return PromptPack(root, language)


class KeepingPlayer:
    """aplay stand-in that keeps the bytes of each WAV it is given."""

    def __init__(self) -> None:
        self.played: list[bytes] = []

    def __call__(self, argv: list[str]) -> None:
        self.played.append(Path(argv[-1]).read_bytes())


def test_a_good_take_passes_the_check_whole() -> None:
    assert check_wav("confirm_help", Path("p.wav"), GOOD) == Recording(
        "confirm_help", Path("p.wav"), None, 1.5, 22_050, pytest.approx(-8.14, abs=0.01)
    )
    assert check_wav("x", Path("p.wav"), take(channels=2, rate=48_000)).usable


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (take(rate=8_000), "8000 Hz (too low for clear speech): record or save at 16000,"),
        (take(rate=11_025), "11025 Hz (too low for clear speech): record or save at 16000"),
        (take(width=3), "24-bit samples: save as 16-bit PCM"),
        (take(width=1), "8-bit samples: save as 16-bit PCM"),
        (float_wav(), "not a PCM WAV file (unknown format: 3): save as 16-bit PCM WAV"),
        (b"ID3\x04 an mp3 file renamed", "not a PCM WAV file (file does not start with RIFF"),
        (take(seconds=0.2), "0.20 s long: too short to be the prompt"),
        (take(seconds=31.0), "31 s long: a prompt is at most 30 s"),
        (take(peak=0.01), "silent (peak -42 dBFS): record it again, closer"),
        (take(lead_s=1.5), "1.5 s of silence before the words: trim the start"),
        (take(gain=3.0), "clipped (17.0% of samples at full scale): record it less loud"),
    ],
)
def test_each_bad_take_is_named_for_what_is_wrong(data: bytes, problem: str) -> None:
    found = check_wav("confirm_help", Path("p.wav"), data)
    assert found.problem is not None and found.problem.startswith(problem)
    assert not found.usable


def test_a_take_that_is_mostly_silence_is_refused() -> None:
    with wave.open(io.BytesIO(take(seconds=0.3))) as w:
        word = w.readframes(w.getnframes())
    found = check_wav("confirm_help", Path("p.wav"), wav_of(word + b"\x00\x00" * 22_050 * 3))
    assert found.problem == "mostly silence (sound in 8% of it): record it again"


def test_the_operators_recording_plays_instead_of_espeak(tmp_path: Path) -> None:
    tts, player = Recorder(), KeepingPlayer()
    pack = pack_with(tmp_path / "pack", confirm_help=GOOD)
    speaker = Speaker(
        PromptRenderer(tmp_path / "cache", runner=tts, reader=list),
        Voice("cmn"),
        player=player,
        pack=pack,
    )
    speaker.prerender()
    speaker.say("confirm_help")
    speaker.say("alarm_sent")
    assert player.played[0] == GOOD
    spoken = [s.decode() for s in tts.stdin]
    assert prompt_text("confirm_help", "cmn") not in spoken  # never rendered
    assert prompt_text("alarm_sent", "cmn") in spoken  # no recording: espeak-ng
    assert len(tts.calls) == len(PROMPTS) - 1


def test_what_plays_is_the_take_that_was_checked_even_if_the_file_changes(
    tmp_path: Path,
) -> None:
    player = KeepingPlayer()
    pack = pack_with(tmp_path / "pack", confirm_help=GOOD)
    speaker = Speaker(
        PromptRenderer(tmp_path / "cache", runner=Recorder(), reader=list),
        Voice("cmn"),
        player=player,
        pack=pack,
    )
    speaker.prerender()
    pack.file_for("confirm_help").write_bytes(take(peak=0.0))  # silenced while running
    speaker.say("confirm_help")
    pack.file_for("confirm_help").unlink()
    speaker.say("confirm_help")
    assert player.played == [GOOD, GOOD]


def test_bad_takes_are_logged_with_the_reason_and_espeak_speaks_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tts, player = Recorder(), KeepingPlayer()
    pack = pack_with(
        tmp_path / "pack",
        "yue",
        confirm_help=GOOD,
        gas_guidance=take(gain=3.0),
        alarm_sent=take(rate=8_000),
        smoke_guidance=take(peak=0.0),
    )
    (pack.folder / "confirm_hlep.wav").write_bytes(GOOD)
    speaker = Speaker(
        PromptRenderer(tmp_path / "cache", runner=tts), Voice("yue"), player=player, pack=pack
    )
    with caplog.at_level(logging.INFO):
        speaker.prerender()
    lines = [r.getMessage() for r in caplog.records]
    folder = pack.folder
    assert (
        f"prompt pack: gas_guidance (yue) not used, espeak-ng speaks it: "
        f"{folder / 'gas_guidance.wav'}: clipped (17.0% of samples at full scale): "
        "record it less loud"
    ) in lines
    assert any(
        line.startswith("prompt pack: alarm_sent (yue) not used") and "8000 Hz" in line
        for line in lines
    )
    assert any(
        line.startswith("prompt pack: smoke_guidance (yue)")
        and line.endswith("silent (all samples zero): record it again, closer")
        for line in lines
    )
    assert any(line.endswith("help_dispatched.wav: missing") for line in lines)
    assert (
        f"prompt pack: {folder / 'confirm_hlep.wav'} is no prompt's file and is never played"
        in lines
    )
    n = len(PROMPTS)
    assert f"prompt pack {folder}: 1 of {n} prompts recorded, {n - 1} spoken by espeak-ng" in lines
    assert prompt_text("gas_guidance", "yue") in [s.decode() for s in tts.stdin]
    speaker.say("gas_guidance")
    tts_file = speaker.renderer.path_for(prompt_text("gas_guidance", "yue"), speaker.voice)
    assert player.played[-1] == tts_file.read_bytes()
    speaker.say("confirm_help")
    assert player.played[-1] == GOOD


def test_a_prompt_pack_must_be_an_absolute_path(tmp_path: Path) -> None:
    raw = hub_raw(tmp_path, 1883, voice={"prompt_pack": "prompt-pack"})
    with pytest.raises(ConfigError, match=r"voice\.prompt_pack: give an absolute path"):
        parse_config(raw)


def voice_prompts(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "voice", "prompts", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def write_config(tmp_path: Path, pack: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"[hub]\nid = 'H1'\ndata_dir = '{tmp_path / 'data'}'\n[voice]\nprompt_pack = '{pack}'\n",
        encoding="utf-8",
    )
    return config


def test_the_installer_sees_a_full_good_pack_play_every_prompt(tmp_path: Path) -> None:
    pack = pack_with(tmp_path / "pack", **dict.fromkeys(PROMPTS, GOOD))
    result = voice_prompts(write_config(tmp_path, pack.root), "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"prompts in cmn, recordings from {pack.folder}"
    assert (
        f"  confirm_help       recorded  {pack.file_for('confirm_help')}" in lines
        and "                               需要帮助吗？  (1.5 s, 22050 Hz, peak -8.1 dBFS)"
        in lines
    )
    assert sum(" recorded  " in line for line in lines) == len(PROMPTS)
    assert lines[-1] == "0 problem(s)"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
def test_the_installer_sees_what_is_wrong_and_what_espeak_will_say_instead(
    tmp_path: Path,
) -> None:
    files = dict.fromkeys(PROMPTS, GOOD)
    files["confirm_help"] = take(gain=3.0)
    del files["alarm_sent"]
    pack = pack_with(tmp_path / "pack", **files)
    config = write_config(tmp_path, pack.root)
    result = voice_prompts(config, "--check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    at = lines.index("  confirm_help       espeak-ng 需要帮助吗？")
    assert lines[at + 1 : at + 3] == [
        "                               -v cmn-latn-pinyin: xu1 yao4 bang1 zhu4 ma5 ?",
        f"                               PROBLEM: recording {pack.file_for('confirm_help')}: "
        "clipped (17.0% of samples at full scale): record it less loud",
    ]
    assert (
        f"                               PROBLEM: recording {pack.file_for('alarm_sent')}: missing"
        in lines
    )
    assert lines[-1] == "2 problem(s)"
    assert voice_prompts(config).returncode == 0  # listing alone is not a failure
    yue = voice_prompts(config, "--language", "yue").stdout.splitlines()
    assert "  confirm_help       espeak-ng 需要幫手嗎？" in yue
    assert "                               -v yue: 需要幫手嗎？" in yue


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
async def test_the_elder_who_presses_sos_hears_the_operators_voice(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    played: list[bytes] = []
    pack = pack_with(tmp_path / "pack", alarm_sent=GOOD)
    raw = hub_raw(
        tmp_path / "data", broker.port, voice={"prompts": True, "prompt_pack": str(pack.root)}
    )
    hub = Hub(
        parse_config(raw),
        pin_factory=MockFactory(),
        local_raw=raw,
        player=lambda argv: played.append(Path(argv[-1]).read_bytes()),
    )
    await hub.start()
    try:
        await press(hub)
        await collector.wait_event("sos")
        await eventually(lambda: GOOD in played)
    finally:
        await hub.stop()

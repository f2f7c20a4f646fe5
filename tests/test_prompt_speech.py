"""The elder hears Mandarin, Cantonese and English, not English-spoken tone digits.

Each prompt is rendered as the hub renders it and checked by espeak-ng's own phoneme output for
that exact input (hub/voice/prompt_check.py): no switch to English rules, one syllable per
character with the tone its pinyin digit asks for (Mandarin) or the expected jyutping
(Cantonese), and audio of the length that many syllables take. The old rendering (`-v cmn` on
characters: "需要帮助吗" as "... ma five") fails the same check. Whisper hearing them back is in
tests/test_prompt_whisper.py (when installed) and bench/prompt_roundtrip.py.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.voice import prompts
from hub.voice.prompt_check import (
    check_render,
    check_speech,
    language_switches,
    mandarin_tones,
    phonemes,
)
from hub.voice.prompts import (
    PROMPTS,
    EspeakRunner,
    Interrupted,
    PinyinReader,
    PromptRenderer,
    Speaker,
    SpeechError,
    Voice,
    espeak_argv,
    fix_wav_sizes,
    prompt_text,
)
from tests.test_voice_prompts import Recorder

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")

# What espeak-ng is given for each Mandarin prompt: pypinyin's reading, checked by hand (还 hai2,
# 地滑 di4 hua2, 不要 bu2 yao4; espeak-ng's own dictionary says de for 地 and bu4 for 不).
PINYIN = {
    "alarm_sent": "yi3 fa1 chu1 qiu2 zhu4 xin4 hao4",
    "centre_received": "fu2 wu4 zhong1 xin1 yi3 shou1 dao4 nin2 de5 qiu2 zhu4",
    "help_dispatched": "jiu4 yuan2 ren2 yuan2 zheng4 zai4 gan3 lai2",
    "prealarm": "ru2 guo3 nin2 mei2 shi4 , qing3 an4 lv4 se4 an4 niu3",
    "gas_guidance": "jian3 ce4 dao4 ran2 qi4 xie4 lou4 , qing3 bu2 yao4 kai1 guan1 dian4 qi4 , "
    "qing3 da3 kai1 chuang1 hu4 , li2 kai1 fang2 jian1",
    "checkin_reminder": "nin2 hao3 , jin1 tian1 hai2 hao3 ma5 ? qing3 an4 lv4 se4 an4 niu3 "
    "bao4 ping2 an1",
    "contacting_family": "zheng4 zai4 lian2 xi4 nin2 de5 jia1 ren2",
    "smoke_guidance": "jian3 ce4 dao4 yan1 wu4 , qing3 ma3 shang4 li2 kai1 fang2 jian1 , "
    "bu2 yao4 cheng2 dian4 ti1",
    "co_guidance": "jian3 ce4 dao4 yi4 yang3 hua4 tan4 , qing3 ma3 shang4 da3 kai1 chuang1 hu4 , "
    "li2 kai1 fang2 jian1 , dao4 wai4 mian4 hu1 xi1 xin1 xian1 kong1 qi4",
    "water_guidance": "jian3 ce4 dao4 lou4 shui3 , qing3 guan1 shang4 shui3 long2 tou2 , "
    "xiao3 xin1 di4 hua2",
    "checkin_thanks": "xie4 xie4 , yi3 jing1 bao4 ping2 an1",
    "confirm_help": "xu1 yao4 bang1 zhu4 ma5 ?",
    "enrol_take": "qing3 zai4 ti2 shi4 yin1 hou4 shuo1 chu1 nin2 de5 qiu2 jiu4 yu3",
}
# What espeak-ng's yue voice pronounces for each Cantonese prompt, as jyutping. Checked by hand
# and against ToJyutping 3.2.0; where they differ, espeak-ng gives the reading-aloud form
# (請 cing2 for ceng2, 嗎 maa1 for maa3, 收到 sau1 dou3 for dou2), which Guangzhou listeners
# also say, and once the right one where ToJyutping is wrong (小心地滑: dei6, not dei2).
JYUTPING = {
    "alarm_sent": "ji5 ging1 faat3 ceot1 kau4 zo6 seon3 hou6",
    "centre_received": "fuk6 mou6 zung1 sam1 ji5 ging1 sau1 dou3 nei5 ge3 kau4 zo6",
    "help_dispatched": "gau3 wun4 jan4 jyun4 dong1 gan2 gon2 lai4",
    "prealarm": "jyu4 gwo2 nei5 mou5 si6 cing2 gam6 luk6 sik1 zai3",
    "gas_guidance": "zing1 caak1 dou3 mui4 hei3 sit3 lau6 ng4 hou2 hoi1 gwaan1 din6 hei3 "
    "cing2 daa2 hoi1 coeng1 lei4 hoi1 fong4 gaan1",
    "checkin_reminder": "nei5 hou2 gam1 jat6 hou2 maa1 cing2 gam6 luk6 sik1 zai3 bou3 ping4 ngon1",
    "contacting_family": "ji4 gaa1 lyun4 lok3 gan2 nei5 ge3 gaa1 jan4",
    "smoke_guidance": "zing1 caak1 dou3 jin1 mou6 cing2 zik1 hak1 lei4 hoi1 fong4 gaan1 "
    "ng4 hou2 daap3 lip1",
    "co_guidance": "zing1 caak1 dou3 jat1 joeng5 faa3 taan3 cing2 zik1 hak1 daa2 hoi1 coeng1 "
    "lei4 hoi1 fong4 gaan1 ceot1 heoi3 fu1 kap1 san1 sin1 hung1 hei3",
    "water_guidance": "zing1 caak1 dou3 lau6 seoi2 cing2 saan1 seoi2 hau4 siu2 sam1 dei6 waat6",
    "checkin_thanks": "do1 ze6 ji5 ging1 bou3 zo2 ping4 ngon1",
    "confirm_help": "seoi1 jiu3 bong1 sau2 maa1",
    "enrol_take": "cing2 hai2 tai4 si6 zi1 hau6 gong2 ceot1 nei5 ge3 kau4 gau3 syut3 waa6",
}
# The hub's default rate and volume (config.example.toml).
RATE, VOLUME = 140, 120


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> PromptRenderer:
    """Renders into memory as the hub does (the cache directory is never written here)."""
    return PromptRenderer(tmp_path_factory.mktemp("cache"))


def test_every_prompt_has_a_checked_reading() -> None:
    assert set(PINYIN) == set(JYUTPING) == set(PROMPTS)


@needs_espeak
@pytest.mark.parametrize("prompt_id", list(PROMPTS))
def test_each_mandarin_prompt_is_said_in_mandarin_tones_not_english_digits(
    prompt_id: str, renderer: PromptRenderer
) -> None:
    check = check_speech(prompt_text(prompt_id, "cmn"), Voice("cmn", RATE, VOLUME), renderer)
    assert check.spoken == PINYIN[prompt_id]
    assert check.problems == []
    assert language_switches(check.phonemes) == []
    assert len(mandarin_tones(check.phonemes)) == check.units > 0


@needs_espeak
@pytest.mark.parametrize("prompt_id", list(PROMPTS))
def test_each_cantonese_prompt_is_said_syllable_by_syllable_in_cantonese(
    prompt_id: str, renderer: PromptRenderer
) -> None:
    text = prompt_text(prompt_id, "yue")
    check = check_speech(
        text, Voice("yue", RATE, VOLUME), renderer, jyutping=JYUTPING[prompt_id].split()
    )
    assert check.spoken == text  # characters: espeak-ng's yue voice reads them right
    assert check.problems == []


@needs_espeak
@pytest.mark.parametrize("prompt_id", list(PROMPTS))
def test_each_english_prompt_is_said_in_english_at_a_speaking_pace(
    prompt_id: str, renderer: PromptRenderer
) -> None:
    check = check_speech(prompt_text(prompt_id, "en"), Voice("en", RATE, VOLUME), renderer)
    assert check.problems == []
    assert 0.24 * check.units <= check.seconds <= 0.59 * check.units  # the check's own range


@needs_espeak
@pytest.mark.parametrize("rate", [80, 300])
def test_prompts_stay_speech_of_the_right_length_at_the_slowest_and_fastest_rates(
    rate: int, renderer: PromptRenderer
) -> None:
    failed = {
        (prompt_id, language): check.problems
        for language in ("cmn", "yue", "en")
        for prompt_id in PROMPTS
        if (
            check := check_speech(
                prompt_text(prompt_id, language), Voice(language, rate, VOLUME), renderer
            )
        ).problems
    }
    assert failed == {}


@needs_espeak
@pytest.mark.parametrize("prompt_id", list(PROMPTS))
def test_the_old_rendering_with_english_spoken_tone_digits_fails_the_same_check(
    prompt_id: str,
) -> None:
    text = prompt_text(prompt_id, "cmn")
    argv = espeak_argv(Voice("cmn", RATE, VOLUME))
    argv[argv.index("-v") + 1] = "cmn"  # what hubs ran before pinyin
    check = check_render(text, "cmn", text, argv, rate=RATE, runner=EspeakRunner())
    assert "en" in language_switches(check.phonemes)
    assert any("switched to" in p for p in check.problems)
    assert any("tones pronounced" in p for p in check.problems)


@needs_espeak
def test_the_confirm_question_is_five_mandarin_syllables_ending_in_a_neutral_ma(
    renderer: PromptRenderer,
) -> None:
    check = check_speech("需要帮助吗？", Voice("cmn", RATE, VOLUME), renderer)
    assert mandarin_tones(check.phonemes) == [1, 4, 1, 4, 5]  # xu1 yao4 bang1 zhu4 ma5
    assert "faiv" not in check.phonemes.replace("'", "").lower()
    assert 1.2 < check.seconds < 3.0


class Capture:
    """espeak-ng for real, keeping each argv and stdin."""

    def __init__(self) -> None:
        self.runner = EspeakRunner()
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, argv: Sequence[str], text: bytes) -> bytes:
        self.calls.append((list(argv), text.decode()))
        return self.runner(argv, text)


@needs_espeak
@pytest.mark.parametrize(
    ("language", "voice", "spoken"),
    [
        ("cmn", "cmn-latn-pinyin", "ming2 tian1 ling2 xia4 5 du4 , han2 chao2 yu4 jing3"),
        # Chinese text for an English-speaking hub is read as Mandarin, not as "Chinese letter".
        ("en", "cmn-latn-pinyin", "ming2 tian1 ling2 xia4 5 du4 , han2 chao2 yu4 jing3"),
        ("yue", "yue", "明天零下5度，寒潮预警"),
    ],
)
def test_the_centres_chinese_text_goes_the_same_way_as_the_prompts(
    tmp_path: Path, language: str, voice: str, spoken: str
) -> None:
    tts = Capture()
    speaker = Speaker(PromptRenderer(tmp_path, runner=tts), Voice(language), player=Recorder())
    assert speaker.speak_centre_text("明天-5°C，寒潮预警", now=0.0)
    [(argv, stdin)] = tts.calls
    assert argv[argv.index("-v") + 1] == voice
    assert stdin == spoken
    # The digit is said in the voice's own language too ("5": wu3, ng5), never in English.
    said = phonemes(argv, stdin)
    assert language_switches(said) == []
    if voice == "cmn-latn-pinyin":
        assert mandarin_tones(said) == [2, 1, 2, 4, 3, 4, 2, 2, 4, 3]


@needs_espeak
def test_a_cache_an_older_hub_filled_with_tone_digits_is_not_played(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    voice = Voice("cmn", RATE, VOLUME)
    text = prompt_text("confirm_help", "cmn")
    # Where hubs before pinyin cached the confirm question rendered by `-v cmn` ("... ma five").
    old_key = f"{text}\0cmn\0{voice.rate}\0{voice.volume}".encode()
    old = cache / f"{hashlib.sha256(old_key).hexdigest()[:32]}.wav"
    argv = espeak_argv(voice)
    argv[argv.index("-v") + 1] = "cmn"
    old.write_bytes(fix_wav_sizes(EspeakRunner()(argv, text.encode())))
    played = []
    speaker = Speaker(PromptRenderer(cache), voice, player=lambda a: played.append(a[-1]))
    speaker.prerender()
    speaker.say("confirm_help")
    assert not old.exists()
    assert played == [str(speaker.renderer.path_for(text, voice))]
    assert played[0] != str(old)


def test_the_hub_itself_never_loads_pypinyin(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from hub.voice.prompts import PromptRenderer, Voice
        from tests.test_voice_prompts import Recorder
        tts = Recorder()
        PromptRenderer(Path({str(tmp_path)!r}), runner=tts).render("需要帮助吗？", Voice())
        print(tts.stdin[0].decode(), "pypinyin" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    # The pinyin came from the child; the hub's own process stays ~57 MiB lighter.
    assert out.strip() == "xu1 yao4 bang1 zhu4 ma5 ? False"


def test_the_pinyin_child_gets_the_text_on_stdin_never_as_an_argument(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    text = f"-c __import__('pathlib').Path({str(marker)!r}).touch() 救命"
    [reading] = PinyinReader()([text])
    assert reading == f"-c __import__('pathlib').Path({str(marker)!r}).touch() jiu4 ming4"
    assert not marker.exists()
    assert all("救" not in a for a in prompts.reading_argv())
    assert "-I" in prompts.reading_argv()  # the working directory cannot shadow the hub


def test_a_pinyin_child_that_writes_without_end_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompts, "reading_argv", lambda: ["yes", "xu1"])
    with pytest.raises(SpeechError, match="more than"):
        PinyinReader()(["需要帮助吗"])


def test_a_pinyin_child_that_hangs_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts, "RENDER_TIMEOUT_S", 0.3)
    monkeypatch.setattr(prompts, "reading_argv", lambda: ["sleep", "30"])
    reader = PinyinReader()
    with pytest.raises(SpeechError, match="ran past"):
        reader(["需要帮助吗"])
    assert not reader._running


def test_an_elder_prompt_cuts_the_pinyin_of_centre_text_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompts, "reading_argv", lambda: ["sleep", "60"])
    reader = PinyinReader()
    speaker = Speaker(PromptRenderer(tmp_path, runner=Recorder(), reader=reader), player=Recorder())
    failures: list[BaseException] = []

    def speak() -> None:
        try:
            speaker.speak_admitted("明天有台风")
        except SpeechError as exc:
            failures.append(exc)

    speaking = threading.Thread(target=speak)
    speaking.start()
    deadline = time.monotonic() + 10
    while not reader._running and time.monotonic() < deadline:
        time.sleep(0.01)
    speaker.interrupt()
    speaking.join(10)
    assert [type(f) for f in failures] == [Interrupted]


@needs_espeak
def test_when_pinyin_fails_the_elder_still_hears_mandarin_and_it_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Sequence[str]] = []

    def broken(texts: Sequence[str]) -> list[str]:
        calls.append(texts)
        if len(calls) == 1:
            raise SpeechError("pinyin child failed (1)")
        return ["xu1 yao4 bang1 zhu4 ma5 ?"]

    tts = Capture()
    played: list[str] = []
    voice = Voice("cmn", RATE, VOLUME)
    renderer = PromptRenderer(tmp_path, runner=tts, reader=broken)
    speaker = Speaker(renderer, voice, player=lambda a: played.append(a[-1]))
    with caplog.at_level(logging.WARNING):
        speaker.say("confirm_help")
    [(argv, stdin)] = tts.calls
    assert argv[argv.index("-v") + 1] == "cmn-latn-pinyin" and stdin == "需要帮助吗？"
    said = phonemes(argv, stdin)
    assert language_switches(said) == [] and len(mandarin_tones(said)) == 5
    assert "espeak-ng reads the characters itself" in caplog.text
    speaker.say("confirm_help")  # the pinyin child is asked again, and now works
    assert tts.calls[-1][1] == "xu1 yao4 bang1 zhu4 ma5 ?"
    assert played[-1] == str(renderer.path_for("需要帮助吗？", voice))

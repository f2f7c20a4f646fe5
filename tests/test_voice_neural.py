"""The neural second pass: openWakeWord's speech embedding and the trained help classifier."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hub.errors import VoiceError
from hub.voice.corpus import render
from hub.voice.neural import (
    EMBEDDING_SIZE,
    HEAD_FILE,
    HelpClassifier,
    HelpHead,
    embedding_windows,
    utterance_features,
)
from hub.voice.sounds import sox_sounds
from hub.voice.spotter import (
    DEFAULT_KEYPHRASES,
    SURE_HELP_PHRASE,
    Detection,
    PocketsphinxSpotter,
)


def test_an_utterance_becomes_one_vector_that_keeps_word_order() -> None:
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((20, EMBEDDING_SIZE)).astype(np.float32)
    forward = utterance_features(emb, 6)
    backward = utterance_features(emb[::-1].copy(), 6)
    assert forward.shape == (6 * EMBEDDING_SIZE + EMBEDDING_SIZE,)
    # The maximum part is the same either way; the sequence part tells them apart.
    assert np.allclose(forward[-EMBEDDING_SIZE:], backward[-EMBEDDING_SIZE:])
    assert not np.allclose(forward[:-EMBEDDING_SIZE], backward[:-EMBEDDING_SIZE])
    # The first and last points of the resampled sequence are the utterance's ends.
    assert np.allclose(forward[:EMBEDDING_SIZE], emb[0])
    assert np.allclose(forward[5 * EMBEDDING_SIZE : 6 * EMBEDDING_SIZE], emb[-1])


def test_a_single_frame_utterance_still_gives_a_vector() -> None:
    emb = np.ones((1, EMBEDDING_SIZE), dtype=np.float32)
    assert np.allclose(utterance_features(emb, 6), 1.0)


def test_mel_frames_are_cut_into_one_window_per_80_ms_and_short_audio_is_padded() -> None:
    assert embedding_windows(np.zeros((397, 32), np.float32)).shape == (41, 76, 32, 1)
    assert embedding_windows(np.zeros((30, 32), np.float32)).shape == (1, 76, 32, 1)


def test_the_shipped_weights_round_trip_and_a_damaged_file_is_refused(tmp_path: Path) -> None:
    head = HelpHead.load(HEAD_FILE)
    copy = tmp_path / "head.npz"
    head.save(copy)
    again = HelpHead.load(copy)
    assert again.steps == head.steps and again.threshold == pytest.approx(head.threshold)
    assert np.array_equal(again.w1, head.w1)
    copy.write_bytes(copy.read_bytes()[:100])  # cut short, as a failing SD card leaves it
    with pytest.raises(VoiceError, match=r"unreadable.*reinstall"):
        HelpClassifier(copy)


@pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("sox") is None,
    reason="flite and sox (Debian packages) are needed to render test speech",
)
def test_calls_for_help_by_a_voice_never_trained_on_score_above_ordinary_talk(
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnxruntime")
    classifier = HelpClassifier()
    # kal is never used in training (hub/voice/train.py).
    helps = [
        classifier.is_call_for_help(render(p, "kal", 1.0, tmp_path))
        for p in ("please help me", "somebody help", "i need help")
    ]
    others = [
        classifier.is_call_for_help(render(p, "kal", 1.0, tmp_path))
        for p in ("good morning", "what time is it", "turn on the light", "hello")
    ]
    assert all(confirmed for confirmed, _ in helps), helps
    assert not any(confirmed for confirmed, _ in others), others
    assert min(s for _, s in helps) > max(s for _, s in others)


class ScoreAs:
    """A classifier whose score is given: the spotter's rules, not the model, under test."""

    def __init__(self, score: float) -> None:
        self.value = score
        self.scored: list[int] = []

    def score(self, pcm: bytes) -> float:
        self.scored.append(len(pcm))
        return self.value

    def is_call_for_help(self, pcm: bytes) -> tuple[bool, float]:
        return self.score(pcm) >= 0.2, self.score(pcm)


def stream(spotter: PocketsphinxSpotter, pcm: bytes) -> Detection | None:
    spotter.reset()
    for i in range(0, len(pcm) - 960 + 1, 960):
        hit = spotter.feed(pcm[i : i + 960])
        if hit is not None:
            return hit
    return spotter.finish()


def noise(seconds: float) -> bytes:
    rng = np.random.default_rng(7)
    return rng.integers(-2000, 2000, int(seconds * 16000)).astype("<i2").tobytes()


def test_a_short_utterance_the_keyword_list_missed_calls_when_the_classifier_is_sure() -> None:
    pytest.importorskip("pocketsphinx")
    sure = ScoreAs(0.999)
    spotter = PocketsphinxSpotter(classifier=sure)  # type: ignore[arg-type]
    hit = stream(spotter, noise(1.5))  # no keyword in noise: only the classifier can call
    assert hit is not None
    assert (hit.phrase, hit.confidence) == (SURE_HELP_PHRASE, 0.999)
    assert sure.scored  # judged once, at the end of the utterance


def test_without_a_keyword_a_merely_likely_score_or_a_long_utterance_raises_nothing() -> None:
    pytest.importorskip("pocketsphinx")
    # The help phrases only: "i fell" (1e-10) is found in 8 s of white noise, and then the
    # classifier's verdict on the candidate is what stands between noise and an alarm.
    helps = {k: v for k, v in DEFAULT_KEYPHRASES.items() if k not in ("fallen", "i fell")}
    likely = ScoreAs(0.6)  # enough to confirm a keyword candidate, not to call alone
    assert stream(PocketsphinxSpotter(helps, classifier=likely), noise(1.5)) is None  # type: ignore[arg-type]
    sure = ScoreAs(0.999)
    long_talk = PocketsphinxSpotter(helps, classifier=sure)  # type: ignore[arg-type]
    assert stream(long_talk, noise(8.0)) is None  # talk or television, not a call
    assert sure.scored == []


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox (Debian package) makes the sounds")
def test_household_sounds_never_trained_on_do_not_call_for_help() -> None:
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("onnxruntime")
    spotter = PocketsphinxSpotter()
    called = [name for name, pcm in sox_sounds() if stream(spotter, pcm) is not None]
    assert called == []
    # Not even digital silence, which the classifier once scored 0.93.
    assert stream(spotter, bytes(32000)) is None


def test_no_voice_or_engine_the_bench_reports_is_trained_or_tuned_on() -> None:
    # Issue 19: the held-out figure is honest only if its engines and speakers never reach
    # training or the threshold choice (tuning uses training engines' validation voices).
    from bench.voice import TUNING_SPEAKERS
    from bench.voice_speech import EN_HELD_OUT
    from hub.voice import train

    trained_engines = {engine for engine, _ in train.SPEAKERS}
    trained_voices = {voice for _, voice in train.SPEAKERS}
    for speaker in EN_HELD_OUT:
        assert speaker.engine not in trained_engines, speaker.name
        assert speaker.voice.removesuffix("_diphone") not in trained_voices, speaker.name
    assert {s.voice for s in TUNING_SPEAKERS} == set(train.VALIDATION_SPEAKERS)
    assert {s.engine for s in TUNING_SPEAKERS} <= trained_engines

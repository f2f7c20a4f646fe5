"""Enrolled phrase: MFCC (numpy only) + DTW against the elder's own three recordings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

Features = npt.NDArray[np.float64]
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


def dtw_distance(a: Features, b: Features) -> float:
    """Length-normalised DTW distance between two feature sequences."""
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    acc = np.full((a.shape[0] + 1, b.shape[0] + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, a.shape[0] + 1):
        for j in range(1, b.shape[0] + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return float(acc[-1, -1] / (a.shape[0] + b.shape[0]))


# Measured on flite renderings (tests/test_voice_enrolled.py): the same phrase at another
# pace ~4.1, other phrases 5.7-8.1.
DEFAULT_THRESHOLD = 5.0
TEMPLATES_FILE = "enrolled_phrase.npz"


class EnrolledPhrase:
    """Matches an utterance against templates from the elder's enrolment recordings."""

    def __init__(
        self, phrase: str, recordings: list[bytes], threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        self.phrase = phrase
        self.templates = [mfcc(r) for r in recordings]
        self.threshold = threshold

    @classmethod
    def from_templates(
        cls, phrase: str, templates: list[Features], threshold: float = DEFAULT_THRESHOLD
    ) -> EnrolledPhrase:
        """An enrolled phrase from stored feature templates (no audio involved)."""
        made = cls(phrase, [], threshold)
        made.templates = list(templates)
        return made

    def save(self, path: Path) -> None:
        """Store the MFCC templates only (never audio), atomically: temp file, fsync, rename."""
        tmp = path.with_suffix(".tmp")
        arrays = {f"t{i}": t for i, t in enumerate(self.templates)}
        with tmp.open("wb") as f:
            np.savez(
                f,
                phrase=np.array(self.phrase),
                threshold=np.array(self.threshold),
                **arrays,  # type: ignore[arg-type]
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> EnrolledPhrase:
        """Read templates written by `save` (no pickles are loaded)."""
        # Our own handle: numpy leaves its own open when the file is not a valid zip.
        with path.open("rb") as f, np.load(f, allow_pickle=False) as data:
            keys = sorted((k for k in data.files if k[1:].isdigit()), key=lambda k: int(k[1:]))
            templates = [np.asarray(data[k], dtype=np.float64) for k in keys]
            if not templates or any(t.ndim != 2 or t.shape[1] != N_MFCC - 1 for t in templates):
                raise ValueError(f"{path} holds no usable templates")
            return cls.from_templates(str(data["phrase"]), templates, float(data["threshold"]))

    def distance(self, pcm: bytes) -> float:
        """Smallest DTW distance to any template."""
        feats = mfcc(pcm)
        if feats.shape[0] == 0:
            return float("inf")
        return min(dtw_distance(feats, t) for t in self.templates)

    def matches(self, pcm: bytes) -> bool:
        """Whether a whole utterance is the enrolled phrase."""
        return self.distance(pcm) <= self.threshold

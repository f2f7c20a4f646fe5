"""Test-speech corpus: flite voices, two speeds, white noise at a fixed SNR, 16 kHz s16le."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HELP_PHRASES = ("help", "help me", "somebody help", "please help me")
OTHER_PHRASES = ("hello", "what time is it", "turn on the light", "good morning")
VOICES = ("slt", "awb", "rms", "kal")
SPEEDS = (1.0, 1.25)  # flite duration_stretch: 1.0 normal, 1.25 slower
SNR_DB = 20.0  # white noise at a fixed SNR, a quiet living room with a TV off


@dataclass(frozen=True)
class Utterance:
    """One rendered phrase: raw 16 kHz mono int16 little-endian audio."""

    phrase: str
    voice: str
    speed: float
    is_help: bool
    pcm: bytes


def render(phrase: str, voice: str, speed: float, workdir: Path) -> bytes:
    """Render one phrase with flite, add noise and resample with sox; return raw PCM."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"{voice}_{speed}_{phrase.replace(' ', '_')}"
    wav, raw = workdir / f"{stem}.wav", workdir / f"{stem}.raw"
    if not raw.exists():
        subprocess.run(
            [
                "flite",
                "-voice",
                voice,
                "--setf",
                f"duration_stretch={speed}",
                "-t",
                phrase,
                "-o",
                str(wav),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            [
                "sox",
                str(wav),
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                "raw",
                str(raw),
                "pad",
                "0.5",
                "0.5",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return add_noise(raw.read_bytes(), SNR_DB, seed=len(stem))


def add_noise(pcm: bytes, snr_db: float, seed: int) -> bytes:
    """Mix in white noise at a fixed signal-to-noise ratio (deterministic per seed)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    power = float(np.mean(x * x)) if x.size else 0.0
    noise = np.random.default_rng(seed).standard_normal(x.size)
    noise *= np.sqrt(power / (10 ** (snr_db / 10)))
    return np.clip(x + noise, -32768, 32767).astype("<i2").tobytes()


def build(workdir: Path) -> list[Utterance]:
    """16 help and 16 other utterances across the four flite voices."""
    out: list[Utterance] = []
    for i, voice in enumerate(VOICES):
        for j, phrase in enumerate(HELP_PHRASES + OTHER_PHRASES):
            speed = SPEEDS[(i + j) % 2]
            pcm = render(phrase, voice, speed, workdir)
            out.append(Utterance(phrase, voice, speed, phrase in HELP_PHRASES, pcm))
    return out

"""Household sounds that are not speech, for the help classifier to learn to ignore.

A classifier trained on speech alone scores what it never heard at random: before these
were added, digital silence scored 0.93, a few clicks like dishes 0.95 and a cough-like
burst 0.71 (a call for help is 0.2 after a keyword and 0.9 without one). Two families,
so one can train and the other test:

- `numpy_sounds` (training): silence and room noise, noise bursts, clicks, beeps, chords,
  cough-like band-limited bursts, and babble of ordinary phrases (a television);
- `sox_sounds` (bench/voice.py only): sox's own synthesiser (plucked strings, square-wave
  alarms, sweeps, brown-noise bursts, tremolo), never used in training.

All are 16 kHz mono s16le, deterministic for a seed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
Samples = npt.NDArray[np.float64]


def _pcm(x: Samples) -> bytes:
    return np.clip(x, -32767, 32767).astype("<i2").tobytes()


def _room(rng: np.random.Generator, seconds: float) -> Samples:
    """Quiet room noise (RMS 5-100), the floor every sound sits on."""
    return _room_samples(rng, int(seconds * SAMPLE_RATE))


def _room_samples(rng: np.random.Generator, n: int) -> Samples:
    return rng.normal(0.0, float(rng.uniform(5, 100)), n)


def _place(rng: np.random.Generator, sound: Samples) -> Samples:
    """The sound with 0.2-0.6 s of room noise either side."""
    before = _room(rng, float(rng.uniform(0.2, 0.6)))
    after = _room(rng, float(rng.uniform(0.2, 0.6)))
    middle = sound + _room_samples(rng, sound.size)
    return np.concatenate([before, middle, after])


def _band(rng: np.random.Generator, x: Samples) -> Samples:
    """Keep one random band of the spectrum (a cough, a cupboard, a kettle)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)
    lo = float(rng.uniform(100, 1500))
    hi = lo + float(rng.uniform(300, 4000))
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    out = np.fft.irfft(spectrum, n=x.size)
    return out / (float(np.std(out)) or 1.0)


def _silence(rng: np.random.Generator) -> Samples:
    seconds = float(rng.uniform(0.5, 3.0))
    if rng.random() < 0.3:
        return np.zeros(int(seconds * SAMPLE_RATE))
    return _room(rng, seconds)


def _burst(rng: np.random.Generator) -> Samples:
    n = int(rng.uniform(0.1, 1.5) * SAMPLE_RATE)
    noise = rng.normal(0.0, 1.0, n)
    if rng.random() < 0.5:
        noise = _band(rng, noise)
    envelope = np.hanning(n) ** float(rng.uniform(0.3, 3.0))
    return _place(rng, noise * envelope * float(rng.uniform(500, 8000)))


def _clicks(rng: np.random.Generator) -> Samples:
    n = int(rng.uniform(0.5, 3.0) * SAMPLE_RATE)
    x = np.zeros(n)
    for _ in range(int(rng.integers(1, 9))):
        length = int(rng.integers(50, 2000))
        at = int(rng.integers(0, max(n - length, 1)))
        decay = np.exp(-np.arange(length) / float(rng.uniform(20, 400)))
        x[at : at + length] += rng.normal(0, 1, length) * decay * float(rng.uniform(2000, 15000))
    return _place(rng, x)


def _beeps(rng: np.random.Generator) -> Samples:
    seconds = float(rng.uniform(0.5, 3.0))
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * float(rng.uniform(300, 3500)) * t)
    if rng.random() < 0.5:
        tone = np.sign(tone)
    gate = np.sin(2 * np.pi * float(rng.uniform(0.5, 8)) * t) > float(rng.uniform(-0.5, 0.5))
    return _place(rng, tone * gate * float(rng.uniform(500, 8000)))


def _chord(rng: np.random.Generator) -> Samples:
    seconds = float(rng.uniform(0.5, 3.0))
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    base = float(rng.uniform(100, 600))
    vibrato = 1 + 0.01 * np.sin(2 * np.pi * float(rng.uniform(3, 7)) * t)
    x = sum(
        np.sin(2 * np.pi * base * ratio * vibrato * t) / (k + 1)
        for k, ratio in enumerate((1.0, 1.25, 1.5, 2.0)[: int(rng.integers(2, 5))])
    )
    return _place(rng, np.asarray(x) * np.hanning(t.size) ** 0.3 * float(rng.uniform(500, 5000)))


def _coughs(rng: np.random.Generator) -> Samples:
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.uniform(0.15, 0.4) * SAMPLE_RATE)
        attack = np.exp(-np.arange(n) / (n * float(rng.uniform(0.1, 0.4))))
        parts.append(_band(rng, rng.normal(0, 1, n)) * attack * float(rng.uniform(2000, 10000)))
        parts.append(np.zeros(int(rng.uniform(0.05, 0.3) * SAMPLE_RATE)))
    return _place(rng, np.concatenate(parts))


GENERATORS: tuple[Callable[[np.random.Generator], Samples], ...] = (
    _silence,
    _burst,
    _clicks,
    _beeps,
    _chord,
    _coughs,
)


def numpy_sounds(count: int, seed: int = 0) -> list[bytes]:
    """`count` household non-speech sounds, cycling through the generators."""
    rng = np.random.default_rng(seed)
    return [_pcm(GENERATORS[i % len(GENERATORS)](rng)) for i in range(count)]


def babble(phrases: list[bytes], count: int, seed: int = 0) -> list[bytes]:
    """Two or three ordinary phrases spoken over each other, quieter: a television."""
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    for _ in range(count):
        picks = [phrases[int(i)] for i in rng.choice(len(phrases), int(rng.integers(2, 4)))]
        voices = [np.frombuffer(p, dtype="<i2").astype(np.float64) for p in picks]
        n = max(v.size for v in voices)
        mix = sum(np.pad(v, (0, n - v.size)) for v in voices)
        out.append(_pcm(np.asarray(mix) * float(rng.uniform(0.3, 0.8))))
    return out


# sox synthesiser effects (bench only): each a sound a home makes that is not speech.
SOX_SOUNDS = {
    "plucked notes (a guitar on the radio)": [
        "synth",
        "0.4",
        "pluck",
        "C4",
        ":",
        "synth",
        "0.4",
        "pluck",
        "E4",
    ],
    "smoke-alarm chirp": ["synth", "0.15", "square", "3200", "repeat", "4"],
    "microwave beep": ["synth", "0.3", "sine", "1000", "pad", "0", "0.3", "repeat", "2"],
    "rising sweep": ["synth", "1.2", "sine", "300-3000"],
    "brown-noise rumble (traffic)": ["synth", "2", "brownnoise", "fade", "q", "0.3", "2", "0.5"],
    "pink-noise hiss (a tap running)": ["synth", "1.5", "pinknoise", "tremolo", "6", "40"],
    "clap": ["synth", "0.08", "whitenoise", "fade", "p", "0", "0.08", "0.07"],
    "phone ring": ["synth", "1", "sine", "440", "sine", "480", "tremolo", "20", "90"],
    "hum and buzz": ["synth", "1.5", "square", "100", "lowpass", "800"],
    "doorbell": ["synth", "0.6", "pluck", "E5", ":", "synth", "0.9", "pluck", "C5"],
}


def sox_sounds(volumes: tuple[float, ...] = (0.1, 0.3, 0.8)) -> list[tuple[str, bytes]]:
    """Each SOX_SOUNDS entry at a few volumes, rendered by sox with 0.4 s of quiet either side."""
    out: list[tuple[str, bytes]] = []
    for name, effects in SOX_SOUNDS.items():
        for volume in volumes:
            raw = subprocess.run(
                [
                    *("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer"),
                    *("-t", "raw", "-", *effects, "vol", str(volume), "pad", "0.4", "0.4"),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            ).stdout
            x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
            x += np.random.default_rng(len(out)).normal(0, 30, x.size)  # the room
            out.append((f"{name} x{volume:g}", _pcm(x)))
    return out

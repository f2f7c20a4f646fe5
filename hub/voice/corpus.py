"""Test-speech corpus: flite voices, speeds, pitch, room echo and noise, 16 kHz s16le.

Two sets, so thresholds are not tuned on the figure they are judged by:
- TRAINING: voices slt, awb, rms at speeds 1.0 and 1.25 with white noise at 20 dB SNR;
- HELD_OUT: other voices (kal, kal16, and slt/rms/awb shifted in pitch), other speeds
  (0.85, 1.5), louder white noise (10 dB), pink noise (a television or fan) and room echo.
`build()` is the issue's original 16 help / 16 ordinary set (slt, awb, rms, kal).
"""

from __future__ import annotations

import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HELP_PHRASES = ("help", "help me", "somebody help", "please help me")
OTHER_PHRASES = ("hello", "what time is it", "turn on the light", "good morning")
# More calls for help, and ordinary talk including near-misses that sound like "help"
# or even contain it without being a call for help.
MORE_HELP_PHRASES = ("i need help", "help help", "somebody help me")
MORE_OTHER_PHRASES = (
    "helmet",
    "yellow",
    "help yourself to tea",
    "can i help you",
    "health",
    "tell me a story",
    "where is my phone",
    "i am fine thank you",
    "the kettle is boiling",
    "hold the door",
    "shelf",
    "well done",
)
VOICES = ("slt", "awb", "rms", "kal")
SPEEDS = (1.0, 1.25)  # flite duration_stretch: 1.0 normal, 1.25 slower
SNR_DB = 20.0  # white noise at a fixed SNR, a quiet living room with a TV off


@dataclass(frozen=True)
class Condition:
    """How a phrase is rendered: flite voice, pace, pitch shift, echo, noise."""

    voice: str
    speed: float = 1.0
    pitch_cents: int = 0  # sox pitch shift; negative is lower (an older voice)
    reverb: bool = False  # sox reverb: a tiled kitchen or bathroom
    noise: str = "white"  # "white" or "pink" (a television, a fan)
    snr_db: float = SNR_DB

    @property
    def label(self) -> str:
        """Short name for tables: voice, speed and what was added."""
        parts = [self.voice, f"x{self.speed:g}"]
        if self.pitch_cents:
            parts.append(f"pitch{self.pitch_cents:+d}")
        if self.reverb:
            parts.append("echo")
        parts.append(f"{self.noise}{self.snr_db:g}dB")
        return " ".join(parts)


TRAINING = tuple(Condition(v, s) for v in ("slt", "awb", "rms") for s in (1.0, 1.25))
HELD_OUT = (
    Condition("kal", 1.0, noise="white", snr_db=10.0),
    Condition("kal", 1.5, noise="pink", snr_db=15.0),
    Condition("kal16", 0.85, noise="white", snr_db=20.0),
    Condition("kal16", 1.0, reverb=True, noise="pink", snr_db=15.0),
    Condition("slt", 0.85, pitch_cents=-400, noise="pink", snr_db=15.0),
    Condition("slt", 1.5, pitch_cents=-200, reverb=True, noise="white", snr_db=20.0),
    Condition("rms", 0.85, pitch_cents=-300, noise="white", snr_db=10.0),
    Condition("awb", 1.5, pitch_cents=300, noise="pink", snr_db=15.0),
)


@dataclass(frozen=True)
class Utterance:
    """One rendered phrase: raw 16 kHz mono int16 little-endian audio."""

    phrase: str
    voice: str
    speed: float
    is_help: bool
    pcm: bytes
    condition: str = ""


def render(
    phrase: str,
    voice: str,
    speed: float,
    workdir: Path,
    *,
    condition: Condition | None = None,
) -> bytes:
    """Render one phrase with flite, shape it and add noise with sox/numpy; return raw PCM."""
    cond = condition or Condition(voice, speed)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"{voice}_{speed}_{cond.pitch_cents}_{int(cond.reverb)}_{phrase.replace(' ', '_')}"
    wav, raw = workdir / f"{stem}.wav", workdir / f"{stem}.raw"
    if not raw.exists():
        subprocess.run(
            [
                *("flite", "-voice", voice, "--setf", f"duration_stretch={speed}"),
                *("-t", phrase, "-o", str(wav)),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        effects = ["pad", "0.5", "0.5"]
        if cond.pitch_cents:
            effects += ["pitch", str(cond.pitch_cents)]
        if cond.reverb:
            effects += ["reverb", "40", "50", "60"]
        to_raw(wav, raw, effects)
    seed = len(stem) if condition is None else zlib.crc32(f"{stem}/{cond.noise}".encode())
    return add_noise(raw.read_bytes(), cond.snr_db, seed=seed, colour=cond.noise)


def to_raw(wav: Path, raw: Path, effects: list[str]) -> None:
    """Convert a rendered wav to raw 16 kHz mono s16le through sox `effects`."""
    subprocess.run(
        [
            *("sox", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer"),
            *("-t", "raw", str(raw), *effects),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def add_noise(pcm: bytes, snr_db: float, seed: int, colour: str = "white") -> bytes:
    """Mix in white or pink noise at a fixed signal-to-noise ratio (deterministic per seed)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    power = float(np.mean(x * x)) if x.size else 0.0
    noise = np.random.default_rng(seed).standard_normal(x.size)
    if colour == "pink" and x.size > 1:  # 1/f power: scale the spectrum by 1/sqrt(f)
        spectrum = np.fft.rfft(noise)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        noise = np.fft.irfft(spectrum / np.sqrt(f), n=x.size)
        noise /= float(np.std(noise)) or 1.0
    noise *= np.sqrt(power / (10 ** (snr_db / 10)))
    return np.clip(x + noise, -32768, 32767).astype("<i2").tobytes()


def build(workdir: Path) -> list[Utterance]:
    """The issue's set: 16 help and 16 other utterances across four flite voices."""
    out: list[Utterance] = []
    for i, voice in enumerate(VOICES):
        for j, phrase in enumerate(HELP_PHRASES + OTHER_PHRASES):
            speed = SPEEDS[(i + j) % 2]
            pcm = render(phrase, voice, speed, workdir)
            label = Condition(voice, speed).label
            out.append(Utterance(phrase, voice, speed, phrase in HELP_PHRASES, pcm, label))
    return out


def build_set(conditions: tuple[Condition, ...], workdir: Path) -> list[Utterance]:
    """Every help and ordinary phrase (the larger lists) under each condition."""
    helps = HELP_PHRASES + MORE_HELP_PHRASES
    out: list[Utterance] = []
    for cond in conditions:
        for phrase in helps + OTHER_PHRASES + MORE_OTHER_PHRASES:
            pcm = render(phrase, cond.voice, cond.speed, workdir, condition=cond)
            out.append(Utterance(phrase, cond.voice, cond.speed, phrase in helps, pcm, cond.label))
    return out

"""Where an elder calls from: rooms, microphones and a television, made with numpy.

Training (hub/voice/train.py) and the bench (bench/voice.py, bench/voice_zh.py) put the same
clean speech through these conditions, each with its own random parameters, so the bench
reports per condition:

- quiet: a quiet room (noise floor only);
- reverb: a tiled kitchen or bathroom (a synthetic room response, RT60 0.4-0.9 s);
- cheap_mic: a cheap microphone or a telephone-band path (300-3400 Hz, 8 kHz, soft clipping,
  hiss at 20-25 dB);
- tv_10db / tv_0db: a television (two or three other voices over each other) 10 dB or 0 dB
  below the elder;
- distance: the elder three or four metres away in another room's doorway (14-18 dB quieter,
  more room than voice, high frequencies lost).

All audio is 16 kHz mono s16le; every function is deterministic for its generator.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
CONDITIONS = ("quiet", "reverb", "cheap_mic", "tv_10db", "tv_0db", "distance")
# Speech is brought to this RMS (16-bit) before a condition: a person a metre from the hub's
# microphone speaking up; the gate wakes at 300.
SPEECH_RMS = 2000.0
Samples = npt.NDArray[np.float64]


def samples(pcm: bytes) -> Samples:
    """s16le bytes -> float samples."""
    return np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)


def pcm_bytes(x: Samples) -> bytes:
    """Float samples -> s16le bytes (clipped)."""
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def active_rms(x: Samples) -> float:
    """RMS of the loud part (10 ms frames above a twentieth of the loudest): a level that
    does not depend on how much silence surrounds the words."""
    n = x.size // 160
    if n == 0:
        return float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    level = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))
    loud = level[level >= level.max() / 20]
    return float(np.sqrt(np.mean(loud**2))) if loud.size else 0.0


def normalise(x: Samples, rms: float = SPEECH_RMS) -> Samples:
    """Scale speech to an active RMS."""
    level = active_rms(x)
    return x * (rms / level) if level > 0 else x


def room_response(rng: np.random.Generator, rt60_s: float, direct_db: float) -> Samples:
    """A synthetic room impulse response: a direct path, then exponentially decaying noise
    (reflections) whose energy is `direct_db` below (negative: more room than voice)."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # first reflections after 3 ms
    tail *= np.sqrt(10 ** (-direct_db / 10) / float(np.sum(tail**2)))
    tail[0] = 1.0
    return tail


def convolve(x: Samples, h: Samples) -> Samples:
    """Linear convolution by FFT, cut to the input's length plus the tail."""
    n = x.size + h.size - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


def band(x: Samples, lo_hz: float, hi_hz: float) -> Samples:
    """Keep only lo..hi Hz (a brick-wall filter; enough for a microphone's response)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)
    spectrum[(freqs < lo_hz) | (freqs > hi_hz)] = 0
    return np.fft.irfft(spectrum, n=x.size)


def noise_floor(rng: np.random.Generator, n: int, rms: float) -> Samples:
    """Room noise: pinkish (a fridge, a street) at an RMS."""
    white = rng.standard_normal(n)
    if n < 2:
        return white * rms
    spectrum = np.fft.rfft(white)
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n=n)
    return pink / (float(np.std(pink)) or 1.0) * rms


def mix_at(x: Samples, other: Samples, snr_db: float) -> Samples:
    """`other` (looped or cut to x's length) added `snr_db` below x's active level."""
    if other.size == 0:
        return x
    reps = int(np.ceil(x.size / other.size))
    bed = np.tile(other, reps)[: x.size]
    level = active_rms(bed)
    if level == 0:
        return x
    return x + bed * (active_rms(x) / level) * 10 ** (-snr_db / 20)


def television(rng: np.random.Generator, talk: list[bytes], seconds: float) -> Samples:
    """Two or three voices from `talk` at once, end to end, for `seconds`: a television."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n)
    for _ in range(int(rng.integers(2, 4))):
        track = np.zeros(0)
        while track.size < n:
            said = normalise(samples(talk[int(rng.integers(len(talk)))]))
            gap = np.zeros(int(rng.uniform(0.05, 0.4) * SAMPLE_RATE))
            track = np.concatenate([track, said, gap])
        start = int(rng.integers(0, max(track.size - n, 1)))
        out += track[start : start + n] * float(rng.uniform(0.5, 1.0))
    return band(out, 120, 6000)  # a television's small speakers


def apply(
    condition: str, pcm: bytes, rng: np.random.Generator, tv_talk: list[bytes] | None = None
) -> bytes:
    """Speech (any level) as heard under `condition` (one of CONDITIONS), with a noise floor.

    tv_talk: ordinary utterances the television says (needed for tv_10db and tv_0db); they
    should come from other speakers than the one heard.
    """
    x = normalise(samples(pcm))
    if condition == "reverb":
        h = room_response(rng, float(rng.uniform(0.4, 0.9)), float(rng.uniform(-3, 3)))
        x = normalise(convolve(x, h))
    elif condition == "cheap_mic":
        x = band(x, float(rng.uniform(250, 350)), float(rng.uniform(3200, 3600)))
        x = np.repeat(x[::2], 2)[: x.size]  # 8 kHz without an anti-alias filter
        drive = float(rng.uniform(1.5, 3.0))
        x = np.tanh(x / SPEECH_RMS / 4 * drive) * SPEECH_RMS * 4 / drive
        x = normalise(x)
        x = x + rng.standard_normal(x.size) * SPEECH_RMS * 10 ** (-float(rng.uniform(20, 25)) / 20)
    elif condition in ("tv_10db", "tv_0db"):
        if not tv_talk:
            raise ValueError(f"{condition} needs tv_talk")
        snr = 10.0 if condition == "tv_10db" else 0.0
        x = mix_at(x, television(rng, tv_talk, x.size / SAMPLE_RATE + 1.0), snr)
    elif condition == "distance":
        h = room_response(rng, float(rng.uniform(0.5, 0.8)), float(rng.uniform(-8, -4)))
        x = band(convolve(x, h), 80, float(rng.uniform(3500, 5000)))
        x = normalise(x) * 10 ** (-float(rng.uniform(14, 18)) / 20)
    elif condition != "quiet":
        raise ValueError(f"unknown condition {condition!r}; one of {', '.join(CONDITIONS)}")
    x = x + noise_floor(rng, x.size, float(rng.uniform(15, 40)))
    return pcm_bytes(x)

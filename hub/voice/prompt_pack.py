"""A recorded prompt pack: the elder's prompts spoken by a real voice, checked before use.

A deployment (the centre has operators who can record) puts one WAV per prompt id and language
in a folder, `<voice.prompt_pack>/<language>/<prompt id>.wav` (`cmn/confirm_help.wav`). At start
the hub checks each file (missing, not 16-bit PCM WAV, a rate too low for clear speech, too short
or too long, silent, clipped, a long silence before the words) and plays the ones that pass
instead of espeak-ng; a prompt whose file fails is spoken by espeak-ng, and the log says why.
What plays is a copy of the bytes that were checked (in the prompt cache), so a file changed or
removed while the hub runs changes nothing until the next start, when it is checked again.

Pure but for reading the files: no audio library, only `wave` and `array`, so a check of a dozen
files costs milliseconds and no memory to speak of.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

# Rates accepted. Below 16 kHz speech loses the consonants (s, f, x) that elderly ears already
# struggle with; these are the rates recorders and phones write.
RATES = (16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
# A prompt shorter than this is a click or an empty take; longer than this is not a prompt (the
# longest, the gas guidance, takes about 10 s when read slowly).
MIN_SECONDS = 0.3
MAX_SECONDS = 30.0
# No file this large is a prompt (30 s of 48 kHz stereo is 5.8 MB).
MAX_BYTES = 16 * 1024 * 1024
# A 20 ms frame whose peak-to-peak swing stays under this (about -36 dBFS for each peak) is
# silence in a quiet room's recording; a take with no such frame loud enough is silent.
FRAME_S = 0.02
SILENCE_P2P = 1_000
# Less than this share of frames above silence: the take is mostly silence (a mis-click).
MIN_SPEECH_SHARE = 0.15
# Silence before the first word delays the prompt (after "需要帮助吗" the elder has only
# voice.confirm_s to answer); this much is a recorder's lead-in left untrimmed.
MAX_LEAD_S = 1.0
# Samples at full scale (+32767 or -32768) in more than this share of the take: it was recorded
# too loud and is clipped, which sounds harsh and is harder to understand.
MAX_CLIPPED_SHARE = 0.001


@dataclass(frozen=True)
class Recording:
    """What the check found for one prompt id in the pack."""

    prompt_id: str
    path: Path
    problem: str | None  # None: it passed and is played instead of TTS
    seconds: float = 0.0
    rate: int = 0
    peak_dbfs: float = -math.inf

    @property
    def usable(self) -> bool:
        """Whether this recording is played."""
        return self.problem is None

    def shown(self) -> str:
        """One line about the file: its length, rate and peak, or what is wrong."""
        if self.problem is not None:
            return self.problem
        return f"{self.seconds:.1f} s, {self.rate} Hz, peak {self.peak_dbfs:.1f} dBFS"


def _samples(w: wave.Wave_read) -> array[int]:
    """All samples of a 16-bit PCM WAV, as signed integers in machine order."""
    pcm = array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":  # WAV is little-endian
        pcm.byteswap()
    return pcm


def check_wav(prompt_id: str, path: Path, data: bytes) -> Recording:
    """Check one recorded prompt's bytes; the Recording says what is wrong, if anything."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            if width != 2:
                return Recording(prompt_id, path, f"{8 * width}-bit samples: save as 16-bit PCM")
            pcm = _samples(w)
    except (wave.Error, EOFError) as exc:
        return Recording(prompt_id, path, f"not a PCM WAV file ({exc}): save as 16-bit PCM WAV")
    if channels not in (1, 2):
        return Recording(prompt_id, path, f"{channels} channels: save as mono")
    if rate not in RATES:
        low = " (too low for clear speech)" if rate < RATES[0] else ""
        return Recording(
            prompt_id, path, f"{rate} Hz{low}: record or save at 16000, 22050, 44100 or 48000 Hz"
        )
    if not pcm:
        return Recording(prompt_id, path, "no audio in it (0 samples)")
    seconds = len(pcm) / channels / rate
    highest, lowest = max(pcm), min(pcm)
    peak = max(highest, -lowest)
    peak_dbfs = 20 * math.log10(peak / 32768) if peak else -math.inf

    def found(problem: str | None) -> Recording:
        return Recording(prompt_id, path, problem, seconds, rate, peak_dbfs)

    if seconds < MIN_SECONDS:
        return found(f"{seconds:.2f} s long: too short to be the prompt")
    if seconds > MAX_SECONDS:
        return found(f"{seconds:.0f} s long: a prompt is at most {MAX_SECONDS:.0f} s")
    step = max(1, int(rate * FRAME_S)) * channels
    loud = [
        max(frame) - min(frame) >= SILENCE_P2P
        for frame in (pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step))
    ]
    if not any(loud):
        level = f"peak {peak_dbfs:.0f} dBFS" if peak else "all samples zero"
        return found(f"silent ({level}): record it again, closer")
    share = sum(loud) / len(loud)
    if share < MIN_SPEECH_SHARE:
        return found(f"mostly silence (sound in {share:.0%} of it): record it again")
    lead = loud.index(True) * FRAME_S
    if lead > MAX_LEAD_S:
        return found(f"{lead:.1f} s of silence before the words: trim the start")
    clipped = (pcm.count(32767) + pcm.count(-32768)) / len(pcm)
    if clipped > MAX_CLIPPED_SHARE:
        return found(f"clipped ({clipped:.1%} of samples at full scale): record it less loud")
    return found(None)


class PromptPack:
    """The recorded prompts of one language in a pack folder (`root/<language>/<id>.wav`)."""

    def __init__(self, root: Path, language: str) -> None:
        self.root = root
        self.language = language

    @property
    def folder(self) -> Path:
        """Where this language's recordings are."""
        return self.root / self.language

    def file_for(self, prompt_id: str) -> Path:
        """Where the recording of a prompt is expected."""
        return self.folder / f"{prompt_id}.wav"

    def load(self, prompt_id: str) -> tuple[Recording, bytes | None]:
        """The check of one prompt's recording and, when it passed, the bytes that were
        checked (the ones to play)."""
        path = self.file_for(prompt_id)
        try:
            if not path.is_file():
                return Recording(prompt_id, path, "missing"), None
            if path.stat().st_size > MAX_BYTES:
                return Recording(prompt_id, path, f"larger than {MAX_BYTES >> 20} MiB"), None
            data = path.read_bytes()
        except OSError as exc:
            return Recording(prompt_id, path, f"cannot be read ({exc.strerror})"), None
        found = check_wav(prompt_id, path, data)
        return found, data if found.usable else None

    def check(self, prompt_ids: list[str]) -> list[Recording]:
        """What the check finds for each prompt id, in order."""
        return [self.load(prompt_id)[0] for prompt_id in prompt_ids]

    def strays(self, prompt_ids: list[str]) -> list[Path]:
        """Files in the language's folder that are no prompt's (a misspelt name is never
        played: the prompt it was meant for is spoken by espeak-ng)."""
        wanted = {self.file_for(p).name for p in prompt_ids}
        found: list[Path] = []
        with contextlib.suppress(OSError):
            found = sorted(p for p in self.folder.iterdir() if p.name not in wanted)
        return found

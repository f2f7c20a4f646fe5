"""Checking a spoken prompt without ears: what espeak-ng says it pronounces, and what it renders.

For the exact input the hub gives espeak-ng (voice, pinyin or characters on stdin), espeak-ng's
own phoneme output (`-x`) shows what is pronounced. Debian 12's `cmn` voice gives itself away
there: it switches to English for the pinyin it makes of characters ("(en)... ma55f'aI55v",
"ma five"). So a prompt passes when:
- espeak-ng never switches language (no "(en)"),
- Mandarin: one syllable per character, each with the tone contour of its pinyin tone digit
  (55, 35, 214/21, 51, or a neutral level), i.e. the digit was read as a tone, not a word;
- Cantonese: one syllable per character, each the jyutping the caller expects, if given;
- English: no Chinese character left for the English voice to spell out ("Chinese letter");
- the audio passes the prompt pack's own check (not silent, not clipped, no long lead-in) and
  lasts what that many syllables take at the configured rate.
What this does not prove: that a listener understands it. That is for ears, or (roughly) for a
recogniser: bench/prompt_roundtrip.py transcribes the renders back with Whisper.
"""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass, field
from pathlib import Path

from hub.voice.prompt_pack import PromptPack, Recording, check_wav
from hub.voice.prompts import (
    PROMPTS,
    READING,
    EspeakRunner,
    PromptRenderer,
    RenderRunner,
    Voice,
    espeak_argv,
    fix_wav_sizes,
    prompt_text,
)
from hub.voice.reading import han_count, has_han

# espeak-ng's mark for a switch to another language's rules: "(en)".
_SWITCH = re.compile(r"\(([a-z][a-z-]*)\)")
# Tone contours espeak-ng's Mandarin voices write (Chao numbers) and the pinyin tone of each.
# The third tone is 214 alone and 21 before another syllable; the neutral tone is a level
# whose height depends on the tone before it.
CONTOUR_TONES = {"55": 1, "35": 2, "214": 3, "21": 3, "51": 4, "11": 5, "22": 5, "33": 5, "44": 5}
_CONTOUR = re.compile(r"\d{2,3}")
_PINYIN_TONE = re.compile(r"^[a-zü]+([1-5])$")
# Seconds a syllable (Chinese) or a word (English) takes at 1 word a minute: measured on every
# prompt at 80, 140 and 300 wpm (0.30-0.45 s at 140: 42-63), bench machine, espeak-ng 1.51.
SYLLABLE_S_AT_1_WPM = 55.0
# How far a prompt's time per syllable may be from that before it is not the expected speech
# (measured: 0.65-1.15 of it for all three languages at 80-300 wpm).
SYLLABLE_TIME_RANGE = (0.6, 1.5)


@dataclass
class SpeechCheck:
    """What one rendered prompt is and what is wrong with it (nothing when `problems` is empty)."""

    text: str
    language: str  # the language it is read in
    spoken: str  # what espeak-ng was given (pinyin for Mandarin)
    phonemes: str
    seconds: float = 0.0
    units: int = 0  # syllables (Chinese) or words (English) it should have
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether it passed."""
        return not self.problems


def phonemes(argv: list[str], stdin: str, runner: RenderRunner | None = None) -> str:
    """What espeak-ng pronounces for this input: its phoneme output (-x) for the same argv
    (voice, rate) and stdin as the render (`argv` writes a WAV to --stdout), nothing spoken."""
    argv = [a for a in argv if a != "--stdout"] + ["-q", "-x"]
    run = runner if runner is not None else EspeakRunner()
    return run(argv, stdin.encode()).decode(errors="replace")


def language_switches(phoneme_text: str) -> list[str]:
    """The languages espeak-ng switched to while reading ("en" for English-spoken digits)."""
    return _SWITCH.findall(phoneme_text)


def mandarin_tones(phoneme_text: str) -> list[int]:
    """The tone of each syllable espeak-ng pronounced, from its contours (0: unknown)."""
    return [CONTOUR_TONES.get(c, 0) for c in _CONTOUR.findall(phoneme_text)]


def pinyin_tones(pinyin: str) -> list[int]:
    """The tone digit of each pinyin syllable (anything else is skipped)."""
    tones = []
    for word in pinyin.lower().split():
        m = _PINYIN_TONE.match(word.replace("v", "ü"))
        if m:
            tones.append(int(m.group(1)))
    return tones


def cantonese_syllables(phoneme_text: str) -> list[str]:
    """espeak-ng's yue syllables as jyutping ("N'o1n" -> "ngon1", "s'eo3n" -> "seon3")."""
    out = []
    for token in re.split(r"[\s_|]+", phoneme_text):
        plain = token.replace("'", "").replace(",", "")
        m = re.fullmatch(r"([A-Za-z]*?)([1-6])([a-z]*)", plain)
        if not m:
            continue
        head = "ng" + m.group(1)[1:] if m.group(1).startswith("N") else m.group(1)
        out.append(f"{head}{m.group(3)}{m.group(2)}")
    return out


def wav_seconds(wav: bytes) -> float:
    """How long a WAV plays."""
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.getnframes() / w.getframerate()


def check_render(
    text: str,
    language: str,
    stdin: str,
    argv: list[str],
    *,
    rate: int,
    runner: RenderRunner,
    jyutping: list[str] | None = None,
) -> SpeechCheck:
    """Check the speech espeak-ng makes of `stdin` with `argv` (a render to --stdout) for
    `text` in `language` (cmn, yue, en) at `rate` words a minute."""
    check = SpeechCheck(text, language, stdin, phonemes(argv, stdin, runner))
    problems = check.problems
    switched = language_switches(check.phonemes)
    if switched:
        problems.append(f"espeak-ng switched to {', '.join(sorted(set(switched)))} rules")
    if language == "en":
        check.units = len(text.split())
        if has_han(stdin):
            problems.append("Chinese characters given to the English voice")
    else:
        check.units = han_count(text)
    if language == "cmn":
        expected = pinyin_tones(stdin)
        heard = mandarin_tones(check.phonemes)
        if len(expected) != check.units:
            problems.append(f"{len(expected)} pinyin syllables for {check.units} characters")
        # A third tone before another third tone is said as a second (espeak-ng does this
        # itself where the pinyin did not).
        if len(heard) != len(expected) or any(
            h != e and not (e == 3 and h == 2) for h, e in zip(heard, expected, strict=True)
        ):
            problems.append(f"tones pronounced {heard} for pinyin tones {expected}")
    if language == "yue":
        syllables = cantonese_syllables(check.phonemes)
        if len(syllables) != check.units:
            problems.append(f"{len(syllables)} syllables pronounced for {check.units} characters")
        if jyutping is not None and syllables != jyutping:
            problems.append(f"pronounced {' '.join(syllables)}, expected {' '.join(jyutping)}")
    wav = fix_wav_sizes(runner(argv, stdin.encode()))
    check.seconds = wav_seconds(wav)
    audio = check_wav("tts", Path("tts"), wav)
    if audio.problem is not None:
        problems.append(f"audio: {audio.problem}")
    if check.units:
        per_unit = check.seconds / check.units
        nominal = SYLLABLE_S_AT_1_WPM / rate
        lo, hi = SYLLABLE_TIME_RANGE
        if not lo * nominal <= per_unit <= hi * nominal:
            unit = "word" if language == "en" else "syllable"
            problems.append(
                f"{per_unit:.2f} s per {unit}; expected {lo * nominal:.2f}-{hi * nominal:.2f} s "
                f"at {rate} words a minute"
            )
    return check


def check_speech(
    text: str, voice: Voice, renderer: PromptRenderer, *, jyutping: list[str] | None = None
) -> SpeechCheck:
    """Check `text` as the hub renders it for `voice` (the same reading, voice and stdin)."""
    [said] = renderer.spoken([text], voice)
    return check_render(
        text,
        said.voice.language,
        said.text,
        espeak_argv(said.voice),
        rate=voice.rate,
        runner=renderer.runner,
        jyutping=jyutping,
    )


@dataclass
class PromptPlan:
    """What the elder hears for one prompt id: a recording, or espeak-ng reading `spoken`."""

    prompt_id: str
    text: str
    recording: Recording | None  # the pack's file and its check (None: no pack configured)
    spoken: str = ""  # what espeak-ng is given when the recording is not played
    espeak_voice: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        """Whether the recording plays."""
        return self.recording is not None and self.recording.usable


def plan_prompts(
    voice: Voice, pack: PromptPack | None, renderer: PromptRenderer, *, check: bool
) -> list[PromptPlan]:
    """For each prompt id, in the configured language: what plays and what is wrong (the
    pack's file when it is not played; with `check`, the speech check of each TTS prompt)."""
    plans = []
    for prompt_id in PROMPTS:
        text = prompt_text(prompt_id, voice.language)
        recording = pack.load(prompt_id)[0] if pack is not None else None
        plan = PromptPlan(prompt_id, text, recording)
        if recording is not None and not recording.usable:
            plan.problems.append(f"recording {recording.path}: {recording.problem}")
        plans.append(plan)
    tts = [p for p in plans if not p.recorded]
    for plan, said in zip(tts, renderer.spoken([p.text for p in tts], voice), strict=True):
        plan.spoken, plan.espeak_voice = said.text, said.voice.espeak_voice
        if said.reading != READING:
            plan.problems.append("no pinyin (the pinyin child failed): see the log")
        if check:
            found = check_render(
                plan.text,
                said.voice.language,
                said.text,
                espeak_argv(said.voice),
                rate=voice.rate,
                runner=renderer.runner,
            )
            plan.problems.extend(found.problems)
    return plans

"""The hub's voice wiring: engines from config, and enrolling the elder's own phrase.

Kept out of hub/app.py so the hub only calls `start_spotters` and `enrol`. The hub's
process imports this module but nothing heavy from it: `start_spotters` starts the
engines' process (hub/voice/engine_proc.py), which calls `build_spotters`; numpy,
onnxruntime and pocketsphinx are imported there, never in the hub.
"""

from __future__ import annotations

import logging
import shlex
import sys
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hub.errors import ControlError, VoiceError
from hub.voice.engines import EnrolledSpotter, MultiSpotter
from hub.voice.options import engine_names
from hub.voice.spotter import AnswerSpotter, Spotter

if TYPE_CHECKING:
    from hub.config import VoiceSection
    from hub.voice.enrolled import EnrolledPhrase
    from hub.voice.listen import VoiceListener

_LOGGER = logging.getLogger(__name__)

ENROL_TAKES = 3
# Seconds the elder has to start and finish each take after the prompt.
TAKE_TIMEOUT_S = 15.0
MAX_PHRASE_LABEL = 40
# Where the whisper engine joins Whisper base's two packages into one model file (145 MB).
WHISPER_CACHE = "whisper-base"


STAGES = ("whisper", "whisper-en", "stage")


@dataclass(frozen=True)
class Enrolled:
    """What an enrolment made: the phrase, the templates kept and the takes recorded."""

    phrase: str
    takes: int  # templates kept: a take unlike the others is left out
    recorded: int


def templates_path(data_path: Path) -> Path:
    """Where the enrolled phrase's feature templates live (never any audio)."""
    from hub.voice.enrolled import TEMPLATES_FILE

    return data_path / TEMPLATES_FILE


def start_spotters(
    voice: VoiceSection, data_path: Path
) -> tuple[MultiSpotter, list[AnswerSpotter]]:
    """The hub's side: pocketsphinx, vosk and the enrolled phrase in one child process
    (hub/voice/engine_proc.py), each Mandarin stage in its own; what cannot start is
    logged and left out."""
    from hub.voice.engine_proc import IN_CHILD, SpotterProcess, child_argv

    names = engine_names(voice)
    engines: list[Spotter] = []
    answers: list[AnswerSpotter] = []
    if any(name in IN_CHILD for name in names):
        try:
            child = SpotterProcess(child_argv(voice, data_path))
        except VoiceError as exc:
            _LOGGER.error("%s", exc)
        else:
            engines.append(child)
            if child.answers:
                answers.append(child)
    for name in names:
        if name in STAGES:
            try:
                engines.append(utterance_stage(name, voice, data_path))
            except VoiceError as exc:
                _LOGGER.error("voice engine %s not started: %s", name, exc)
    if not engines and "enrolled" not in names:
        raise VoiceError(f"none of the voice engines {voice.engines!r} could start")
    return MultiSpotter(engines), answers


def build_spotters(
    voice: VoiceSection, data_path: Path, *, only: Sequence[str] | None = None
) -> tuple[MultiSpotter, list[AnswerSpotter]]:
    """Load the configured engines in this process (`only` these, when given); an engine
    that cannot load is logged and left out."""
    engines: list[Spotter] = []
    answers: list[AnswerSpotter] = []
    for name in engine_names(voice):
        if only is not None and name not in only:
            continue
        try:
            if name == "pocketsphinx":
                from hub.voice.spotter import PocketsphinxSpotter

                ps = PocketsphinxSpotter(
                    second_pass="words" if voice.second_pass == "words" else "neural"
                )
                engines.append(ps)
                answers.append(ps)
            elif name == "vosk":
                from hub.voice.engines import VoskSpotter

                phrases = [p.strip() for p in voice.vosk_phrases.split(",") if p.strip()]
                vs = VoskSpotter(Path(voice.vosk_model), phrases)
                engines.append(vs)
                answers.append(vs)
            elif name in STAGES:
                engines.append(utterance_stage(name, voice, data_path))
            elif name == "enrolled":
                enrolled = load_enrolled(data_path, voice.enrolled_threshold)
                if enrolled is not None:
                    engines.append(enrolled)
        except VoiceError as exc:
            _LOGGER.error("voice engine %s not started: %s", name, exc)
    wanted = [n for n in engine_names(voice) if only is None or n in only]
    if not engines and "enrolled" not in wanted:
        raise VoiceError(f"none of the voice engines {voice.engines!r} could start")
    return MultiSpotter(engines), answers


def utterance_stage(name: str, voice: VoiceSection, data_path: Path) -> Spotter:
    """A stage in its own process: built-in Whisper (Mandarin, or English for whisper-en),
    or the image's own command."""
    from hub.voice.stage import UtteranceStage

    phrases = [p.strip() for p in voice.zh_phrases.split(",") if p.strip()]
    if name == "stage":
        return UtteranceStage(shlex.split(voice.stage_command), phrases, name="stage")
    argv = [sys.executable, "-m", "hub.voice.stage_whisper", "--cache"]
    argv += [str(data_path / WHISPER_CACHE), "--threads", str(voice.zh_threads)]
    if name == "whisper-en":
        en_phrases = [p.strip() for p in voice.en_phrases.split(",") if p.strip()]
        return UtteranceStage([*argv, "--language", "en"], en_phrases, name="whisper-en")
    if not voice.zh_fuzzy:
        argv.append("--exact")
    return UtteranceStage(argv, phrases, name="whisper")


def load_enrolled(data_path: Path, threshold: float) -> EnrolledSpotter | None:
    """The enrolled phrase's engine, or None before the installer has enrolled one."""
    from hub.voice.enrolled import THRESHOLDS, EnrolledPhrase

    path = templates_path(data_path)
    if not path.exists():
        _LOGGER.info("no enrolled phrase yet (pingan-hub voice enrol records one)")
        return None
    try:
        phrase = EnrolledPhrase.load(path)
    # A damaged file (SD card): numpy raises EOFError when empty, BadZipFile when cut short.
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise VoiceError(f"enrolled phrase in {path} is unreadable ({exc}); enrol again") from exc
    phrase.threshold = threshold if threshold > 0 else THRESHOLDS[phrase.kind]
    return EnrolledSpotter(phrase)


def make_templates(label: str, recordings: list[bytes], threshold: float) -> EnrolledPhrase:
    """Speech-embedding templates; MFCC ones where onnxruntime or openwakeword is missing."""
    from hub.voice.enrolled import EnrolledPhrase

    try:
        return EnrolledPhrase(label, recordings, threshold)
    except VoiceError as exc:
        _LOGGER.warning("enrolling with MFCC features: %s", exc)
        return EnrolledPhrase(label, recordings, threshold, kind="mfcc")


def check_label(label: object) -> str:
    """The name the installer gives the phrase (kept in events): short, printable text."""
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_PHRASE_LABEL:
        raise ControlError(f"phrase: give a name of 1 to {MAX_PHRASE_LABEL} characters")
    if not label.isprintable():
        raise ControlError("phrase: only printable characters")
    return label.strip()


async def enrol(
    listener: VoiceListener,
    label: str,
    data_path: Path,
    threshold: float,
    prompt: Callable[[], Awaitable[None]],
    *,
    takes: int = ENROL_TAKES,
    take_timeout_s: float = TAKE_TIMEOUT_S,
) -> Enrolled:
    """Record the elder saying their phrase `takes` times (a prompt before each), keep
    only feature templates (saved atomically in the data dir) and start matching them.

    The takes are recorded here; the templates are made, saved and matched by the engines'
    process, so numpy and onnxruntime stay out of the hub."""
    import asyncio  # here: the engines' process imports this module and needs no loop

    from hub.voice.engine_proc import SpotterProcess

    engines = getattr(listener.spotter, "engines", [listener.spotter])
    child = next((e for e in engines if isinstance(e, SpotterProcess)), None)
    if child is None:  # checked before the elder is asked to speak
        raise ControlError(
            "the voice engines' process is not running (the log says why); "
            "name 'enrolled' in voice.engines and enrol again"
        )
    recordings: list[bytes] = []
    for n in range(takes):
        await prompt()
        try:
            recordings.append(await listener.record_take(take_timeout_s))
        except TimeoutError as exc:
            raise ControlError(
                f"take {n + 1} of {takes}: nothing heard within {take_timeout_s:.0f} s; "
                "check the microphone and voice.gate_rms, then enrol again"
            ) from exc
        _LOGGER.info("enrolment take %d of %d recorded", n + 1, takes)
    try:
        name, count = await asyncio.to_thread(child.enrol, label, recordings, threshold)
    except VoiceError as exc:
        raise ControlError(str(exc)) from exc
    finally:
        recordings.clear()  # the audio goes no further than the engines' process
    return Enrolled(name, count, takes)

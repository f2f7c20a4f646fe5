"""More spotting engines behind the `Spotter` interface: vosk grammars, the enrolled phrase,
and several engines listening at once. Heavy libraries are imported only when built."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import VoiceError
from hub.voice.spotter import SAMPLE_RATE, Detection, Spotter

if TYPE_CHECKING:  # numpy: only where an enrolled phrase is matched (the engines' process)
    from hub.voice.enrolled import EnrolledPhrase

_LOGGER = logging.getLogger(__name__)

# Mandarin calls for help (issue 8). Vosk grammars are lists of phrases in the model's own
# words; a phrase whose words the model does not know is dropped by vosk with a warning.
DEFAULT_VOSK_PHRASES = ("救命", "救命啊", "帮帮我", "来人啊")
# Spoken answers to "需要帮助吗": yes (是, 要, 需要) and no (不用, 不要, 没事).
VOSK_YES = ("是", "要", "需要", "是的")
VOSK_NO = ("不用", "不要", "没事", "不需要")
_UNKNOWN = "[unk]"


def _plain(text: str) -> str:
    """Vosk separates words with spaces, also in Chinese: compare without them."""
    return "".join(text.split())


class VoskSpotter:
    """Vosk (Kaldi) restricted to a grammar of help phrases, with a model from config."""

    name = "vosk"

    def __init__(self, model_dir: Path, phrases: Sequence[str] = DEFAULT_VOSK_PHRASES) -> None:
        if not (model_dir / "am").is_dir() and not (model_dir / "conf").is_dir():
            raise VoiceError(
                f"{model_dir} is not a vosk model directory (expected am/ and conf/ in it); "
                "set voice.vosk_model to the unpacked model installed in the image"
            )
        try:
            import vosk
        except ImportError as exc:
            raise VoiceError("vosk is not installed (pip install 'pingan-hub[voice]')") from exc
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:
            raise VoiceError(f"vosk could not load {model_dir}: {exc}") from exc
        self.phrases = tuple(phrases)
        self._wanted = {_plain(p): p for p in self.phrases}
        self._rec = self._recognizer(self.phrases)
        self._answers = self._recognizer((*VOSK_YES, *VOSK_NO, *self.phrases))

    def _recognizer(self, phrases: Sequence[str]) -> Any:
        import vosk

        rec = vosk.KaldiRecognizer(
            self._model, SAMPLE_RATE, json.dumps([*phrases, _UNKNOWN], ensure_ascii=False)
        )
        rec.SetWords(True)
        return rec

    def feed(self, frame: bytes) -> Detection | None:
        """Decode a frame; a finished utterance that is a help phrase is reported."""
        if self._rec.AcceptWaveform(frame):
            return self._detection(self._rec.Result())
        return None

    def finish(self) -> Detection | None:
        """The utterance ended: decide on what vosk heard so far."""
        return self._detection(self._rec.FinalResult())

    def reset(self) -> None:
        """Forget partial audio."""
        self._rec.Reset()

    def _detection(self, result_json: str) -> Detection | None:
        result = json.loads(result_json)
        phrase = self._wanted.get(_plain(str(result.get("text", ""))))
        if phrase is None:
            return None
        words = result.get("result") or []
        confs = [float(w.get("conf", 0.0)) for w in words if isinstance(w, dict)]
        confidence = sum(confs) / len(confs) if confs else 1.0
        return Detection(phrase=phrase, confidence=confidence, engine=self.name)

    def feed_answer(self, frame: bytes) -> bool | None:
        """Decode the elder's Mandarin answer: True for 是/要, False for 不用/不要."""
        if not self._answers.AcceptWaveform(frame):
            return None
        text = _plain(str(json.loads(self._answers.Result()).get("text", "")))
        if text in VOSK_YES or text in self._wanted:  # a help phrase is a yes
            return True
        if text in VOSK_NO:
            return False
        return None

    def confirms_no(self) -> bool:
        """Vosk judged the whole utterance against its grammar already."""
        return True

    def reset_answer(self) -> None:
        """Forget a partial answer."""
        self._answers.Reset()


# An enrolled phrase is short; longer stretches of speech are matched in windows this long.
ENROLLED_MAX_S = 4.0


class EnrolledSpotter:
    """The elder's own phrase: a whole utterance compared with the enrolment templates."""

    name = "enrolled"

    def __init__(self, phrase: EnrolledPhrase, max_s: float = ENROLLED_MAX_S) -> None:
        self.phrase = phrase
        self._max_bytes = int(max_s * SAMPLE_RATE) * 2
        self._audio = bytearray()  # the current utterance only, never stored

    def feed(self, frame: bytes) -> Detection | None:
        """Collect the utterance; a very long one is judged once it fills the window."""
        self._audio += frame
        if len(self._audio) >= self._max_bytes:
            return self.finish()
        return None

    def finish(self) -> Detection | None:
        """Compare the utterance with the templates, then forget it."""
        audio, self._audio = bytes(self._audio), bytearray()
        if len(audio) < SAMPLE_RATE // 5:  # under 0.2 s: a click, not a phrase
            return None
        distance = self.phrase.distance(audio)
        if distance > self.phrase.threshold:
            return None
        confidence = max(0.0, min(1.0, 1.0 - distance / (2 * self.phrase.threshold)))
        return Detection(phrase=self.phrase.phrase, confidence=confidence, engine=self.name)

    def reset(self) -> None:
        """Forget the utterance."""
        self._audio = bytearray()


class MultiSpotter:
    """Several engines hear the same audio; the first to hear a help phrase wins."""

    def __init__(self, engines: Sequence[Spotter]) -> None:
        # May start empty: "enrolled" alone has nothing to match until the elder enrols.
        self.engines = list(engines)
        self.name = "+".join(e.name for e in self.engines)

    def feed(self, frame: bytes) -> Detection | None:
        """Feed every engine; report the first detection and start all engines afresh."""
        for engine in self.engines:
            hit = engine.feed(frame)
            if hit is not None:
                self.reset()
                return hit
        return None

    def finish(self) -> Detection | None:
        """End the utterance in every engine; report the first that heard a phrase."""
        hits = [engine.finish() for engine in self.engines]
        return next((h for h in hits if h is not None), None)

    def reset(self) -> None:
        """Forget partial audio in every engine."""
        for engine in self.engines:
            engine.reset()

    def poll(self) -> Detection | None:
        """A detection an engine made in the background (an utterance stage), if any."""
        for engine in self.engines:
            poll = getattr(engine, "poll", None)
            hit = poll() if poll is not None else None
            if isinstance(hit, Detection):
                return hit
        return None

    def close(self) -> None:
        """Stop engines that run their own process."""
        for engine in self.engines:
            close = getattr(engine, "close", None)
            if close is not None:
                close()

    def replace(self, name: str, engine: Spotter | None) -> None:
        """Swap (or add, or with None remove) the engine of this name, e.g. after enrolment."""
        for old in self.engines:
            close = getattr(old, "close", None)
            if old.name == name and close is not None:
                close()
        self.engines = [e for e in self.engines if e.name != name]
        if engine is not None:
            self.engines.append(engine)
        self.name = "+".join(e.name for e in self.engines)

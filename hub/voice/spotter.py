"""Keyword spotting engines behind one interface: 16 kHz mono int16 frames in, Detection out."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub.errors import HubError

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# Per-phrase keyphrase thresholds, tuned on the flite corpus (hub.voice.corpus, 20 dB SNR):
# 13/16 caught, 0/16 false alarms, RTF 0.02 (bench/voice.py). {help 1e-24, help me 1e-20,
# somebody help 1e-32} caught 15/16 but gave a "hello" false alarm when utterances came in
# another order (cepstral-mean state carries over), so it is not the default. Lower brings false
# alarms on "hello" before it catches the two missed short "help"s.
DEFAULT_KEYPHRASES: dict[str, float] = {
    "help": 1e-20,
    "help me": 1e-15,
    "somebody help": 1e-30,
    "please help me": 1e-25,
}


class VoiceError(HubError):
    """A voice engine could not be loaded or failed while decoding."""


@dataclass(frozen=True)
class Detection:
    """A help phrase was heard; no audio is kept, only the phrase and confidence."""

    phrase: str
    confidence: float
    engine: str


class Spotter(Protocol):
    """One keyword spotting engine."""

    name: str

    def feed(self, frame: bytes) -> Detection | None:
        """Feed raw 16 kHz mono s16le audio; return a Detection when a phrase ends."""
        ...

    def reset(self) -> None:
        """Forget partial audio (after a detection, or when the gate closes)."""
        ...


class PocketsphinxSpotter:
    """Keyword-list spotting with the en-us model shipped in the pocketsphinx wheel."""

    name = "pocketsphinx"

    def __init__(self, keyphrases: dict[str, float] | None = None) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise VoiceError("pocketsphinx is not installed") from exc
        phrases = keyphrases if keyphrases is not None else DEFAULT_KEYPHRASES
        with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as kws:
            for phrase, threshold in phrases.items():
                kws.write(f"{phrase} /{threshold:g}/\n")
        try:
            self._decoder = Decoder(kws=kws.name, samprate=SAMPLE_RATE, loglevel="FATAL")
        except Exception as exc:
            raise VoiceError(f"pocketsphinx failed to load: {exc}") from exc
        finally:
            Path(kws.name).unlink(missing_ok=True)
        self._started = False

    def feed(self, frame: bytes) -> Detection | None:
        """Decode a frame; a keyphrase hit ends the utterance and is reported."""
        if not self._started:
            self._decoder.start_utt()
            self._started = True
        self._decoder.process_raw(frame, False, False)
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return None
        phrase = hyp.hypstr.strip()
        self.reset()
        # KWS hypotheses carry no calibrated probability; report the phrase as certain
        # and let the confirmation flow absorb doubt.
        return Detection(phrase=phrase, confidence=1.0, engine=self.name)

    def reset(self) -> None:
        """End the current utterance, if any."""
        if self._started:
            self._decoder.end_utt()
            self._started = False

"""Keyword spotting engines behind one interface: 16 kHz mono int16 frames in, Detection out."""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from hub.errors import VoiceError

if TYPE_CHECKING:
    from hub.voice.neural import HelpClassifier

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# First pass: keyword-list spotting, run on every gated frame (cheap). Phrases in STRONG
# are accepted at once (long enough that nothing ordinary matched them in training);
# the others only make a candidate for the second pass. Thresholds tuned on the TRAINING
# part of hub.voice.corpus (bench/voice.py --grid); figures on the HELD_OUT part are in
# bench/README.md.
DEFAULT_KEYPHRASES: dict[str, float] = {
    "help": 1e-25,
    "help me": 1e-30,
    "need help": 1e-20,
    "somebody help": 1e-30,
    "please help me": 1e-30,
    # Issue 19: an elder who has fallen says so. Thresholds from `bench/voice.py --grid`
    # (training voices); the neural check judges what they let through.
    "fallen": 1e-10,
    "i fell": 1e-10,
}
STRONG_PHRASES = frozenset({"somebody help", "please help me"})

# Second pass, only on a candidate: the utterance so far (at most CONFIRM_WINDOW_S) is
# judged either by the neural help classifier (hub/voice/neural.py, the default) or by
# decoding it with a small unigram language model of ordinary and near-miss words, "help"
# boosted, and `is_call_for_help` on the words heard ("words": no extra dependency). The
# word model also checks a spoken "no" while the hub asks.
SecondPass = Literal["neural", "words", "none"]
GARBAGE_WORDS = """a i the to and of it is in on you me my we he she that this what where
when how can no yes well tell sell fell bell hell held health wealth helmet hello yellow
fellow shelf self yourself elf hold old told cold gold hope top up cup good morning night
time day light turn door phone tea story fine thank thanks kettle done boiling mother son
some body somebody nobody please need knee oh ah hey hi bye so do go see be are am was
there here now out down""".split()  # noqa: SIM905 (a word list reads best as text)
HELP_BOOST_LOG10 = 1.5  # "help" is this much more likely than a garbage word (tuned)
HELP_LIKE = frozenset({"help", "held", "fell", "hell", "elf", "bell", "well", "down"})
# Words of ordinary talk (from the garbage list) that veto a candidate.
ORDINARY_WORDS = frozenset(
    """you yourself door story morning light kettle phone tea time boiling thank thanks done
    hello yellow fellow helmet health wealth shelf self turn good night where what""".split()  # noqa: SIM905
)
CONFIRM_WINDOW_S = 4.0
CONFIRM_AFTER_S = 0.9  # decide this long after a candidate even if the room stays loud
# The classifier judges a whole utterance ("help yourself to tea" starts like "help me"), so
# it waits for the utterance's end (the gate closes after 0.6 s of quiet) or this long.
NEURAL_CONFIRM_AFTER_S = 2.0
# A short utterance the keyword list let pass is still a call for help when the classifier
# is this sure of it. Chosen with the head's own threshold (0.99, in help_head.npz) by
# `python -m bench.voice --tune` on the training engines' validation voices, never on the
# held-out ones: there 294/624 calls and 37/2976 false alarms (0.2 and 0.9: 410/624 and
# 201/2976). Only utterances of at most CONFIRM_WINDOW_S are scored this way: a call for
# help is short, talk and television are long.
SURE_HELP_SCORE = 0.995
SURE_HELP_PHRASE = "call for help"  # what the event names when no keyword was heard
MIN_UTTERANCE_S = 0.3
_CONFIRM_SEARCH = "confirm"

# Spoken answers to "需要帮助吗" the English model can hear.
DEFAULT_ANSWERS: dict[str, float] = {"yes": 1e-10, "yes please": 1e-20, "no": 1e-5}
YES_WORDS = frozenset({"yes", "yes please"})
_ANSWER_SEARCH = "answer"


@dataclass(frozen=True)
class Detection:
    """A help phrase was heard; no audio is kept, only the phrase and confidence."""

    phrase: str
    confidence: float
    engine: str


class Spotter(Protocol):
    """One keyword spotting engine. All calls come from one thread (the spotter's)."""

    name: str

    def feed(self, frame: bytes) -> Detection | None:
        """Feed raw 16 kHz mono s16le audio; return a Detection when a phrase is heard."""
        ...

    def finish(self) -> Detection | None:
        """The utterance ended (the gate closed): decide on what is pending, then forget it."""
        ...

    def reset(self) -> None:
        """Forget partial audio (after a detection, or when the gate closes)."""
        ...


class AnswerSpotter(Protocol):
    """Listens for a spoken yes or no while the hub is asking."""

    def feed_answer(self, frame: bytes) -> bool | None:
        """Feed audio; True for yes, False for no, None while nothing is heard."""
        ...

    def confirms_no(self) -> bool:
        """At the end of an utterance in which this spotter heard "no": is it really one?"""
        ...

    def reset_answer(self) -> None:
        """Forget partial audio of an answer."""
        ...


class PocketsphinxSpotter:
    """Two-pass English spotting with the en-us model shipped in the pocketsphinx wheel.

    Three searches share one decoder (one copy of the acoustic model in memory): the
    help keyword list (first pass), a small unigram model that confirms a candidate
    (second pass), and "yes"/"no" for the confirmation. The current utterance is kept in
    memory (at most CONFIRM_WINDOW_S) only to run the second pass on it.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        keyphrases: dict[str, float] | None = None,
        answers: dict[str, float] | None = None,
        *,
        strong: frozenset[str] | None = None,
        help_boost_log10: float = HELP_BOOST_LOG10,
        second_pass: SecondPass = "neural",
        classifier: HelpClassifier | None = None,
    ) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise VoiceError("pocketsphinx is not installed") from exc
        self.keyphrases = keyphrases if keyphrases is not None else DEFAULT_KEYPHRASES
        self.answers = answers if answers is not None else DEFAULT_ANSWERS
        if strong is None:  # the classifier judges every candidate, however long
            strong = STRONG_PHRASES if second_pass == "words" else frozenset()
        self.strong = strong
        self.second_pass = second_pass
        self.classifier = classifier
        if second_pass == "neural" and classifier is None:
            from hub.voice.neural import HelpClassifier

            self.classifier = HelpClassifier()
        files: list[str] = []
        try:  # the temporary files go whatever fails (a full /tmp, a bad phrase)
            files.append(_kws_file(self.keyphrases))
            files.append(_kws_file({**self.keyphrases, **self.answers}))
            files.append(_unigram_file(GARBAGE_WORDS, "help", help_boost_log10))
            # kws= (not the default language model) and a dictionary of only the words
            # used: the full en-us LM and dictionary would add ~100 MB resident.
            files.append(_small_dict(self.keyphrases, self.answers))
            self._decoder = Decoder(
                kws=files[0], dict=files[3], samprate=SAMPLE_RATE, loglevel="FATAL"
            )
            self._help_search = self._decoder.current_search()
            self._decoder.add_kws(_ANSWER_SEARCH, files[1])
            self._decoder.add_lm_file(_CONFIRM_SEARCH, files[2])
        except Exception as exc:
            raise VoiceError(f"pocketsphinx failed to load: {exc}") from exc
        finally:
            for f in files:
                Path(f).unlink(missing_ok=True)
        self._started = ""  # the search of the utterance in progress, "" when none
        self._audio = bytearray()  # this utterance, for the second pass; never stored
        self._heard = 0
        self._max_bytes = int(CONFIRM_WINDOW_S * SAMPLE_RATE) * 2
        after_s = NEURAL_CONFIRM_AFTER_S if self.classifier is not None else CONFIRM_AFTER_S
        self._confirm_after_bytes = int(after_s * SAMPLE_RATE) * 2
        self._candidate = ""
        self._since_candidate = 0

    def _process(self, search: str, frame: bytes) -> str:
        if self._started != search:
            self._end()
            self._decoder.activate_search(search)
            self._decoder.start_utt()
            self._started = search
        self._decoder.process_raw(frame, False, False)
        hyp = self._decoder.hyp()
        return "" if hyp is None else hyp.hypstr.strip()

    def feed(self, frame: bytes) -> Detection | None:
        """Decode a frame; a strong hit is reported at once, a weak one is checked first."""
        self._audio += frame
        self._heard += len(frame)
        if len(self._audio) > self._max_bytes:
            del self._audio[: len(self._audio) - self._max_bytes]
        if self._candidate:
            self._since_candidate += len(frame)
            if self._since_candidate >= self._confirm_after_bytes:
                return self._confirm()
            return None
        heard = self._process(self._help_search, frame)
        if not heard:
            return None
        hits = {seg.word.strip() for seg in self._decoder.seg()} or {heard}
        strong = hits & self.strong
        phrase = min(strong) if strong else max(hits, key=len)
        if strong or self.second_pass == "none":
            self.reset()
            # KWS hypotheses carry no calibrated probability; report the phrase as
            # certain and let the confirmation flow absorb doubt.
            return Detection(phrase=phrase, confidence=1.0, engine=self.name)
        self._candidate, self._since_candidate = phrase, 0
        self._end()
        return None

    def finish(self) -> Detection | None:
        """The utterance ended: confirm a pending candidate, or let the classifier judge a
        short utterance the keyword list missed; then forget the audio."""
        if self._candidate:
            detection = self._confirm()
        elif self.classifier is not None and self._short_utterance():
            score = self.classifier.score(bytes(self._audio))
            detection = None
            if score >= SURE_HELP_SCORE:
                detection = Detection(SURE_HELP_PHRASE, round(score, 3), self.name)
        else:
            detection = None
        self.reset()
        return detection

    def _short_utterance(self) -> bool:
        lo = int(MIN_UTTERANCE_S * SAMPLE_RATE) * 2
        return lo <= self._heard <= self._max_bytes

    def _confirm(self) -> Detection | None:
        phrase = self._candidate
        if self.classifier is not None:
            confirmed, score = self.classifier.is_call_for_help(bytes(self._audio))
            self.reset()
            if confirmed:
                return Detection(phrase=phrase, confidence=round(score, 3), engine=self.name)
            _LOGGER.info("candidate %r not confirmed (help score %.2f)", phrase, score)
            return None
        words = self._decode_utterance()
        self.reset()
        if is_call_for_help(words):
            return Detection(phrase=phrase, confidence=1.0, engine=self.name)
        _LOGGER.info("candidate %r not confirmed (heard %r)", phrase, " ".join(words))
        return None

    def feed_answer(self, frame: bytes) -> bool | None:
        """Decode a frame of the elder's answer: True for yes (or a help phrase), False for
        no. The answer search holds the help phrases too, so "help" is not taken for "no"."""
        self._audio += frame
        if len(self._audio) > self._max_bytes:
            del self._audio[: len(self._audio) - self._max_bytes]
        heard = self._process(_ANSWER_SEARCH, frame)
        if not heard:
            return None
        words = {seg.word.strip() for seg in self._decoder.seg()} or {heard}
        if words & (YES_WORDS | set(self.keyphrases)):
            self._end()
            return True
        return False

    def confirms_no(self) -> bool:
        """A keyword "no" stands only if the word model over the whole answer hears "no"
        and nothing help-like: a short "no" is easily found in "hello" or "help"."""
        words = set(self._decode_utterance())
        return "no" in words and not words & HELP_LIKE

    def reset_answer(self) -> None:
        """Forget a partial answer."""
        self.reset()

    def _decode_utterance(self) -> list[str]:
        self._end()
        self._decoder.activate_search(_CONFIRM_SEARCH)
        self._decoder.start_utt()
        self._decoder.process_raw(bytes(self._audio), False, True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr.split() if hyp is not None else []

    def reset(self) -> None:
        """Forget the utterance: decoder state, kept audio and any candidate."""
        self._end()
        self._audio = bytearray()
        self._heard = 0  # bytes fed in this utterance (the kept audio is capped)
        self._candidate, self._since_candidate = "", 0

    def _end(self) -> None:
        if self._started:
            self._decoder.end_utt()
            self._started = ""


def is_call_for_help(words: list[str]) -> bool:
    """Second-pass verdict on a first-pass candidate, from the words the decoder heard.

    Confirmed when a help-like word is heard (the en-us model often writes a synthetic
    "help" as "held", "fell" or "down") and nothing says it is ordinary talk ("help you",
    "tell me a story", "good morning"). An empty hearing keeps the candidate: when in
    doubt, the hub asks rather than stays silent.
    """
    heard = set(words)
    return not heard or (bool(heard & HELP_LIKE) and not heard & ORDINARY_WORDS)


def _small_dict(*phrase_sets: dict[str, float]) -> str:
    """A pronunciation dictionary holding only the words the searches use."""
    from pocketsphinx import get_model_path

    wanted = set(GARBAGE_WORDS) | {"help"}
    for phrases in phrase_sets:
        for phrase in phrases:
            wanted.update(phrase.split())
    full = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    with (
        full.open(encoding="utf-8") as src,
        tempfile.NamedTemporaryFile("w", suffix=".dict", delete=False) as out,
    ):
        for line in src:
            word = line.split(" ", 1)[0]
            if word.split("(", 1)[0] in wanted:
                out.write(line)
    return out.name


def _unigram_file(words: list[str], boosted: str, boost_log10: float) -> str:
    """An ARPA unigram model: every word equally likely, `boosted` more so."""
    vocab = sorted(set(words) | {boosted})
    base = -math.log10(len(vocab))
    with tempfile.NamedTemporaryFile("w", suffix=".arpa", delete=False) as arpa:
        arpa.write(f"\\data\\\nngram 1={len(vocab) + 2}\n\n\\1-grams:\n")
        arpa.write(f"{base:.4f} <s>\n{base:.4f} </s>\n")
        for w in vocab:
            logp = min(0.0, base + boost_log10) if w == boosted else base
            arpa.write(f"{logp:.4f} {w}\n")
        arpa.write("\n\\end\\\n")
    return arpa.name


def _kws_file(phrases: dict[str, float]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as kws:
        for phrase, threshold in phrases.items():
            kws.write(f"{phrase} /{threshold:g}/\n")
    return kws.name

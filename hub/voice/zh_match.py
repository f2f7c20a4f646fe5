"""Mandarin help phrases found in what a recogniser heard, by sound (pinyin), not by characters.

A recogniser writes what it hears as characters, often homophones or traditional forms
("幫幫我", "救命愛", "我摔到了"): the characters differ, the syllables do not. So both the
configured phrases and the transcript are compared as toneless pinyin syllables (the caller
turns characters into pinyin: pypinyin, in the stage's own process). Pure: no IO, no
pypinyin import.

Southern speakers (Guangdong, Fujian: the people this hub serves) often merge zh/z, ch/c,
sh/s, n/l and -ng/-n; with `fuzzy` those are the same sound. A phrase's trailing 啊 ("来人啊")
may come back as any sentence particle a recogniser writes for it (呀, 哇, 哪, 啦, 啊).
A phrase of four syllables or more ("我摔倒了") matches with one syllable wrong, but not the
first: "我摔到的" is the elder, "他摔倒了" is somebody on television.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_INITIAL_MERGES = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FINAL_MERGES = (("ing", "in"), ("eng", "en"), ("ang", "an"), ("ong", "on"))
# What a recogniser writes for a sentence-final 啊 after different sounds.
PARTICLES = frozenset({"a", "ya", "wa", "na", "la", "ra", "ha", "ai"})
LONG_PHRASE = 4  # syllables from which one wrong syllable is forgiven


def canonical(syllable: str, *, fuzzy: bool) -> str:
    """A toneless pinyin syllable as compared: lower case, ü as v, merged sounds folded."""
    s = syllable.lower().replace("ü", "v").strip()
    if not fuzzy:
        return s
    for long, short in _INITIAL_MERGES:
        if s.startswith(long):
            s = short + s[len(long) :]
            break
    for long, short in _FINAL_MERGES:
        if s.endswith(long):
            s = s[: -len(long)] + short
            break
    return s


@dataclass(frozen=True)
class Phrase:
    """One configured help phrase: its characters and their syllables."""

    text: str
    syllables: tuple[str, ...]


def _same(heard: str, wanted: str, *, fuzzy: bool) -> bool:
    if wanted == "a":
        return heard in PARTICLES
    return canonical(heard, fuzzy=fuzzy) == canonical(wanted, fuzzy=fuzzy)


def _matches_at(heard: Sequence[str], at: int, phrase: Phrase, *, fuzzy: bool) -> bool:
    if not _same(heard[at], phrase.syllables[0], fuzzy=fuzzy):
        return False
    wrong = 0
    for offset, wanted in enumerate(phrase.syllables[1:], start=1):
        if not _same(heard[at + offset], wanted, fuzzy=fuzzy):
            wrong += 1
    allowed = 1 if len(phrase.syllables) >= LONG_PHRASE else 0
    return wrong <= allowed


def find_phrase(heard: Sequence[str], phrases: Sequence[Phrase], *, fuzzy: bool) -> Phrase | None:
    """The longest configured phrase whose syllables occur, in order and together, in what
    was heard (toneless pinyin), or None."""
    for phrase in sorted(phrases, key=lambda p: len(p.syllables), reverse=True):
        n = len(phrase.syllables)
        if n == 0:
            continue
        for at in range(len(heard) - n + 1):
            if _matches_at(heard, at, phrase, fuzzy=fuzzy):
                return phrase
    return None

"""English help phrases found in what a recogniser (Whisper) wrote. Pure: no IO.

A call for help is a phrase that ends its clause: "Help!", "Somebody help me", "I need
help", "I've fallen and I can't get up". The same words in ordinary talk go on to say
something else: "help yourself to tea", "can I help you", "help desk", "I fell asleep".
So a configured phrase matches where its words occur together and what follows is the end
of the utterance, a punctuation break, or a word that carries a call on (CARRY_ON: "help
me", "help, help", "fallen and ..."). One rule for every phrase, not a list of exceptions.

Contractions are spelt out before comparing ("I've" -> "i have"), so "i've fallen" in the
configuration matches "I have fallen" as Whisper may write it, and the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_EN_PHRASES = "help,i've fallen,i fell"
# Words after a phrase that keep it a call: who is to help, more of the call, or a fall's
# continuation ("i fell down", "i've fallen over", "help me please").
CARRY_ON = frozenset(
    {
        "me",
        "us",
        "please",
        "help",
        "somebody",
        "someone",
        "anybody",
        "anyone",
        "now",
        "quick",
        "quickly",
        "down",
        "over",
        "off",
        "and",
        "i",
    }
)
_CONTRACTIONS = {
    "i've": ("i", "have"),
    "ive": ("i", "have"),
    "i'm": ("i", "am"),
    "im": ("i", "am"),
    "can't": ("can", "not"),
    "cannot": ("can", "not"),
}
BREAK = "|"  # a punctuation break between clauses, kept as a token
_TOKEN = re.compile(r"[a-z']+|[.!?,;:]")


def words(text: str) -> list[str]:
    """Lower-case words with contractions spelt out; clause punctuation becomes BREAK."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        if not token[0].isalpha():
            out.append(BREAK)
            continue
        out.extend(_CONTRACTIONS.get(token, (token.strip("'"),)))
    return out


@dataclass(frozen=True)
class EnPhrase:
    """One configured help phrase: as written and as compared."""

    text: str
    words: tuple[str, ...]


def phrases_from(configured: str) -> list[EnPhrase]:
    """The configured phrases (comma-separated)."""
    out = []
    for text in (p.strip() for p in configured.split(",")):
        said = tuple(w for w in words(text) if w != BREAK)
        if said:
            out.append(EnPhrase(text, said))
    return out


def _ends_clause(heard: Sequence[str], after: int) -> bool:
    if after >= len(heard) or heard[after] == BREAK:
        return True
    return heard[after] in CARRY_ON


def find_phrase(heard: Sequence[str], phrases: Sequence[EnPhrase]) -> EnPhrase | None:
    """The longest configured phrase that occurs in `heard` (from `words`) and ends its
    clause there, or None."""
    for phrase in sorted(phrases, key=lambda p: len(p.words), reverse=True):
        n = len(phrase.words)
        for at in range(len(heard) - n + 1):
            if tuple(heard[at : at + n]) == phrase.words and _ends_clause(heard, at + n):
                return phrase
    return None

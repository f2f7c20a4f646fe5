"""What espeak-ng is given to read: Mandarin as tone-numbered pinyin, Cantonese and English as
written.

Debian 12's espeak-ng 1.51 reads Chinese characters with its `cmn` voice as pinyin spoken by
the English voice, tone digits and all ("需要帮助吗" comes out as "... ma five"). Its
`cmn-latn-pinyin` voice reads tone-numbered pinyin as Mandarin, so Mandarin text is turned into
pinyin first, with pypinyin (whose phrase dictionary also picks the right reading of 行, 重, 长,
地 and 觉 where espeak-ng's own dictionary does not, and applies the tone changes of 不 and 一).

pypinyin's dictionaries cost about 57 MiB of memory once imported, so the hub never imports it:
it runs this module as a short-lived child (`python -I -m hub.voice.reading`, one line of text
in, one line of pinyin out, on the pipes), only when a prompt is rendered into the cache or the
centre's text arrives. Cantonese goes to espeak-ng's `yue` voice as characters: it reads every
one of our prompts right (each syllable checked against jyutping in tests/test_prompt_speech.py),
and the jyutping libraries available (ToJyutping 3.2, 87 MiB, 1.5 s to load; pycantonese 5, a
43 MB wheel) would add memory and time for no syllable it gets wrong.
"""

from __future__ import annotations

import os
import re
import sys

# espeak-ng voice for each language the hub speaks.
ESPEAK_VOICES = {"cmn": "cmn-latn-pinyin", "yue": "yue", "en": "en"}

# CJK Unified Ideographs and their extensions (𨋢, "lift" in Cantonese, is in extension B).
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# A temperature as a weather warning writes it: "-5°C", "5 °C", "5℃", the minus also as a
# Unicode or full-width minus. espeak-ng says "C" in English and drops the minus; spoken
# Chinese says 零下5度.
_TEMPERATURE = re.compile(r"(?<![\d.])([-\u2212\uff0d]?)(\d+(?:\.\d+)?)\s*(?:°\s*C|℃)")
# Full-width punctuation the pinyin voice would otherwise run through without a pause.
_PAUSES = str.maketrans(
    {"，": ",", "、": ",", "；": ";", "：": ":", "。": ".", "？": "?", "！": "!"}
)


def has_han(text: str) -> bool:
    """Whether the text has a Chinese character."""
    return _HAN.search(text) is not None


def han_count(text: str) -> int:
    """How many Chinese characters the text has (one syllable each)."""
    return len(_HAN.findall(text))


def spoken_language(text: str, language: str) -> str:
    """The language the text is read in: Chinese text for an English-speaking hub (the centre's
    text) is read as Mandarin rather than spelt out by the English voice."""
    if language == "en" and has_han(text):
        return "cmn"
    return language if language in ESPEAK_VOICES else "cmn"


def normalise_chinese(text: str) -> str:
    """Chinese text with temperatures written as they are said (零下5度, 5度)."""

    def said(m: re.Match[str]) -> str:
        return ("零下" if m.group(1) else "") + m.group(2) + "度"

    return _TEMPERATURE.sub(said, text)


def to_pinyin(text: str) -> str:
    """Mandarin text as tone-numbered pinyin, syllables separated by spaces; anything that is
    not a Chinese character (digits, Latin letters, punctuation) passes through."""
    from pypinyin import Style, lazy_pinyin

    parts = lazy_pinyin(
        normalise_chinese(text), style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True
    )
    return " ".join(" ".join(p.translate(_PAUSES) for p in parts).split())


def main() -> None:
    """One line of Mandarin per line on stdin, its pinyin per line on stdout."""
    # pypinyin keeps one copy of its dictionaries instead of two (about 3 MiB less).
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "true")
    out = [to_pinyin(line) for line in sys.stdin.read().split("\n")]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()

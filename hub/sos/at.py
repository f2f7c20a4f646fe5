"""AT command responses (3GPP TS 27.007, TS 27.005): framing, classifying, and the
numbers and results they carry. Pure: bytes and text in, plain data out; the serial
port is hub.sos.modem's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from hub.errors import DecodeError

_MAX_LINE = 1024  # longer "lines" are garbage on the wire, not AT responses


# -- lines ------------------------------------------------------------------------


class LineKind(Enum):
    """What a received line is, before routing."""

    OK = "ok"
    ERROR = "error"  # ERROR, +CME ERROR, +CMS ERROR
    CALL_END = "call_end"  # NO CARRIER, BUSY, NO ANSWER, NO DIALTONE
    URC = "urc"  # only ever unsolicited
    INFO = "info"  # an information response (or an unsolicited line sharing its prefix)


# Prefixes that are never the answer to a command we send.
URC_PREFIXES = frozenset(
    {
        "RING",
        "+CRING",
        "+CLIP",
        "+CMTI",
        "+CMT",
        "+CDSI",
        "+CDS",
        "+CUSD",
        "VOICE CALL",
        "MISSED_CALL",
        "RDY",
        "SMS DONE",
        "PB DONE",
        "+QIND",
        "+CPIN",  # also the answer to AT+CPIN?, which declares it
        "+CREG",  # also the answer to AT+CREG?, which declares it
        "+CEREG",
        "+CGREG",
        "+CLCC",
    }
)
CALL_END_CODES = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})
_PREFIX_RE = re.compile(r"^(\+[A-Z0-9]+|[A-Z_ ]+?):\s?(.*)$")


@dataclass(frozen=True)
class Line:
    """One parsed response line."""

    kind: LineKind
    text: str
    prefix: str = ""  # "+CLIP" for '+CLIP: "138...",129'; the whole text for RING/OK
    args: tuple[str, ...] = ()


def split_args(text: str) -> tuple[str, ...]:
    """Comma-separated values with double quotes removed ('"a,b",1' -> ('a,b', '1'))."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if quoted:
        raise DecodeError("unbalanced quote in response")
    out.append("".join(current).strip())
    return tuple(out)


def parse_line(raw: bytes) -> Line:
    """Classify one line (without its CR LF); DecodeError when it is not text."""
    if len(raw) > _MAX_LINE:
        raise DecodeError(f"line longer than {_MAX_LINE} bytes")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DecodeError("line is not UTF-8 text") from exc
    if any(ord(c) < 0x20 and c != "\t" for c in text):
        raise DecodeError("line holds control characters")
    if text == "OK":
        return Line(LineKind.OK, text, text)
    if text == "ERROR":
        return Line(LineKind.ERROR, text, text)
    if text in CALL_END_CODES:
        return Line(LineKind.CALL_END, text, text)
    if text.startswith(("+CME ERROR:", "+CMS ERROR:")):
        prefix, _, rest = text.partition(":")
        return Line(LineKind.ERROR, text, prefix, (rest.strip(),))
    if text in URC_PREFIXES:
        return Line(LineKind.URC, text, text)
    match = _PREFIX_RE.match(text)
    if match:
        prefix = match.group(1).strip()
        kind = LineKind.URC if prefix in URC_PREFIXES else LineKind.INFO
        return Line(kind, text, prefix, split_args(match.group(2)))
    return Line(LineKind.INFO, text)


@dataclass(frozen=True)
class Prompt:
    """The "> " after AT+CMGS=<len>: the modem waits for the PDU."""


class LineFramer:
    """Bytes in, complete lines (and prompts) out; survives any split of the stream."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes | Prompt]:
        """Everything complete so far; partial lines stay buffered."""
        self._buf += data
        out: list[bytes | Prompt] = []
        while True:
            cut = min(
                (i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0), default=-1
            )
            if cut < 0:
                break
            line = bytes(self._buf[:cut])
            del self._buf[: cut + 1]
            if line.strip() == b">":
                out.append(Prompt())  # a URC right after the prompt ended its "line"
            elif line.strip():
                out.append(line)
        # The prompt is the only output not ended by a line break.
        if self._buf.lstrip().startswith(b">"):
            self._buf.clear()
            out.append(Prompt())
        elif len(self._buf) > _MAX_LINE:
            out.append(bytes(self._buf))  # let parse_line reject it; do not grow forever
            self._buf.clear()
        return out


# -- numbers ----------------------------------------------------------------------


def national_number(number: str, international: bool = False) -> str:
    """Digits for comparing Chinese numbers: +86 / 0086 / trunk 0 removed; others keep '+'."""
    s = number.strip()
    digits = "".join(c for c in s if c.isdigit())
    if s.startswith("+"):
        international = True
    elif digits.startswith("00"):
        international, digits = True, digits[2:]
    elif len(digits) == 13 and digits.startswith("861"):
        international = True  # a mobile number reported with its country code but no '+'
    if international:
        if not digits.startswith("86"):
            return "+" + digits
        digits = digits[2:]
    return digits.removeprefix("0")


def same_number(a: str, b: str, *, b_international: bool = False) -> bool:
    """Whether two spellings name the same subscriber (+86 138..., 138..., 0086...)."""
    na, nb = national_number(a), national_number(b, b_international)
    return bool(na) and na == nb


# -- results ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignalQuality:
    """AT+CSQ, converted (TS 27.007 8.5): None where the modem does not know."""

    rssi_dbm: int | None
    ber: int | None
    raw_rssi: int

    @property
    def bars(self) -> int:
        """0-5, for the installer's survey page."""
        if self.rssi_dbm is None:
            return 0
        return max(0, min(5, (self.rssi_dbm + 113) // 10))


@dataclass(frozen=True)
class ModemStatus:
    """What initialisation found."""

    sim: str
    registered: bool
    registration: str
    signal: SignalQuality


class CallOutcome(Enum):
    """How an outgoing call ended up."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


@dataclass(frozen=True)
class CallResult:
    """The outcome of `Modem.dial`, with a reason a person can read."""

    outcome: CallOutcome
    detail: str = ""


@dataclass(frozen=True)
class IncomingCall:
    """A call came in; `answered` when its number is a whitelisted centre number."""

    number_masked: str
    answered: bool
    error: str = ""


# TS 27.007 7.3 registration states (<stat> of +CREG / +CEREG).
REG_STATES = {
    "0": "not registered, not searching",
    "1": "registered, home network",
    "2": "not registered, searching",
    "3": "registration denied",
    "4": "unknown",
    "5": "registered, roaming",
}


def csq_to_signal(rssi: int, ber: int) -> SignalQuality:
    """TS 27.007 8.5: 0 -> -113 dBm ... 31 -> -51 dBm in 2 dB steps; 99 unknown."""
    dbm = -113 + 2 * rssi if 0 <= rssi <= 31 else None
    return SignalQuality(dbm, ber if 0 <= ber <= 7 else None, rssi)

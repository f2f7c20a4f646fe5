"""SMS-SUBMIT PDUs for AT+CMGS in PDU mode (AT+CMGF=0): pure, no IO.

3GPP TS 23.040 (the TPDU: 9.2.2.2 SMS-SUBMIT, 9.1.2.5 addresses, 9.2.3.24 user data
header) and TS 23.038 (the GSM 7-bit default alphabet, UCS2). Text that fits the GSM
default alphabet (and its extension table) is sent 7-bit; anything else, Chinese above
all, in UCS2 (UTF-16BE, so characters outside the BMP travel as surrogate pairs).
Text too long for one message is split into a concatenated SMS with an 8-bit reference
(IEI 0x00), without ever cutting an escape pair or a surrogate pair in half.

No maintained, light library does this: smspdu (2011) and python-gsmmodem (2013, and its
forks) are unmaintained or bring a threaded modem driver along; gsm0338 is only the
character codec. The decoder here exists for the simulator and the tests, which prove
every PDU we build decodes back to the text we meant to send.
"""

from __future__ import annotations

# UCS2 text is encoded with Python's utf-16-be codec, which Python imports from disk on
# first use. Imported here, with the hub: an escalation is the worst moment to need a
# file (with every descriptor in use, that import once failed and the family got no SMS).
import encodings.utf_16_be  # noqa: F401
from dataclasses import dataclass
from enum import Enum

from hub.errors import DecodeError, HubError

# TS 23.038 6.2.1: the default alphabet, indexed by septet value (0x1B is the escape
# to the extension table; it is never a character of its own).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 6.2.1.1: the extension table, each sent as ESC + this septet.
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_ESC = 0x1B
_GSM7_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != _ESC}
_GSM7_EXT_REVERSE = {v: k for k, v in GSM7_EXTENSION.items()}

# TS 23.040 9.2.2.2: user data is at most 140 octets: 160 septets or 70 UCS2 units.
MAX_UD_OCTETS = 140
# A concatenated message's UDH (05 00 03 ref total seq) takes 6 octets, leaving
# 153 septets (after one fill bit) or 67 UCS2 units per part.
_CONCAT_UDH_LEN = 6
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# TS 23.040 9.2.3.24: at most 255 parts in one concatenated message.
MAX_PARTS = 255

# TS 23.040 9.2.3.1-5: SMS-SUBMIT, relative validity period present; UDHI when a
# header is present.
_MTI_SUBMIT = 0x01
_VPF_RELATIVE = 0x10
_UDHI = 0x40
# TS 23.038 4: DCS general group, no class, default alphabet / UCS2.
DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
# TS 23.040 9.1.2.5: type of address: international / national (unknown), ISDN plan.
TOA_INTERNATIONAL = 0x91
TOA_NATIONAL = 0x81
# TS 23.040 9.2.3.12.1: relative validity 0xA7 = 12 h + 24 x 30 min = 24 hours. An
# emergency SMS that cannot be delivered within a day is stale; the network drops it.
DEFAULT_VALIDITY = 0xA7
_MAX_ADDRESS_DIGITS = 20


class SmsError(HubError):
    """A message cannot be encoded (bad number, empty text, too long)."""


class Encoding(Enum):
    """How the user data is coded (TS 23.038)."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsPart:
    """One AT+CMGS unit: the hex PDU (with an empty SMSC field) and the TPDU length."""

    pdu: str
    tpdu_length: int


@dataclass(frozen=True)
class Concat:
    """The concatenation header of one part."""

    reference: int
    total: int
    seq: int


@dataclass(frozen=True)
class SubmitPdu:
    """A decoded SMS-SUBMIT (what the simulator received)."""

    number: str
    encoding: Encoding
    text: str
    concat: Concat | None = None
    message_ref: int = 0
    validity: int | None = None


def gsm7_septets(text: str) -> list[int] | None:
    """The default-alphabet septets of `text`, or None when it does not fit."""
    out: list[int] = []
    for ch in text:
        if ch in _GSM7_INDEX:
            out.append(_GSM7_INDEX[ch])
        elif ch in GSM7_EXTENSION:
            out += [_ESC, GSM7_EXTENSION[ch]]
        else:
            return None
    return out


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack 7-bit values LSB first (TS 23.038 6.1.2.1.1), after `fill_bits` zero bits."""
    acc, nbits = 0, fill_bits
    for septet in septets:
        acc |= (septet & 0x7F) << nbits
        nbits += 7
    return acc.to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """The inverse of `pack_septets`: `count` septets after `fill_bits` bits."""
    acc = int.from_bytes(data, "little") >> fill_bits
    return [(acc >> (7 * i)) & 0x7F for i in range(count)]


def semi_octets(digits: str) -> bytes:
    """Digits as swapped nibbles, padded with F (TS 23.040 9.1.2.3)."""
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def encode_address(number: str) -> bytes:
    """TP-DA: digit count, type of address, semi-octets. '+' makes it international."""
    cleaned = number.strip().replace(" ", "").replace("-", "")
    international = cleaned.startswith("+")
    digits = cleaned[1:] if international else cleaned
    if not digits or not digits.isascii() or not digits.isdigit():
        raise SmsError("phone number must be digits, optionally starting with '+'")
    if len(digits) > _MAX_ADDRESS_DIGITS:
        raise SmsError(f"phone number longer than {_MAX_ADDRESS_DIGITS} digits")
    toa = TOA_INTERNATIONAL if international else TOA_NATIONAL
    return bytes([len(digits), toa]) + semi_octets(digits)


def choose_encoding(text: str) -> Encoding:
    """GSM 7-bit when every character fits the default alphabet, else UCS2."""
    return Encoding.GSM7 if gsm7_septets(text) is not None else Encoding.UCS2


def _split_gsm7(text: str) -> list[list[int]]:
    septets = gsm7_septets(text)
    assert septets is not None
    if len(septets) <= GSM7_SINGLE:
        return [septets]
    parts: list[list[int]] = []
    current: list[int] = []
    for ch in text:
        code = gsm7_septets(ch) or []
        if len(current) + len(code) > GSM7_PART:  # never split an escape pair
            parts.append(current)
            current = []
        current += code
    parts.append(current)
    return parts


def _split_ucs2(text: str) -> list[bytes]:
    units = text.encode("utf-16-be")
    if len(units) <= UCS2_SINGLE * 2:
        return [units]
    parts: list[bytes] = []
    current = b""
    for ch in text:
        code = ch.encode("utf-16-be")
        if len(current) + len(code) > UCS2_PART * 2:  # never split a surrogate pair
            parts.append(current)
            current = b""
        current += code
    parts.append(current)
    return parts


def encode_submit(
    number: str, text: str, *, reference: int = 0, validity: int = DEFAULT_VALIDITY
) -> list[SmsPart]:
    """SMS-SUBMIT PDUs for `text` to `number`; several when it needs concatenation.

    `reference` (0-255) identifies the parts of one concatenated message at the
    recipient; use a different one for each long message.
    """
    if not text:
        raise SmsError("message text is empty")
    if not 0 <= reference <= 0xFF or not 0 <= validity <= 0xFF:
        raise SmsError("reference and validity must be 0-255")
    address = encode_address(number)
    encoding = choose_encoding(text)
    bodies: list[tuple[bytes, int, int]] = []  # (user data after UDH, UDL of body, fill bits)
    if encoding is Encoding.GSM7:
        chunks7 = _split_gsm7(text)
        fill = 1 if len(chunks7) > 1 else 0  # 6-octet UDH = 48 bits; pad to 49 = 7 septets
        bodies = [(pack_septets(c, fill), len(c), fill) for c in chunks7]
    else:
        bodies = [(c, len(c), 0) for c in _split_ucs2(text)]
    total = len(bodies)
    if total > MAX_PARTS:
        raise SmsError(f"message needs {total} parts; at most {MAX_PARTS} are possible")
    parts: list[SmsPart] = []
    for seq, (body, body_len, fill) in enumerate(bodies, start=1):
        first = _MTI_SUBMIT | _VPF_RELATIVE
        udh = b""
        if total > 1:
            first |= _UDHI
            udh = bytes([_CONCAT_UDH_LEN - 1, 0x00, 0x03, reference, total, seq])
        if encoding is Encoding.GSM7:
            udl = (len(udh) * 8 + fill) // 7 + body_len
            dcs = DCS_GSM7
        else:
            udl = len(udh) + body_len
            dcs = DCS_UCS2
        tpdu = (
            bytes([first, 0x00])  # TP-MR 0: the modem assigns the message reference
            + address
            + bytes([0x00, dcs, validity, udl])  # TP-PID 0: plain SMS
            + udh
            + body
        )
        # The leading 00: no SMSC address, the modem uses the one stored on the SIM.
        parts.append(SmsPart(pdu="00" + tpdu.hex().upper(), tpdu_length=len(tpdu)))
    return parts


def _take(data: bytes, pos: int, n: int) -> bytes:
    if pos + n > len(data):
        raise DecodeError("PDU ends early")
    return data[pos : pos + n]


def _decode_digits(raw: bytes, count: int) -> str:
    swapped = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in raw)[:count]
    if not swapped.isdigit():
        raise DecodeError("address holds non-digits")
    return swapped


def decode_submit(pdu_hex: str) -> SubmitPdu:
    """Parse an SMS-SUBMIT PDU (with its SMSC field) as built by `encode_submit`."""
    try:
        data = bytes.fromhex(pdu_hex)
    except ValueError as exc:
        raise DecodeError("PDU is not hex") from exc
    pos = 0
    smsc_len = _take(data, pos, 1)[0]
    pos += 1 + smsc_len
    first = _take(data, pos, 1)[0]
    if first & 0x03 != _MTI_SUBMIT:
        raise DecodeError("not an SMS-SUBMIT")
    mr = _take(data, pos + 1, 1)[0]
    pos += 2
    ndigits, toa = _take(data, pos, 2)
    pos += 2
    number = _decode_digits(_take(data, pos, (ndigits + 1) // 2), ndigits)
    pos += (ndigits + 1) // 2
    if toa == TOA_INTERNATIONAL:
        number = "+" + number
    _pid, dcs = _take(data, pos, 2)
    pos += 2
    vpf = first & 0x18
    validity: int | None = None
    if vpf == _VPF_RELATIVE:
        validity = _take(data, pos, 1)[0]
        pos += 1
    elif vpf:
        pos += 7  # enhanced or absolute format: 7 octets we do not interpret
    udl = _take(data, pos, 1)[0]
    pos += 1
    ud = data[pos:]
    concat: Concat | None = None
    udh_len = 0
    if first & _UDHI:
        udhl = _take(ud, 0, 1)[0]
        header = _take(ud, 1, udhl)
        udh_len = udhl + 1
        i = 0
        while i + 2 <= len(header):
            iei, iel = header[i], header[i + 1]
            value = header[i + 2 : i + 2 + iel]
            if iei == 0x00 and len(value) == 3:
                concat = Concat(reference=value[0], total=value[1], seq=value[2])
            i += 2 + iel
    alphabet = _alphabet(dcs)
    if alphabet is Encoding.UCS2:
        body = ud[udh_len:udl]
        if len(ud) < udl or len(body) % 2:
            raise DecodeError("UCS2 user data has an odd or short length")
        try:
            text = body.decode("utf-16-be")
        except UnicodeDecodeError as exc:
            raise DecodeError("UCS2 user data is not valid UTF-16") from exc
        encoding = Encoding.UCS2
    elif alphabet is Encoding.GSM7:
        header_septets = (udh_len * 8 + 6) // 7
        fill = header_septets * 7 - udh_len * 8
        count = udl - header_septets
        if count < 0 or len(ud) < (udl * 7 + 7) // 8:
            raise DecodeError("7-bit user data is shorter than its length")
        septets = unpack_septets(ud[udh_len:], count, fill)
        text = _septets_to_text(septets)
        encoding = Encoding.GSM7
    else:
        raise DecodeError(f"data coding scheme 0x{dcs:02X} not supported")
    return SubmitPdu(number, encoding, text, concat, mr, validity)


def _alphabet(dcs: int) -> Encoding | None:
    """The alphabet of a data coding scheme (TS 23.038 4); None for 8-bit or compressed."""
    if dcs & 0xC0 == 0x00 and not dcs & 0x20:  # general data coding, uncompressed
        return {0: Encoding.GSM7, 2: Encoding.UCS2}.get((dcs >> 2) & 0x03)
    if dcs & 0xF0 == 0xF0:  # data coding / message class
        return None if dcs & 0x04 else Encoding.GSM7
    return None


def _septets_to_text(septets: list[int]) -> str:
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(_GSM7_EXT_REVERSE.get(s, " "))
            escaped = False
        elif s == _ESC:
            escaped = True
        else:
            out.append(GSM7_BASIC[s])
    return "".join(out)


def mask_number(number: str) -> str:
    """A phone number safe for logs: only the last four digits are kept."""
    keep = 4
    head = "+" if number.startswith("+") else ""
    digits = number[len(head) :]
    if len(digits) <= keep:
        return head + "*" * len(digits)
    return head + "*" * (len(digits) - keep) + digits[-keep:]

"""SMS PDUs: what a relative's phone receives when the hub texts them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.sos.sms import (
    Concat,
    Encoding,
    SmsError,
    SmsPart,
    SubmitPdu,
    decode_submit,
    encode_address,
    encode_submit,
    mask_number,
)

# The worked example of the GSM 03.40 SMS-SUBMIT (dreamfabric.com "SMS PDU"): "hellohello"
# to +46708251358, relative validity 0xAA, 7-bit.
DREAMFABRIC_HELLOHELLO = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# The classic "hello" example (copied on 9cbs.com "SMS PDU mode, data format and length
# calculation"): national number 1234657, relative validity 0xAA, 7-bit.
HELLO_NATIONAL = "0011000781214356F70000AA05E8329BFD06"
# Huawei MU509 AT command manual, 6.12.4: "华为" to 13901000453, UCS2 with a message
# class (DCS 0x18), no validity period, TP-RP set (first octet 0x81).
HUAWEI_HUAWEI = "0081000B813109010054F3001804534E4E3A"
# Built by hand from TS 23.040 / 23.038: "你好" (U+4F60 U+597D) to 13800138000 (national),
# validity 0xA7 (24 h), DCS 0x08 (UCS2), UDL 4 octets.
NI_HAO_NATIONAL = "0011000B813108108300F00008A7044F60597D"


def test_the_published_7bit_example_is_reproduced_octet_for_octet() -> None:
    assert encode_submit("+46708251358", "hellohello", validity=0xAA) == [
        SmsPart(DREAMFABRIC_HELLOHELLO, 23)
    ]
    assert decode_submit(DREAMFABRIC_HELLOHELLO) == SubmitPdu(
        number="+46708251358", encoding=Encoding.GSM7, text="hellohello", validity=0xAA
    )


def test_other_published_examples_encode_and_decode_as_printed() -> None:
    assert encode_submit("1234657", "hello", validity=0xAA) == [SmsPart(HELLO_NATIONAL, 17)]
    assert decode_submit(HUAWEI_HUAWEI) == SubmitPdu(
        number="13901000453", encoding=Encoding.UCS2, text="华为"
    )


def test_chinese_text_goes_as_ucs2_with_the_national_number_format() -> None:
    assert encode_submit("13800138000", "你好") == [SmsPart(NI_HAO_NATIONAL, 18)]
    assert decode_submit(NI_HAO_NATIONAL) == SubmitPdu(
        number="13800138000", encoding=Encoding.UCS2, text="你好", validity=0xA7
    )


def test_international_numbers_use_type_91_and_swapped_digits() -> None:
    assert encode_address("+86 138-0013-8000").hex().upper() == "0D91683108108300F0"
    assert encode_address("10086").hex().upper() == "05810180F6"


def test_a_long_chinese_message_is_split_in_67_character_parts_with_a_concat_header() -> None:
    text = "紧急求助" * 25  # 100 characters: more than the 70 of a single UCS2 message
    parts = encode_submit("+8613800138000", text, reference=0x2A)
    assert len(parts) == 2
    first = bytes.fromhex(parts[0].pdu)
    assert first[1] == 0x51  # SMS-SUBMIT, relative validity, UDHI
    udl_at = 1 + 2 + 2 + 7 + 3
    assert first[udl_at] == 6 + 67 * 2  # UDL counts the header octets too
    assert first[udl_at + 1 : udl_at + 7].hex() == "0500032a0201"
    assert parts[0].tpdu_length == len(first) - 1
    decoded = [decode_submit(p.pdu) for p in parts]
    assert [d.concat for d in decoded] == [Concat(0x2A, 2, 1), Concat(0x2A, 2, 2)]
    assert [len(d.text) for d in decoded] == [67, 33]
    assert "".join(d.text for d in decoded) == text


def test_a_long_latin_message_is_split_in_153_septet_parts_after_one_fill_bit() -> None:
    parts = encode_submit("+8613800138000", "a" * 200, reference=1)
    assert len(parts) == 2
    raw = bytes.fromhex(parts[0].pdu)
    udl_at = 1 + 2 + 2 + 7 + 3
    assert raw[udl_at] == 7 + 153  # 6-octet header + 1 fill bit = 7 septets
    assert raw[udl_at + 7] == 0xC2  # 'a' (0x61) shifted past the fill bit
    assert [decode_submit(p.pdu).text for p in parts] == ["a" * 153, "a" * 47]


def test_an_escape_pair_or_a_surrogate_pair_is_never_cut_between_parts() -> None:
    euro = encode_submit("10086", "a" * 152 + "€" + "b" * 10)  # € is ESC + 0x65: 2 septets
    assert [decode_submit(p.pdu).text for p in euro] == ["a" * 152, "€" + "b" * 10]
    emoji = encode_submit("10086", "好" * 66 + "😀" + "好" * 4)
    assert [decode_submit(p.pdu).text for p in emoji] == ["好" * 66, "😀" + "好" * 4]


@pytest.mark.parametrize(
    ("number", "text"),
    [("", "hi"), ("+86abc", "hi"), ("1" * 21, "hi"), ("10086", ""), ("++86", "hi")],
)
def test_unusable_numbers_and_empty_text_are_refused_clearly(number: str, text: str) -> None:
    with pytest.raises(SmsError):
        encode_submit(number, text)


def test_phone_numbers_are_masked_for_the_log() -> None:
    assert mask_number("+8613800138000") == "+*********8000"
    assert mask_number("10086") == "*0086"
    assert mask_number("112") == "***"


@given(st.text(min_size=1, max_size=400), st.integers(0, 255))
def test_any_text_comes_back_unchanged_from_its_parts(text: str, ref: int) -> None:
    parts = encode_submit("+8613800138000", text, reference=ref)
    decoded = [decode_submit(p.pdu) for p in parts]
    assert "".join(d.text for d in decoded) == text
    assert all(len(bytes.fromhex(p.pdu)) - 1 == p.tpdu_length for p in parts)
    assert all(p.tpdu_length <= 140 + 12 + 11 for p in parts)


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_pdu_or_a_clean_error(data: bytes) -> None:
    try:
        result = decode_submit(data.hex())
    except DecodeError:
        return
    assert isinstance(result, SubmitPdu)

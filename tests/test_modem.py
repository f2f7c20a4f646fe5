"""The cellular modem: texts and calls reach the family, the centre's call-back is answered,
and every way a modem can misbehave ends in a clear error, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.sim.modem import Dial, ReceivedSms, SimulatedModem
from hub.sos.at import (
    CallOutcome,
    CallResult,
    IncomingCall,
    Line,
    LineFramer,
    LineKind,
    ModemStatus,
    Prompt,
    SignalQuality,
    parse_line,
    same_number,
)
from hub.sos.modem import Modem, ModemError, NetworkError, SimError
from hub.sos.sms import Concat, Encoding, SubmitPdu, decode_submit
from tests.helpers import eventually

CENTRE = "+862087654321"  # the call centre's outgoing line, as configured
DAUGHTER = "13800138000"
SON = "13900139000"

# The alert a daughter gets, and its PDU built by hand from TS 23.040 (UCS2, national
# number 13800138000, validity 24 h): 0x11 first octet, MR 0, DA, PID 0, DCS 08, VP A7,
# UDL 0x10 = 8 characters x 2 octets.
ALERT = "平安通紧急求助！"
ALERT_PDU = "0011000B813108108300F00008A710" + "".join(f"{ord(c):04X}" for c in ALERT)
# A modem's boot chatter and a dialogue, as recorded byte for byte (SIM7600, echo on).
RECORDED_STREAM = (
    b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n"
    b"AT+CSQ\r\r\n+CSQ: 18,99\r\n\r\nOK\r\n"
    b'\r\nRING\r\n\r\n+CLIP: "02087654321",129,"",,"",0\r\n'
    b"AT+CMGS=18\r\r\n> "
)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedModem]:
    """A SIM7600-like modem on a pty, SIM inserted and registered."""
    modem = SimulatedModem()
    modem.start()
    yield modem
    modem.close()


@pytest.fixture
async def modem(sim: SimulatedModem) -> AsyncIterator[Modem]:
    """The hub's driver on the simulator's port, initialised."""
    driver = Modem(sim.port, centre_numbers=[CENTRE], call_poll_s=0.05)
    await driver.open()
    await driver.initialise()
    yield driver
    await driver.close()


async def opened(sim: SimulatedModem) -> Modem:
    driver = Modem(sim.port, centre_numbers=[CENTRE], call_poll_s=0.05)
    await driver.open()
    return driver


# -- start-up -------------------------------------------------------------------------


async def test_start_up_turns_echo_off_and_reports_sim_network_and_signal(
    sim: SimulatedModem,
) -> None:
    driver = await opened(sim)
    try:
        status = await driver.initialise()
    finally:
        await driver.close()
    assert status == ModemStatus(
        sim="READY",
        registered=True,
        registration="registered, home network",
        signal=SignalQuality(rssi_dbm=-73, ber=None, raw_rssi=20),
    )
    assert sim.commands[:3] == ["ATE0", "AT+CMEE=2", "AT+CPIN?"]
    assert "AT+CMGF=0" in sim.commands and "AT+CLIP=1" in sim.commands
    assert not sim.echo


async def test_a_hub_without_a_sim_card_says_so(sim: SimulatedModem) -> None:
    sim.sim_inserted = False
    driver = await opened(sim)
    try:
        with pytest.raises(SimError, match="SIM not inserted"):
            await driver.initialise()
    finally:
        await driver.close()


async def test_a_hub_out_of_coverage_says_it_is_not_registered(sim: SimulatedModem) -> None:
    sim.registered = False
    driver = await opened(sim)
    try:
        with pytest.raises(NetworkError, match=r"not registered.*not searching"):
            await driver.initialise()
    finally:
        await driver.close()


async def test_the_installer_sees_signal_strength_in_dbm(sim: SimulatedModem, modem: Modem) -> None:
    sim.rssi, sim.ber = 31, 0
    assert await modem.signal_quality() == SignalQuality(-51, 0, 31)
    sim.rssi, sim.ber = 99, 99
    weak = await modem.signal_quality()
    assert weak == SignalQuality(None, None, 99)
    assert weak.bars == 0


# -- SMS --------------------------------------------------------------------------------


async def test_a_chinese_alert_reaches_the_daughter_as_exact_ucs2(
    sim: SimulatedModem, modem: Modem
) -> None:
    refs = await modem.send_sms(DAUGHTER, ALERT)
    assert refs == [1]
    assert sim.sms == [ReceivedSms(length=30, pdu=ALERT_PDU, accepted=True)]
    assert decode_submit(sim.sms[0].pdu) == SubmitPdu(
        number=DAUGHTER, encoding=Encoding.UCS2, text=ALERT, validity=0xA7
    )


async def test_a_long_alert_arrives_in_parts_the_phone_joins_again(
    sim: SimulatedModem, modem: Modem
) -> None:
    text = "平安通：王阿姨（卧室）按下了紧急求助按钮，中心暂时无法接通。" * 4
    refs = await modem.send_sms("+86" + DAUGHTER, text, reference=9)
    assert refs == [1, 2]
    decoded = [decode_submit(s.pdu) for s in sim.sms]
    assert [d.concat for d in decoded] == [Concat(9, 2, 1), Concat(9, 2, 2)]
    assert all(d.number == "+8613800138000" for d in decoded)
    assert "".join(d.text for d in decoded) == text


async def test_a_refused_sms_is_a_clear_error_and_the_modem_stays_usable(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.sms_error = 500
    with pytest.raises(ModemError, match=r"part 1/1 failed.*\+CMS ERROR 500") as caught:
        await modem.send_sms(DAUGHTER, ALERT)
    assert DAUGHTER not in str(caught.value)  # phone numbers never appear in full
    sim.sms_error = None
    assert await modem.send_sms(DAUGHTER, ALERT) == [1]


async def test_a_number_that_cannot_be_texted_is_refused_before_the_modem(
    sim: SimulatedModem, modem: Modem
) -> None:
    with pytest.raises(ModemError, match="cannot be encoded"):
        await modem.send_sms("138-boom", ALERT)
    assert not any(c.startswith("AT+CMGS") for c in sim.commands)


# -- unsolicited codes arrive at any time --------------------------------------------


async def test_urcs_between_a_command_and_its_answer_are_not_mistaken_for_it(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.urcs_before_answer = [
        "RING",
        '+CLIP: "13712345678",129,"",,"",0',
        '+CMTI: "SM",3',
        "+CREG: 2",
        "NO CARRIER",
    ]
    assert await modem.signal_quality() == SignalQuality(-73, None, 20)
    assert [u.prefix for u in modem.urc_log] == ["RING", "+CLIP", "+CMTI", "+CREG", "NO CARRIER"]


async def test_urcs_between_the_sms_prompt_and_its_answer_do_not_break_the_send(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.urcs_before_answer = ['+CMTI: "SM",4', "+CREG: 1"]
    assert await modem.send_sms(DAUGHTER, ALERT) == [1]
    assert sim.sms[0].pdu == ALERT_PDU


async def test_a_slow_modem_is_waited_for_and_a_text_arriving_meanwhile_is_a_urc(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.slow = {"AT+CSQ": 0.3}
    pending = asyncio.create_task(modem.signal_quality())
    await eventually(lambda: sim.commands[-1] == "AT+CSQ")
    sim.urc('+CMTI: "SM",7')
    assert await pending == SignalQuality(-73, None, 20)
    assert modem.urc_log[-1] == Line(LineKind.URC, '+CMTI: "SM",7', "+CMTI", ("SM", "7"))


async def test_a_modem_that_never_answers_times_out_with_a_clear_error(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.silent = {"AT+CSQ"}
    with pytest.raises(ModemError, match=r"AT\+CSQ: no answer from the modem within 0\.2 s"):
        await modem.command("AT+CSQ", timeout_s=0.2)
    sim.silent = set()
    assert (await modem.signal_quality()).raw_rssi == 20


async def test_a_late_answer_after_a_timeout_is_not_taken_for_the_next_command(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.slow = {"AT+CLCC": 0.4}
    with pytest.raises(ModemError, match="no answer"):
        await modem.command("AT+CLCC", timeout_s=0.2)
    sim.slow = {"AT+CSQ": 0.3}  # its OK would come after the late one
    sim.rssi = 25
    assert await modem.signal_quality() == SignalQuality(-63, None, 25)


async def test_a_modem_that_never_prompts_for_the_sms_is_a_clear_error(
    sim: SimulatedModem,
) -> None:
    driver = Modem(sim.port, prompt_timeout_s=0.2)
    await driver.open()
    try:
        await driver.initialise()
        sim.silent = {"AT+CMGS"}
        with pytest.raises(ModemError, match=r"no '>' prompt within 0\.2 s"):
            await driver.send_sms(DAUGHTER, ALERT)
        sim.silent = set()
        assert await driver.send_sms(DAUGHTER, ALERT) == [1]
    finally:
        await driver.close()


async def test_an_unplugged_modem_fails_commands_cleanly(sim: SimulatedModem) -> None:
    driver = await opened(sim)
    try:
        await driver.command("AT")
        sim.close()
        await eventually(lambda: not driver.is_open)
        with pytest.raises(ModemError, match="AT: modem port is not open"):
            await driver.command("AT", timeout_s=1.0)
    finally:
        await driver.close()


# -- calls --------------------------------------------------------------------------------


async def test_a_relative_who_picks_up_is_reported_answered(
    sim: SimulatedModem, modem: Modem
) -> None:
    assert await modem.dial(DAUGHTER, ring_timeout=5) == CallResult(CallOutcome.ANSWERED)
    assert f"ATD{DAUGHTER};" in sim.commands
    await modem.hang_up()
    assert sim.commands[-1] == "AT+CHUP"


async def test_a_busy_line_is_reported_busy(sim: SimulatedModem, modem: Modem) -> None:
    sim.dial[DAUGHTER] = Dial.BUSY
    result = await modem.dial(DAUGHTER, ring_timeout=5)
    assert result == CallResult(CallOutcome.BUSY, "*******8000 is busy")


async def test_a_phone_nobody_picks_up_is_hung_up_after_the_ring_timeout(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.dial[DAUGHTER] = Dial.NO_ANSWER
    result = await modem.dial(DAUGHTER, ring_timeout=0.3)
    assert result == CallResult(CallOutcome.NO_ANSWER, "*******8000 did not answer within 0.3 s")
    assert sim.commands[-1] == "AT+CHUP"


async def test_a_rejected_call_counts_as_not_answered(sim: SimulatedModem, modem: Modem) -> None:
    sim.dial[DAUGHTER] = Dial.REJECT
    result = await modem.dial(DAUGHTER, ring_timeout=5)
    assert result.outcome is CallOutcome.NO_ANSWER


async def test_old_firmware_without_chup_is_hung_up_with_ath(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.no_chup = True
    sim.dial[DAUGHTER] = Dial.NO_ANSWER
    assert (await modem.dial(DAUGHTER, ring_timeout=0.2)).outcome is CallOutcome.NO_ANSWER
    assert sim.commands[-2:] == ["AT+CHUP", "ATH"]


async def test_dialling_without_network_fails_cleanly(sim: SimulatedModem, modem: Modem) -> None:
    sim.registered = False
    result = await modem.dial(DAUGHTER, ring_timeout=1)
    assert result.outcome is CallOutcome.NO_ANSWER
    sim.sim_inserted = False
    result = await modem.dial(DAUGHTER, ring_timeout=1)
    assert result == CallResult(
        CallOutcome.FAILED, "call to *******8000 failed: ATD: SIM problem: SIM not inserted"
    )


async def test_the_centre_calling_back_is_answered_hands_free(
    sim: SimulatedModem, modem: Modem
) -> None:
    calls = modem.incoming_calls()
    sim.incoming_call("8602087654321", toa=145)  # the centre, international format
    assert await asyncio.wait_for(anext(calls), 5) == IncomingCall("*********4321", True)
    assert sim.commands[-1] == "ATA"
    assert sim.answered_incoming == ["8602087654321"]


async def test_an_unknown_caller_is_not_answered(sim: SimulatedModem, modem: Modem) -> None:
    calls = modem.incoming_calls()
    sim.incoming_call("17000000000")
    assert await asyncio.wait_for(anext(calls), 5) == IncomingCall("*******0000", False)
    assert "ATA" not in sim.commands
    assert sim.answered_incoming == []


@pytest.mark.parametrize(
    ("configured", "reported", "international", "same"),
    [
        ("+862087654321", "02087654321", False, True),
        ("+862087654321", "862087654321", True, True),
        ("13800138000", "+8613800138000", False, True),
        ("13800138000", "8613800138000", False, True),
        ("13800138000", "13800138001", False, False),
        ("+852 2345 6789", "23456789", False, False),
        ("", "", False, False),
    ],
)
def test_centre_numbers_match_whatever_format_the_network_reports(
    configured: str, reported: str, international: bool, same: bool
) -> None:
    assert same_number(configured, reported, b_international=international) is same


# -- the wire ---------------------------------------------------------------------------


def test_a_recorded_stream_frames_the_same_fed_whole_or_one_byte_at_a_time() -> None:
    expected: list[bytes | Prompt] = [
        b"RDY",
        b"+CPIN: READY",
        b"SMS DONE",
        b"AT+CSQ",
        b"+CSQ: 18,99",
        b"OK",
        b"RING",
        b'+CLIP: "02087654321",129,"",,"",0',
        b"AT+CMGS=18",
        Prompt(),
    ]
    assert LineFramer().feed(RECORDED_STREAM) == expected
    framer = LineFramer()
    assert [
        item
        for i in range(len(RECORDED_STREAM))
        for item in framer.feed(RECORDED_STREAM[i : i + 1])
    ] == expected


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b"OK", Line(LineKind.OK, "OK", "OK")),
        (
            b"+CME ERROR: SIM not inserted",
            Line(
                LineKind.ERROR, "+CME ERROR: SIM not inserted", "+CME ERROR", ("SIM not inserted",)
            ),
        ),
        (b"+CMS ERROR: 500", Line(LineKind.ERROR, "+CMS ERROR: 500", "+CMS ERROR", ("500",))),
        (b"NO CARRIER", Line(LineKind.CALL_END, "NO CARRIER", "NO CARRIER")),
        (
            b'+CLIP: "13800138000",129,"",,"",0',
            Line(
                LineKind.URC,
                '+CLIP: "13800138000",129,"",,"",0',
                "+CLIP",
                ("13800138000", "129", "", "", "", "0"),
            ),
        ),
        (b"+CSQ: 20,99", Line(LineKind.INFO, "+CSQ: 20,99", "+CSQ", ("20", "99"))),
        (b"VOICE CALL: BEGIN", Line(LineKind.URC, "VOICE CALL: BEGIN", "VOICE CALL", ("BEGIN",))),
        (b"SIMCOM_SIM7600G-H", Line(LineKind.INFO, "SIMCOM_SIM7600G-H")),
    ],
)
def test_each_kind_of_line_is_recognised(raw: bytes, line: Line) -> None:
    assert parse_line(raw) == line


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'+CLIP: "138', b"OK\x00", b"A" * 2000])
def test_garbage_lines_are_a_clean_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_line(raw)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_parsed_line_or_a_clean_error(data: bytes) -> None:
    for item in LineFramer().feed(data):
        if isinstance(item, Prompt):
            continue
        try:
            line = parse_line(item)
        except DecodeError:
            continue
        assert isinstance(line.kind, LineKind)


async def test_garbage_from_the_modem_is_counted_and_skipped(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.send(b"\r\n\xff\xfe line noise\r\n")
    assert (await modem.signal_quality()).raw_rssi == 20
    assert modem.garbage == 1

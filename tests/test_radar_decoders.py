"""Radar frames decoded whole: HiLink LD2410 reports and ACKs, Seeed MR60FDA1 reports.

Every vector is written out byte by byte from the module's protocol document (see the
docstrings of hub/sensors/ld2410.py and hub/sensors/mr60fda1.py), with the MR60FDA1's
checksum worked out by hand in the comment beside it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.sensors import ld2410, mr60fda1
from hub.sensors.frames import Framer
from hub.sensors.ld2410 import Ack, Parameters, Report, Target
from hub.sensors.mr60fda1 import Topic
from tests.fuzzing import examples

# -- LD2410 -----------------------------------------------------------------------------

# Basic report: moving and still target; moving 120 cm at 60 %, still 150 cm at 30 %,
# detection distance 150 cm.
LD2410_BASIC_MOVING = bytes.fromhex(
    "F4F3F2F1 0D00 02 AA 03 7800 3C 9600 1E 9600 55 00 F8F7F6F5".replace(" ", "")
)
# Basic report: nobody.
LD2410_BASIC_EMPTY = bytes.fromhex(
    "F4F3F2F1 0D00 02 AA 00 0000 00 0000 00 0000 55 00 F8F7F6F5".replace(" ", "")
)
# Engineering report of an LD2410B: someone lying still at 90 cm (gate 1) with 55 %,
# gates 0-8 both ways, light 0x70, OUT high.
LD2410_ENGINEERING_STILL = bytes.fromhex(
    (
        "F4F3F2F1 2300 01 AA 02 0000 00 5A00 37 5A00"
        " 08 08"
        " 0A 05 03 02 01 01 00 00 00"  # moving energy per gate
        " 14 37 0C 06 04 02 01 00 00"  # still energy per gate
        " 70 01"  # light sensor, OUT pin
        " 55 00 F8F7F6F5"
    ).replace(" ", "")
)
# The same without the B/C's two extra bytes (an LD2410 on firmware 1.x).
LD2410_ENGINEERING_PLAIN = bytes.fromhex(
    (
        "F4F3F2F1 2100 01 AA 02 0000 00 5A00 37 5A00 08 08"
        " 0A 05 03 02 01 01 00 00 00 14 37 0C 06 04 02 01 00 00 55 00 F8F7F6F5"
    ).replace(" ", "")
)
# ACK of "enable configuration": command 0x01FF, status 0, protocol 0x0001, buffer 0x0040.
LD2410_ACK_CONFIG = bytes.fromhex("FDFCFBFA 0800 FF01 0000 0100 4000 04030201".replace(" ", ""))
# ACK of a failed gate-sensitivity command: 0x0164, status 1.
LD2410_ACK_FAILED = bytes.fromhex("FDFCFBFA 0400 6401 0100 04030201".replace(" ", ""))
# Reply to "read parameters": max gate 8, moving 8, still 8, thresholds, no-one 5 s.
LD2410_PARAMETERS = bytes.fromhex(
    (
        "FDFCFBFA 1C00 6101 0000 AA 08 08 08"
        " 32 32 28 1E 14 0F 0F 0F 0F"
        " 00 00 28 28 28 28 0F 0F 0F"
        " 0500 04030201"
    ).replace(" ", "")
)


def test_an_ld2410_basic_report_says_someone_moving_with_distances_and_energies() -> None:
    assert ld2410.decode(LD2410_BASIC_MOVING) == Report(
        target=Target.MOVING_AND_STILL,
        moving_cm=120,
        moving_energy=60,
        still_cm=150,
        still_energy=30,
        detection_cm=150,
    )


def test_an_ld2410_basic_report_of_an_empty_room() -> None:
    report = ld2410.decode(LD2410_BASIC_EMPTY)
    assert report == Report(Target.NONE, 0, 0, 0, 0, 0)
    assert isinstance(report, Report) and not report.presence and not report.moving


def test_an_ld2410b_engineering_report_carries_every_gate_the_light_and_the_out_pin() -> None:
    assert ld2410.decode(LD2410_ENGINEERING_STILL) == Report(
        target=Target.STILL,
        moving_cm=0,
        moving_energy=0,
        still_cm=90,
        still_energy=55,
        detection_cm=90,
        engineering=True,
        moving_gates=(10, 5, 3, 2, 1, 1, 0, 0, 0),
        still_gates=(20, 55, 12, 6, 4, 2, 1, 0, 0),
        light=0x70,
        out_pin=True,
    )


def test_an_older_ld2410_engineering_report_without_the_extra_bytes() -> None:
    assert ld2410.decode(LD2410_ENGINEERING_PLAIN) == Report(
        Target.STILL,
        0,
        0,
        90,
        55,
        90,
        True,
        (10, 5, 3, 2, 1, 1, 0, 0, 0),
        (20, 55, 12, 6, 4, 2, 1, 0, 0),
    )


def test_ld2410_acks_and_the_parameter_reply() -> None:
    assert ld2410.decode(LD2410_ACK_CONFIG) == Ack(command=0x00FF, ok=True)
    assert ld2410.decode(LD2410_ACK_FAILED) == Ack(command=0x0064, ok=False)
    assert ld2410.decode(LD2410_PARAMETERS) == Ack(
        command=0x0061,
        ok=True,
        parameters=Parameters(
            max_gate=8,
            max_moving_gate=8,
            max_still_gate=8,
            moving_thresholds=(50, 50, 40, 30, 20, 15, 15, 15, 15),
            still_thresholds=(0, 0, 40, 40, 40, 40, 15, 15, 15),
            no_one_s=5,
        ),
    )


def test_the_commands_the_hub_sends_are_the_documented_frames() -> None:
    assert ld2410.engineering_on() == [
        bytes.fromhex("FDFCFBFA 0400 FF00 0100 04030201".replace(" ", "")),
        bytes.fromhex("FDFCFBFA 0200 6200 04030201".replace(" ", "")),
        bytes.fromhex("FDFCFBFA 0200 FE00 04030201".replace(" ", "")),
    ]
    assert ld2410.set_gate(3, 40, 35)[1] == bytes.fromhex(
        "FDFCFBFA 1400 6400 0000 03000000 0100 28000000 0200 23000000 04030201".replace(" ", "")
    )
    assert ld2410.set_range(6, 5, 10)[1] == bytes.fromhex(
        "FDFCFBFA 1400 6000 0000 06000000 0100 05000000 0200 0A000000 04030201".replace(" ", "")
    )
    with pytest.raises(ValueError, match="give 0-100"):
        ld2410.set_gate(3, 101, 0)
    with pytest.raises(ValueError, match="give 2-8"):
        ld2410.set_range(9, 5, 5)


@pytest.mark.parametrize(
    "frame",
    [
        LD2410_BASIC_MOVING[:-1],  # truncated: the footer is cut
        LD2410_BASIC_MOVING[:12],
        LD2410_BASIC_MOVING.replace(b"\x55\x00\xf8", b"\x55\x01\xf8"),  # the "check" byte
        LD2410_BASIC_MOVING.replace(b"\x02\xaa", b"\x02\xab"),  # the head marker
        LD2410_BASIC_MOVING.replace(b"\x3c", b"\xc8"),  # 200 % energy
        LD2410_BASIC_MOVING.replace(b"\xaa\x03", b"\xaa\x09"),  # no such target state
        LD2410_ENGINEERING_STILL.replace(b"\x08\x08", b"\x08\x07"),  # gate count vs length
        LD2410_BASIC_MOVING.replace(b"\x0d\x00", b"\x0e\x00"),  # length field
        LD2410_ACK_CONFIG.replace(b"\xff\x01", b"\xff\x00"),  # a command echoed, not an ACK
        b"",
    ],
    ids=[
        "no-footer",
        "cut",
        "check",
        "head",
        "energy",
        "state",
        "gates",
        "length",
        "echo",
        "empty",
    ],
)
def test_ld2410_frames_that_do_not_add_up_are_refused_cleanly(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        ld2410.decode(frame)


LD2410_NOISY = (
    b"\x00\xf4\xf3garbage"
    + LD2410_BASIC_MOVING[:15]  # a report cut by a module reset
    + b"\xf4\xf3\xf2\xf1\xff\xff"  # a header with an impossible length
    + LD2410_ACK_CONFIG
    + LD2410_BASIC_MOVING[:4]
    + LD2410_ENGINEERING_STILL  # after a stray header
    + LD2410_BASIC_EMPTY
)


def test_the_ld2410_framer_resynchronises_and_finds_the_same_frames_one_byte_at_a_time() -> None:
    whole = ld2410.framer().feed(LD2410_NOISY)
    framer = ld2410.framer()
    trickled = [f for i in range(len(LD2410_NOISY)) for f in framer.feed(LD2410_NOISY[i : i + 1])]
    assert trickled == whole == [LD2410_ACK_CONFIG, LD2410_ENGINEERING_STILL, LD2410_BASIC_EMPTY]
    assert framer.dropped > 0


@settings(max_examples=examples(2000), deadline=None)
@given(st.binary(max_size=80).map(lambda b: b"\xf4\xf3\xf2\xf1" + b) | st.binary(max_size=80))
def test_any_bytes_give_an_ld2410_frame_or_a_clean_decode_error(data: bytes) -> None:
    try:
        result = ld2410.decode(data)
    except DecodeError:
        return
    assert isinstance(result, Report | Ack)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from([LD2410_BASIC_MOVING, LD2410_ACK_CONFIG]) | st.binary(max_size=20)))
def test_the_ld2410_framer_never_loses_a_frame_that_follows_garbage(parts: list[bytes]) -> None:
    stream = b"".join(parts) + b"\x00" * 80 + LD2410_BASIC_EMPTY
    framer = ld2410.framer()
    frames = [f for i in range(0, len(stream), 3) for f in framer.feed(stream[i : i + 3])]
    assert frames[-1] == LD2410_BASIC_EMPTY


# -- MR60FDA1 ---------------------------------------------------------------------------

# Presence report, someone: 53+59+80+01+00+01+01 = 0x12F -> check 2F.
MR60_SOMEONE = bytes.fromhex("5359 80 01 0001 01 2F 5443".replace(" ", ""))
# Motion report, active: 53+59+80+02+00+01+02 = 0x131 -> 31.
MR60_ACTIVE = bytes.fromhex("5359 80 02 0001 02 31 5443".replace(" ", ""))
# Motion report, still: ... +01 = 0x130 -> 30.
MR60_STILL = bytes.fromhex("5359 80 02 0001 01 30 5443".replace(" ", ""))
# Body movement 35 (0x23): 53+59+80+03+00+01+23 = 0x153 -> 53.
MR60_BODY_35 = bytes.fromhex("5359 80 03 0001 23 53 5443".replace(" ", ""))
# Fall: 53+59+83+01+00+01+01 = 0x132 -> 32.
MR60_FALL = bytes.fromhex("5359 83 01 0001 01 32 5443".replace(" ", ""))
# No fall: 0x131 -> 31.
MR60_NO_FALL = bytes.fromhex("5359 83 01 0001 00 31 5443".replace(" ", ""))
# Stationary residency: 53+59+83+05+00+01+01 = 0x136 -> 36.
MR60_DWELL = bytes.fromhex("5359 83 05 0001 01 36 5443".replace(" ", ""))
# Reply to the presence query (command 0x81), nobody: 53+59+80+81+00+01+00 = 0x1AE -> AE.
MR60_QUERY_NOBODY = bytes.fromhex("5359 80 81 0001 00 AE 5443".replace(" ", ""))
# Heartbeat: 53+59+01+01+00+01+0F = 0xBE -> BE (Seeed's query, echoed by the module).
MR60_HEARTBEAT = bytes.fromhex("5359 01 01 0001 0F BE 5443".replace(" ", ""))
# Firmware version reply (02 A4) "G60FD1SYv010104": a frame the hub does not use.
MR60_VERSION = mr60fda1.frame(0x02, 0xA4, b"G60FD1SYv010104")


def test_mr60fda1_reports_decode_whole() -> None:
    assert mr60fda1.decode(MR60_SOMEONE) == Report_(Topic.PRESENCE, 1, 0x80, 0x01)
    assert mr60fda1.decode(MR60_ACTIVE) == Report_(Topic.MOTION, 2, 0x80, 0x02)
    assert mr60fda1.decode(MR60_STILL) == Report_(Topic.MOTION, 1, 0x80, 0x02)
    assert mr60fda1.decode(MR60_BODY_35) == Report_(Topic.BODY_MOVEMENT, 35, 0x80, 0x03)
    assert mr60fda1.decode(MR60_FALL) == Report_(Topic.FALL, 1, 0x83, 0x01)
    assert mr60fda1.decode(MR60_NO_FALL) == Report_(Topic.FALL, 0, 0x83, 0x01)
    assert mr60fda1.decode(MR60_DWELL) == Report_(Topic.DWELL, 1, 0x83, 0x05)
    assert mr60fda1.decode(MR60_QUERY_NOBODY) == Report_(Topic.PRESENCE, 0, 0x80, 0x81)
    assert mr60fda1.decode(MR60_HEARTBEAT) == Report_(Topic.HEARTBEAT, None, 0x01, 0x01)
    assert mr60fda1.decode(MR60_VERSION) == Report_(Topic.OTHER, None, 0x02, 0xA4)


Report_ = mr60fda1.Report


def test_the_frames_the_hub_sends_match_seeeds_published_examples() -> None:
    # The reset frame and the version query printed in Seeed's wiki, byte for byte.
    assert mr60fda1.frame(0x01, 0x02, b"\x0f") == bytes.fromhex("5359010200010FBF5443")
    assert mr60fda1.frame(0x02, 0xA4, b"\x0f") == bytes.fromhex("535902A400010F625443")
    assert mr60fda1.heartbeat_query() == MR60_HEARTBEAT
    assert mr60fda1.start_queries()[0] == bytes.fromhex("5359808100010FBD5443")


@pytest.mark.parametrize(
    "frame",
    [
        MR60_FALL[:-1],  # truncated
        MR60_FALL[:7],
        MR60_FALL.replace(b"\x32\x54", b"\x33\x54"),  # bad checksum
        bytes.fromhex("5359 80 02 0001 03 32 5443".replace(" ", "")),  # motion 3
        bytes.fromhex("5359 80 03 0001 65 95 5443".replace(" ", "")),  # body movement 101
        bytes.fromhex("5359 83 01 0002 0100 34 5443".replace(" ", "")),  # two bytes of fall
        MR60_FALL.replace(b"\x00\x01\x01", b"\x00\x02\x01"),  # length field
        b"",
    ],
    ids=["no-footer", "cut", "checksum", "motion", "movement", "long", "length", "empty"],
)
def test_mr60fda1_frames_that_do_not_add_up_are_refused_cleanly(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        mr60fda1.decode(frame)


MR60_NOISY = (
    b"\x53\x00\xffnoise\x53"
    + MR60_FALL[:5]  # cut
    + bytes.fromhex("5359 80 01 FFFF")  # impossible length
    + MR60_SOMEONE
    + b"\x54\x43\x53"
    + MR60_ACTIVE
    + MR60_FALL.replace(b"\x32\x54", b"\x33\x54")  # well framed, bad checksum
    + MR60_NO_FALL
)


def test_the_mr60fda1_framer_resynchronises_and_finds_the_same_frames_one_byte_at_a_time() -> None:
    whole = mr60fda1.framer().feed(MR60_NOISY)
    framer = mr60fda1.framer()
    trickled = [f for i in range(len(MR60_NOISY)) for f in framer.feed(MR60_NOISY[i : i + 1])]
    assert trickled == whole
    decoded = []
    for raw in whole:
        try:
            decoded.append(mr60fda1.decode(raw))
        except DecodeError:
            decoded.append(None)
    assert decoded == [
        Report_(Topic.PRESENCE, 1, 0x80, 0x01),
        Report_(Topic.MOTION, 2, 0x80, 0x02),
        None,  # the bad checksum is framed, then refused
        Report_(Topic.FALL, 0, 0x83, 0x01),
    ]


@settings(max_examples=examples(2000), deadline=None)
@given(st.binary(max_size=80).map(lambda b: b"\x53\x59" + b) | st.binary(max_size=80))
def test_any_bytes_give_an_mr60fda1_report_or_a_clean_decode_error(data: bytes) -> None:
    try:
        result = mr60fda1.decode(data)
    except DecodeError:
        return
    assert isinstance(result, mr60fda1.Report)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from([MR60_FALL, MR60_SOMEONE]) | st.binary(max_size=20)))
def test_the_mr60fda1_framer_never_loses_a_frame_that_follows_garbage(parts: list[bytes]) -> None:
    stream = b"".join(parts) + b"\x00" * 70 + MR60_NO_FALL
    framer = mr60fda1.framer()
    frames = [f for i in range(0, len(stream), 3) for f in framer.feed(stream[i : i + 3])]
    assert frames[-1] == MR60_NO_FALL


def test_a_corrupted_header_does_not_hold_back_the_frames_behind_it_once_the_line_is_quiet() -> (
    None
):
    # A header with a plausible length (32 bytes of data) swallowed the fall report: the
    # framer waits for 41 bytes; when the line goes quiet the source calls stale().
    framer = mr60fda1.framer()
    assert framer.feed(bytes.fromhex("5359 80 01 0020".replace(" ", "")) + MR60_FALL) == []
    assert framer.stale() == [MR60_FALL]
    ld = ld2410.framer()
    assert ld.feed(bytes.fromhex("F4F3F2F1 3000".replace(" ", "")) + LD2410_BASIC_EMPTY) == []
    assert ld.stale() == [LD2410_BASIC_EMPTY]
    assert ld.stale() == [] and framer.stale() == []


@pytest.mark.parametrize(
    ("make_framer", "frames", "header_bytes"),
    [
        (ld2410.framer, [LD2410_BASIC_MOVING, LD2410_ACK_CONFIG, LD2410_BASIC_EMPTY], b"\xf4\xfd"),
        (mr60fda1.framer, [MR60_FALL, MR60_SOMEONE, MR60_NO_FALL], b"\x53"),
    ],
)
@settings(max_examples=examples(300), deadline=None)
@given(data=st.data())
def test_every_radar_framer_returns_exactly_the_frames_sent_however_the_line_splits_them(
    make_framer: Callable[[], Framer], frames: list[bytes], header_bytes: bytes, data: st.DataObject
) -> None:
    # One framer serves every radar module (hub/sensors/frames.py): frames among garbage
    # that holds no header, cut anywhere, come out whole, in order, and only they do.
    garbage = st.binary(max_size=12).map(lambda b: bytes(x for x in b if x not in header_bytes))
    sent = data.draw(st.lists(st.sampled_from(frames), max_size=6))
    noise = [data.draw(garbage) for _ in range(len(sent) + 1)]
    stream = noise[0] + b"".join(f + g for f, g in zip(sent, noise[1:], strict=True))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = make_framer()
    got = [
        f
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)
        for f in framer.feed(stream[a:b])
    ]
    assert got + framer.stale() == sent
    assert framer.dropped == sum(map(len, noise))

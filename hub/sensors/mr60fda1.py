"""Seeed MR60FDA1 60 GHz fall-detection radar frames (pure: no serial, no asyncio).

The module is MicRadar's R60AFD1 sold by Seeed; the same frames come from either. Layout
from Seeed's "60GHz mmWave Sensor Fall Detection Module Pro - Universal Protocol" and
"MR60FDA1 user manual V1.3" as quoted in Seeed's wiki page Radar_MR60FDA1 (frame
format, checksum rule, the example frames) and Seeed's Arduino library
`60ghzfalldetection.h` (control and command words):

    53 59 | control (1) | command (1) | length (2, big-endian) | data | sum (1) | 54 43

    sum: the low byte of the sum of every byte before it, header included
         (e.g. the reset frame 53 59 01 02 00 01 0F BF 54 43).

What the hub reads (the module reports a change when it happens, and the body-movement
value once a second; a query's reply has the command word with 0x80 set):

    control 01 command 01        heartbeat
    control 80 command 01 / 81   presence: 00 nobody, 01 someone
    control 80 command 02 / 82   motion: 00 none, 01 still, 02 active
    control 80 command 03 / 83   body movement, 0-100
    control 83 command 01 / 81   fall: 00 no fall, 01 fall
    control 83 command 05 / 85   stationary residency (the module's own "still too long"):
                                 00 none, 01 residency

Any other well-formed frame (product information, settings replies) decodes to
`Topic.OTHER` and changes nothing. The module has no range output ("does not currently
support range, speed, or point clouds", Seeed's wiki).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

from hub.errors import DecodeError
from hub.sensors import frames
from hub.sensors.frames import FrameFormat

MODEL = "mr60fda1"
BAUDRATE = 115200
HEADER = b"\x53\x59"
FOOTER = b"\x54\x43"
# Replies carry at most a product string (about 15 bytes); a length above this is a
# corrupted header.
MAX_DATA = 32
QUERY = 0x0F  # the data byte of every query frame


class Topic(Enum):
    """What a frame is about."""

    HEARTBEAT = "heartbeat"
    PRESENCE = "presence"
    MOTION = "motion"
    BODY_MOVEMENT = "body_movement"
    FALL = "fall"
    DWELL = "dwell"
    OTHER = "other"


class Motion(Enum):
    """The motion report's values."""

    NONE = 0
    STILL = 1
    ACTIVE = 2


# (control, command without the query bit) -> topic and the largest value it may carry.
_TOPICS: dict[tuple[int, int], tuple[Topic, int]] = {
    (0x01, 0x01): (Topic.HEARTBEAT, 0xFF),
    (0x80, 0x01): (Topic.PRESENCE, 1),
    (0x80, 0x02): (Topic.MOTION, 2),
    (0x80, 0x03): (Topic.BODY_MOVEMENT, 100),
    (0x83, 0x01): (Topic.FALL, 1),
    (0x83, 0x05): (Topic.DWELL, 1),
}


@dataclass(frozen=True)
class Report:
    """One frame: its topic and value (None for heartbeats and other frames)."""

    topic: Topic
    value: int | None = None
    control: int = 0
    command: int = 0


def checksum(data: bytes) -> int:
    """The frame's check byte over `data` (header to the end of the data)."""
    return sum(data) & 0xFF


def frame(control: int, command: int, data: bytes) -> bytes:
    """A whole frame with its length and checksum."""
    body = HEADER + bytes((control, command)) + struct.pack(">H", len(data)) + data
    return body + bytes((checksum(body),)) + FOOTER


def decode(raw: bytes) -> Report:
    """One whole frame (53 59 ... 54 43) -> Report, or DecodeError."""
    if len(raw) < 9 or raw[:2] != HEADER or raw[-2:] != FOOTER:
        raise DecodeError("mr60fda1: not a frame (header, footer or length)")
    (length,) = struct.unpack_from(">H", raw, 4)
    if length != len(raw) - 9:
        raise DecodeError("mr60fda1: length field does not match the frame")
    if checksum(raw[:-3]) != raw[-3]:
        raise DecodeError("mr60fda1: bad checksum")
    control, command, data = raw[2], raw[3], raw[6:-3]
    known = _TOPICS.get((control, command & 0x7F))
    if known is None:
        return Report(Topic.OTHER, None, control, command)
    topic, top = known
    if topic is Topic.HEARTBEAT:
        return Report(topic, None, control, command)
    if len(data) != 1 or data[0] > top:
        raise DecodeError(f"mr60fda1: {topic.value} value out of range")
    return Report(topic, data[0], control, command)


def query(control: int, command: int) -> bytes:
    """A query frame (the reply comes back with the command's 0x80 bit set)."""
    return frame(control, command | 0x80 if control != 0x01 else command, bytes((QUERY,)))


def start_queries() -> list[bytes]:
    """Ask for every state the module otherwise reports only when it changes: right after
    the port opens, the hub knows at once whether someone is there, or has fallen."""
    return [query(0x80, 0x01), query(0x80, 0x02), query(0x83, 0x01), query(0x83, 0x05)]


def heartbeat_query() -> bytes:
    """The heartbeat query (53 59 01 01 00 01 0F BE 54 43): a live module answers it."""
    return query(0x01, 0x01)


# A frame: header (2), control (1), command (1), length (2, big-endian), data, checksum (1),
# footer (2).
FRAME_FORMAT = FrameFormat(
    footers={HEADER: FOOTER}, length_offset=4, length_format=">H", overhead=9, max_length=MAX_DATA
)


def framer() -> frames.Framer:
    """Bytes in, whole frames out (checksum not yet checked): hub/sensors/frames.py."""
    return frames.Framer(FRAME_FORMAT)

"""HiLink HLK-LD2410 (and LD2410B/C) 24 GHz presence radar frames (pure: no serial, no asyncio).

Layout from HiLink's "LD2410 Serial communication protocol" (V1.02, and V1.04 for the
B/C's extra bytes), checked against aio-ld2410 1.1.0 (`aio_ld2410/protocol/*.py`), the
best-kept Python library for it. All numbers are little-endian.

Report frame (module -> hub, about 10 a second):

    F4 F3 F2 F1 | length (2) | type (1) AA | target data | 55 00 | F8 F7 F6 F5

    type 0x02 basic, 0x01 engineering. Target data, basic part (9 bytes):
      target state (1): 0 none, 1 moving, 2 still, 3 moving and still
                        (4-6: background-noise calibration on firmware 2.44+)
      moving distance cm (2), moving energy % (1), still distance cm (2),
      still energy % (1), detection distance cm (2)
    engineering part: max moving gate N (1), max still gate M (1),
      moving energy per gate 0..N (N+1), still energy per gate 0..M (M+1),
      then on the B/C: light sensor 0-255 (1), OUT pin level (1)

Command / ACK frame (both directions):

    FD FC FB FA | length (2) | command word (2) | value | 04 03 02 01
    the ACK's command word is the command's | 0x0100, then a status (2): 0 success.

The report has no checksum: the "55 00" after the target data (HiLink calls the 00
"check") and the fixed header and footer are all a frame carries. A frame whose length,
markers or footer disagree is refused (`DecodeError`) and the framer resynchronises on
the next header, so a corrupted byte costs one frame (a tenth of a second), never more.

Why not aio-ld2410 itself: it owns the serial port (its own reader task, no reopening),
its stream parser waits for whatever length a corrupted header claims and logs a
warning per garbage burst, and it needs `construct` and `dacite` for a 45-byte frame.
The hub's serial machinery (`hub.sensors.radar_source`) does the port; this module only
turns bytes into frozen dataclasses and builds the few commands the hub sends.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from hub.errors import DecodeError
from hub.sensors import frames
from hub.sensors.frames import FrameFormat

MODEL = "ld2410"
# HiLink's default; the module can be set to 9600-460800 (command 0x00A1).
BAUDRATE = 256000
REPORT_HEADER = b"\xf4\xf3\xf2\xf1"
REPORT_FOOTER = b"\xf8\xf7\xf6\xf5"
COMMAND_HEADER = b"\xfd\xfc\xfb\xfa"
COMMAND_FOOTER = b"\x04\x03\x02\x01"
# The longest payload either direction carries is the parameter reply (28 bytes) and the
# engineering report (35); a length field above this is a corrupted header.
MAX_PAYLOAD = 64
# Distance gates: 0..8, each 0.75 m at the default resolution.
GATES = 9
GATE_CM = 75
SENSITIVITY_MAX = 100
NO_ONE_DURATION_MAX = 65535

_BASIC = struct.Struct("<BHBHBH")


class Target(IntEnum):
    """What the report's target state byte says."""

    NONE = 0
    MOVING = 1
    STILL = 2
    MOVING_AND_STILL = 3
    CALIBRATING = 4  # background-noise calibration (firmware 2.44+)
    CALIBRATED = 5
    CALIBRATION_FAILED = 6


class Command(IntEnum):
    """Command words the hub sends (HiLink protocol section 2.2)."""

    ENABLE_CONFIG = 0x00FF
    END_CONFIG = 0x00FE
    SET_MAX_GATES = 0x0060
    READ_PARAMETERS = 0x0061
    ENABLE_ENGINEERING = 0x0062
    SET_GATE_SENSITIVITY = 0x0064


@dataclass(frozen=True)
class Report:
    """One report frame, decoded."""

    target: Target
    moving_cm: int
    moving_energy: int
    still_cm: int
    still_energy: int
    detection_cm: int
    engineering: bool = False
    moving_gates: tuple[int, ...] = ()  # energy % per gate (engineering mode)
    still_gates: tuple[int, ...] = ()
    light: int | None = None  # LD2410B/C light sensor, 0-255
    out_pin: bool | None = None  # LD2410B/C OUT pin level

    @property
    def presence(self) -> bool:
        """Someone is there, moving or still."""
        return self.target in (Target.MOVING, Target.STILL, Target.MOVING_AND_STILL)

    @property
    def moving(self) -> bool:
        """Someone is moving."""
        return self.target in (Target.MOVING, Target.MOVING_AND_STILL)


@dataclass(frozen=True)
class Parameters:
    """The module's configuration (the reply to READ_PARAMETERS)."""

    max_gate: int
    max_moving_gate: int
    max_still_gate: int
    moving_thresholds: tuple[int, ...]
    still_thresholds: tuple[int, ...]
    no_one_s: int


@dataclass(frozen=True)
class Ack:
    """The module's answer to a command; `parameters` for READ_PARAMETERS."""

    command: int
    ok: bool
    parameters: Parameters | None = None


Frame = Report | Ack


def decode(frame: bytes) -> Frame:
    """One whole frame (header to footer) -> Report or Ack, or DecodeError."""
    if len(frame) < 10:
        raise DecodeError("ld2410: frame too short")
    head, footer = frame[:4], frame[-4:]
    (length,) = struct.unpack_from("<H", frame, 4)
    if length != len(frame) - 10:
        raise DecodeError("ld2410: length field does not match the frame")
    payload = frame[6:-4]
    if head == REPORT_HEADER and footer == REPORT_FOOTER:
        return _report(payload)
    if head == COMMAND_HEADER and footer == COMMAND_FOOTER:
        return _ack(payload)
    raise DecodeError("ld2410: unknown header or footer")


def _report(payload: bytes) -> Report:
    if len(payload) < 13 or payload[1] != 0xAA or payload[-2:] != b"\x55\x00":
        raise DecodeError("ld2410: report markers (AA ... 55 00) missing")
    kind, body = payload[0], payload[2:-2]
    if kind not in (0x01, 0x02):
        raise DecodeError(f"ld2410: unknown report type {kind:#04x}")
    state, m_cm, m_en, s_cm, s_en, d_cm = _BASIC.unpack_from(body)
    try:
        target = Target(state)
    except ValueError as exc:
        raise DecodeError(f"ld2410: unknown target state {state}") from exc
    if m_en > 100 or s_en > 100:
        raise DecodeError("ld2410: energy above 100 %")
    basic = Report(target, m_cm, m_en, s_cm, s_en, d_cm)
    if kind == 0x02:
        if len(body) != _BASIC.size:
            raise DecodeError("ld2410: basic report of the wrong length")
        return basic
    rest = body[_BASIC.size :]
    if len(rest) < 2 or rest[0] >= GATES or rest[1] >= GATES:
        raise DecodeError("ld2410: engineering report without its gate counts")
    moving_n, still_n = rest[0] + 1, rest[1] + 1
    gates = rest[2:]
    extra = len(gates) - moving_n - still_n
    if extra not in (0, 2):
        raise DecodeError("ld2410: engineering report of the wrong length")
    moving, still = tuple(gates[:moving_n]), tuple(gates[moving_n : moving_n + still_n])
    if any(e > 100 for e in moving + still):
        raise DecodeError("ld2410: gate energy above 100 %")
    light = out = None
    if extra == 2:
        light, out = gates[-2], bool(gates[-1])
    return Report(target, m_cm, m_en, s_cm, s_en, d_cm, True, moving, still, light, out)


def _ack(payload: bytes) -> Ack:
    if len(payload) < 4:
        raise DecodeError("ld2410: ACK without a status")
    word, status = struct.unpack_from("<HH", payload)
    if not word & 0x0100:
        raise DecodeError("ld2410: a command, not an ACK (echo on the line?)")
    command = word & 0xFEFF
    data = payload[4:]
    params = None
    if command == Command.READ_PARAMETERS and status == 0:
        if len(data) != 24 or data[0] != 0xAA:
            raise DecodeError("ld2410: parameter reply of the wrong shape")
        (no_one,) = struct.unpack_from("<H", data, 22)
        params = Parameters(
            data[1], data[2], data[3], tuple(data[4:13]), tuple(data[13:22]), no_one
        )
    return Ack(command, status == 0, params)


def command(word: Command, value: bytes = b"") -> bytes:
    """A command frame, ready to write to the module."""
    body = struct.pack("<H", word) + value
    return COMMAND_HEADER + struct.pack("<H", len(body)) + body + COMMAND_FOOTER


def _words(*pairs: tuple[int, int]) -> bytes:
    """Parameter words: a 2-byte id then a 4-byte value, each pair (HiLink 2.2.3, 2.2.6)."""
    return b"".join(struct.pack("<HI", word, value) for word, value in pairs)


def engineering_on() -> list[bytes]:
    """The commands that turn engineering reports on (lost when the module restarts)."""
    return [
        command(Command.ENABLE_CONFIG, b"\x01\x00"),
        command(Command.ENABLE_ENGINEERING),
        command(Command.END_CONFIG),
    ]


def set_gate(gate: int, moving: int, still: int) -> list[bytes]:
    """Commands setting one gate's moving and still thresholds (%, lower = more sensitive);
    `gate` 0xFFFF sets every gate. ValueError when out of range."""
    if not (0 <= gate < GATES or gate == 0xFFFF):
        raise ValueError(f"gate {gate}: give 0-{GATES - 1}")
    for name, value in (("moving", moving), ("still", still)):
        if not 0 <= value <= SENSITIVITY_MAX:
            raise ValueError(f"{name} threshold {value}: give 0-{SENSITIVITY_MAX}")
    body = _words((0, gate), (1, moving), (2, still))
    return [
        command(Command.ENABLE_CONFIG, b"\x01\x00"),
        command(Command.SET_GATE_SENSITIVITY, body),
        command(Command.READ_PARAMETERS),
        command(Command.END_CONFIG),
    ]


def set_range(max_moving_gate: int, max_still_gate: int, no_one_s: int) -> list[bytes]:
    """Commands setting the farthest gates watched (max distance) and how long the module
    keeps saying "someone" after the last echo. ValueError when out of range."""
    for name, gate in (("max moving gate", max_moving_gate), ("max still gate", max_still_gate)):
        if not 2 <= gate < GATES:
            raise ValueError(f"{name} {gate}: give 2-{GATES - 1}")
    if not 0 <= no_one_s <= NO_ONE_DURATION_MAX:
        raise ValueError(f"no-one duration {no_one_s}: give 0-{NO_ONE_DURATION_MAX} s")
    body = _words((0, max_moving_gate), (1, max_still_gate), (2, no_one_s))
    return [
        command(Command.ENABLE_CONFIG, b"\x01\x00"),
        command(Command.SET_MAX_GATES, body),
        command(Command.READ_PARAMETERS),
        command(Command.END_CONFIG),
    ]


# A frame: header (4), length (2, little-endian), payload, footer (4).
FRAME_FORMAT = FrameFormat(
    footers={REPORT_HEADER: REPORT_FOOTER, COMMAND_HEADER: COMMAND_FOOTER},
    length_offset=4,
    length_format="<H",
    overhead=10,
    max_length=MAX_PAYLOAD,
)


def framer() -> frames.Framer:
    """Bytes in, whole frames out (header to footer, not yet decoded): hub/sensors/frames.py."""
    return frames.Framer(FRAME_FORMAT)

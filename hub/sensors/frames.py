"""Length-prefixed binary frames out of a serial byte stream, resynchronising on garbage.

The radars (HiLink LD2410, Seeed MR60FDA1) both send header, length, payload, footer; they
differ only in the header bytes, where the length sits, its byte order and the fixed
bytes around the payload. One framer, described by a FrameFormat, serves both so a fix to
the resync logic reaches every module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameFormat:
    """Where things are in one module's frames.

    `footers` maps each header to the footer its frames end with; the length field is a
    16-bit integer at `length_offset` (`length_format` "<H" or ">H") counting the bytes
    that vary; a frame is `overhead + length` bytes long in all."""

    footers: dict[bytes, bytes]
    length_offset: int
    length_format: str
    overhead: int
    max_length: int

    @property
    def header_size(self) -> int:
        return len(next(iter(self.footers)))

    @property
    def min_size(self) -> int:
        """Bytes needed before the length can be read."""
        return self.length_offset + struct.calcsize(self.length_format)


class Framer:
    """Bytes in, whole frames out (header to footer, not yet decoded or checksummed).

    Bytes before a header are dropped; a header whose length is impossible or whose footer
    is not where the length says is dropped one byte at a time, so a real frame that began
    inside it is still found. `dropped` counts the bytes thrown away."""

    def __init__(self, fmt: FrameFormat) -> None:
        self._fmt = fmt
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the whole frames they complete."""
        fmt = self._fmt
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            start = self._first_header()
            if start < 0:
                keep = self._partial_header_at_end()
                self.dropped += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.dropped += start
                del buf[:start]
            if len(buf) < fmt.min_size:
                break
            (length,) = struct.unpack_from(fmt.length_format, buf, fmt.length_offset)
            footer = fmt.footers[bytes(buf[: fmt.header_size])]
            if length > fmt.max_length:
                self.dropped += 1
                del buf[:1]
                continue
            end = fmt.overhead + length
            if len(buf) < end:
                break
            if buf[end - len(footer) : end] != footer:
                self.dropped += 1
                del buf[:1]
                continue
            out.append(bytes(buf[:end]))
            del buf[:end]
        return out

    def stale(self) -> list[bytes]:
        """The line went quiet in the middle of a frame. A module sends a frame without
        gaps, so what is buffered is a header that garbage imitated: drop it a byte at a
        time and return the frames found behind it (a corrupted length must not hold back
        the frames that follow until enough bytes have arrived to disprove it)."""
        out: list[bytes] = []
        while len(self._buf) >= self._fmt.header_size and not out:
            self.dropped += 1
            del self._buf[:1]
            out = self.feed(b"")
        return out

    def _first_header(self) -> int:
        hits = [i for i in (self._buf.find(h) for h in self._fmt.footers) if i >= 0]
        return min(hits) if hits else -1

    def _partial_header_at_end(self) -> int:
        """How many trailing bytes could be the start of a header still arriving."""
        buf = self._buf
        for size in range(min(len(buf), self._fmt.header_size - 1), 0, -1):
            tail = bytes(buf[-size:])
            if any(h.startswith(tail) for h in self._fmt.footers):
                return size
        return 0

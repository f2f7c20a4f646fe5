"""Energy gating: the spotter sleeps while the room is silent. Pure functions on frames."""

from __future__ import annotations

import array
import math
from dataclasses import dataclass

# 30 ms at 16 kHz mono s16le; the unit the capture hands out.
FRAME_SAMPLES = 480
# RMS of int16 samples; a quiet room with a Pi's USB mic sits around 30-100.
# Chosen on the flite corpus (speech well above 500); tune on the installed mic.
DEFAULT_THRESHOLD_RMS = 300.0
# Keep the spotter awake this long after the last loud frame so a phrase is not clipped.
HANGOVER_FRAMES = 20


def frame_rms(frame: bytes) -> float:
    """Root-mean-square level of a 16-bit little-endian mono frame."""
    samples = array.array("h")
    samples.frombytes(frame[: len(frame) - len(frame) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


@dataclass
class EnergyGate:
    """Open while the level is above threshold, plus a hangover of quiet frames."""

    threshold_rms: float = DEFAULT_THRESHOLD_RMS
    hangover_frames: int = HANGOVER_FRAMES
    _quiet_left: int = 0

    def is_open(self, frame: bytes) -> bool:
        """Whether this frame should reach the spotter."""
        if frame_rms(frame) >= self.threshold_rms:
            self._quiet_left = self.hangover_frames
            return True
        if self._quiet_left > 0:
            self._quiet_left -= 1
            return True
        return False

"""The daemon's log: bounded when something fails over and over, and never forged.

Two guards on the handler `pingan-hub run` logs through (`guard_handlers`):

- Warnings and errors are rate-limited per message (logger, level and format string): at
  most BURST in WINDOW_S; the next one let through says how many were held back. A
  failure in a loop (accept() refused for want of file descriptors, a part restarting
  every second with its traceback) once grew the log by 150 MB a minute, on a data
  partition the alarms are stored on.
- Control characters in a message are escaped: text from outside (a command, a device
  name, a Host header) with a line break or an escape sequence in it would otherwise
  forge log lines or repaint a terminal.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

# A message repeated more than BURST times within WINDOW_S is held back until the window
# ends: ten lines a minute tell the story of a failure loop; more only fill the card.
WINDOW_S = 60.0
BURST = 10
# Distinct messages remembered; the oldest is forgotten beyond this (a message with a
# changing format string, which no hub code writes, cannot grow the table without end).
MAX_KEYS = 512


@dataclass
class _Window:
    start: float
    count: int = 0
    held: int = 0


class Throttle:
    """Pure rate limit per key: at most `burst` in each `window_s` (monotonic seconds)."""

    def __init__(self, window_s: float = WINDOW_S, burst: int = BURST) -> None:
        self.window_s = window_s
        self.burst = burst
        self._windows: OrderedDict[Hashable, _Window] = OrderedDict()

    def allow(self, key: Hashable, now: float) -> tuple[bool, int]:
        """Whether this occurrence may be logged, and how many were held back before it."""
        window = self._windows.get(key)
        held = 0
        if window is None or now - window.start >= self.window_s:
            held = window.held if window is not None else 0
            window = _Window(now)
            self._windows[key] = window
            while len(self._windows) > MAX_KEYS:
                self._windows.popitem(last=False)
        self._windows.move_to_end(key)
        window.count += 1
        if window.count > self.burst:
            window.held += 1
            return False, 0
        return True, held


def escape_controls(text: str) -> str:
    """`text` with every control or format character (line breaks, escape sequences,
    bidirectional overrides) written as a visible \\x.. / \\u.. escape."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == " " or not unicodedata.category(ch).startswith("C"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


class LogGuard(logging.Filter):
    """Rate-limits repeated warnings and errors, and escapes control characters."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.throttle = Throttle()
        self._monotonic = monotonic

    def filter(self, record: logging.LogRecord) -> bool:
        """False to drop the record; otherwise it is made safe in place."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it itself
            return True
        if record.levelno >= logging.WARNING:
            key = (record.name, record.levelno, str(record.msg))
            allowed, held = self.throttle.allow(key, self._monotonic())
            if not allowed:
                return False
            if held:
                message += f" ({held} more like this not logged in {WINDOW_S:.0f} s)"
        record.msg, record.args = escape_controls(message), None
        return True


def guard_handlers(logger: logging.Logger | None = None) -> None:
    """Put a LogGuard on every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, LogGuard) for f in handler.filters):
            handler.addFilter(LogGuard())

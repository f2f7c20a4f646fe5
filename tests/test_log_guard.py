"""The daemon's log stays small when something fails in a loop, and cannot be forged."""

from __future__ import annotations

import io
import logging

from hub.logs import BURST, WINDOW_S, LogGuard, Throttle, escape_controls


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def guarded_logger(name: str) -> tuple[logging.Logger, io.StringIO, Clock]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    clock = Clock()
    handler.addFilter(LogGuard(monotonic=clock))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out, clock


def test_a_failure_repeated_every_millisecond_logs_a_few_lines_a_minute() -> None:
    logger, out, clock = guarded_logger("test.flood")
    for i in range(60_000):  # a minute of accept() failing every millisecond
        clock.now = i / 1000
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            logger.exception("accept failed on %s", "0.0.0.0:8080")
    first_minute = out.getvalue()
    assert first_minute.count("accept failed") == BURST
    assert len(first_minute) < 20_000  # ten tracebacks, not 60,000
    clock.now = WINDOW_S + 1
    logger.error("accept failed on %s", "0.0.0.0:8080")
    assert f"({60_000 - BURST} more like this not logged in 60 s)" in out.getvalue()


def test_other_messages_and_info_lines_are_not_held_back_by_a_flood() -> None:
    logger, out, _ = guarded_logger("test.other")
    for _ in range(100):
        logger.warning("uplink lost")
    logger.warning("modem lost")
    for i in range(100):
        logger.info("committed sos seq=%d", i)
    text = out.getvalue()
    assert text.count("uplink lost") == BURST
    assert "modem lost" in text and text.count("committed sos") == 100


def test_control_characters_from_outside_cannot_forge_a_line() -> None:
    logger, out, _ = guarded_logger("test.forge")
    logger.warning("bad Host %s", "x\n2026-12-01 ERROR hub.app: ALARM cancelled\x1b[2J\u202e")
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "\\x0a2026-12-01" in text and "\\x1b[2J" in text and "\\u202e" in text


def test_the_throttle_forgets_quiet_messages_and_stays_bounded() -> None:
    throttle = Throttle(window_s=10, burst=1)
    assert throttle.allow("a", 0.0) == (True, 0)
    assert throttle.allow("a", 1.0) == (False, 0)
    assert throttle.allow("a", 11.0) == (True, 1)
    for i in range(10_000):
        throttle.allow(f"k{i}", 12.0)
    assert len(throttle._windows) <= 512


def test_printable_text_is_left_alone() -> None:
    assert escape_controls("寒潮预警 -5°C") == "寒潮预警 -5°C"
    assert escape_controls("a\tb") == "a\\x09b"

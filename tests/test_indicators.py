"""The LED and buzzer show an alarm's progress without threads on the alarm path.

Pins are gpiozero's own MockFactory pins, whose state history is what an elder would have
seen and heard. Durations are not asserted (timing belongs in bench/), only the sequence.
"""

from __future__ import annotations

import asyncio
import threading

from gpiozero.pins.mock import MockFactory, MockPin

from hub.config import GpioSection
from hub.sensors.gpio import PATTERNS, Indicators
from tests.helpers import eventually


def _states(pin: MockPin) -> list[bool]:
    """The pin's level changes since the test cleared it, repeats folded."""
    levels: list[bool] = []
    for change in pin.states:
        if not levels or levels[-1] != bool(change.state):
            levels.append(bool(change.state))
    return levels


def _indicators() -> tuple[Indicators, MockPin, MockPin]:
    factory = MockFactory()
    gpio = GpioSection(pin_factory="mock")
    indicators = Indicators(gpio, factory)
    led, buzzer = factory.pin(gpio.led_pin), factory.pin(gpio.buzzer_pin)
    led.clear_states()
    buzzer.clear_states()
    return indicators, led, buzzer


async def test_a_raised_alarm_flashes_the_led_and_beeps_once_then_sent_beeps_twice() -> None:
    indicators, led, buzzer = _indicators()
    try:
        indicators.show("raised")
        assert led.state and buzzer.state  # at once, before the loop runs again
        await eventually(lambda: _states(led).count(True) >= 3)  # flashing
        await eventually(lambda: _states(buzzer) == [False, True, False])  # one beep
        buzzer.clear_states()
        indicators.show("sent")
        await eventually(lambda: _states(buzzer) == [False, True, False, True, False])
        await asyncio.sleep(0.5)
        assert _states(buzzer) == [False, True, False, True, False]  # two, no more
    finally:
        indicators.close()


async def test_acknowledged_is_a_steady_led_and_off_stops_everything() -> None:
    indicators, led, buzzer = _indicators()
    try:
        indicators.show("siren")
        await eventually(lambda: _states(led).count(True) >= 2)
        led.clear_states()
        buzzer.clear_states()
        indicators.show("acknowledged")
        await eventually(lambda: _states(buzzer)[-6:] == [True, False] * 3)  # three beeps
        changes = len(led.states)
        await asyncio.sleep(0.3)
        assert led.state and len(led.states) == changes  # steady: the flashing stopped
        indicators.show("off")
        led.clear_states()
        buzzer.clear_states()
        await asyncio.sleep(0.7)  # longer than any step of the patterns before
        assert not led.state and not buzzer.state
        assert _states(led) == [False] and _states(buzzer) == [False]
    finally:
        indicators.close()


async def test_no_pattern_starts_a_thread() -> None:
    """gpiozero's blink() starts a thread per output and joins the one before: on the
    press -> commit -> publish path that contended for the GIL (issue 23's latency tail)."""
    indicators, _led, _buzzer = _indicators()
    before = threading.active_count()
    try:
        for pattern in [*PATTERNS, "off", "no such pattern"]:
            indicators.show(pattern)
            await asyncio.sleep(0)
            assert threading.active_count() == before, pattern
    finally:
        indicators.close()


def test_a_pattern_shown_without_an_event_loop_is_left_steady() -> None:
    indicators, led, buzzer = _indicators()
    try:
        indicators.show("raised")
        assert led.state and buzzer.state
        indicators.show("off")
        assert not led.state and not buzzer.state
    finally:
        indicators.close()

"""The hub's own buttons and outputs on GPIO, through gpiozero.

The pin factory is the hardware seam (gpiozero's own design): `lgpio` on a Pi,
gpiozero's `MockFactory` for the demo and the tests, where `pin.drive_low()` is a
press. gpiozero calls back on its own threads; those callbacks cross into the event
loop only through `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from gpiozero import LED, Button, Buzzer
from gpiozero.exc import GPIOZeroError

from hub.clock import Clock
from hub.config import GpioSection, SosSection
from hub.errors import HubError
from hub.reading import Reading, State

_LOGGER = logging.getLogger(__name__)

SOS_BUTTON = "gpio:sos"
OK_BUTTON = "gpio:ok"


def make_pin_factory(name: str) -> Any:
    """The gpiozero pin factory called `name` in config."""
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory()
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
        if name == "pigpio":
            from gpiozero.pins.pigpio import PiGPIOFactory

            return PiGPIOFactory()
        from gpiozero.pins.native import NativeFactory

        return NativeFactory()
    except (ImportError, GPIOZeroError, OSError) as exc:
        raise HubError(
            f"gpio.pin_factory = {name!r} cannot start here ({exc}); on a Pi install "
            "the 'pi' extra (lgpio), elsewhere use pin_factory = \"mock\""
        ) from exc


class HubButtons:
    """The red SOS and green "I'm OK" buttons as a stream of Readings.

    Each press gets a number (`values["press"]`) so the alarm lifecycle can tell a
    hold of the press that raised an alarm from a later hold meant to cancel it.
    """

    def __init__(self, gpio: GpioSection, sos: SosSection, pin_factory: Any, clock: Clock) -> None:
        self._clock = clock
        self._queue: asyncio.Queue[Reading] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._presses = itertools.count(1)
        self._current: dict[str, int] = {}
        bounce = gpio.bounce_s or None
        self.sos = Button(
            gpio.sos_pin,
            pull_up=True,
            bounce_time=bounce,
            hold_time=sos.cancel_hold_s,
            pin_factory=pin_factory,
        )
        self.ok = Button(
            gpio.ok_pin,
            pull_up=True,
            bounce_time=bounce,
            hold_time=sos.cancel_hold_s,
            pin_factory=pin_factory,
        )
        for device, button in ((SOS_BUTTON, self.sos), (OK_BUTTON, self.ok)):
            button.when_pressed = self._callback(device, "press")
            button.when_held = self._callback(device, "hold")

    def _callback(self, device: str, action: str) -> Any:
        def fire() -> None:  # on a gpiozero thread
            if action == "press":
                self._current[device] = next(self._presses)
            reading = Reading(
                device=device,
                protocol="gpio",
                kind="button",
                values={"action": action, "press": self._current.get(device, 0)},
                ts=self._clock.now(),
                # a hold is the same press going on (or a cancel), not a new one
                state=State.ALARM if action == "press" else None,
            )
            self._loop.call_soon_threadsafe(self._queue.put_nowait, reading)

        return fire

    async def readings(self) -> AsyncIterator[Reading]:
        """Button presses and holds, in order."""
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        """Release the pins."""
        self.sos.close()
        self.ok.close()


class Indicators:
    """The status LED and buzzer: what the elder sees and hears of an alarm's progress.

    Patterns (steady and distinct, so a carer can describe them on the phone):
    raised - LED fast flash, one short beep; sent - LED slow flash, two beeps;
    acknowledged/dispatched - LED steady, three long beeps; cancelled/closed - off;
    siren (escalation) - buzzer pulsing for a minute. Care: checkin_due - slow blink;
    prealarm - blink and soft beeps; checkin_ok - steady for 3 s.
    """

    def __init__(self, gpio: GpioSection, pin_factory: Any) -> None:
        self.led = LED(gpio.led_pin, pin_factory=pin_factory)
        self.buzzer = Buzzer(gpio.buzzer_pin, pin_factory=pin_factory)
        self.pattern = "off"

    def show(self, pattern: str) -> None:
        """Switch to a named pattern (non-blocking: gpiozero runs it on a thread)."""
        self.pattern = pattern
        if pattern == "raised":
            self.led.blink(on_time=0.1, off_time=0.1)
            self.buzzer.beep(on_time=0.2, off_time=0.2, n=1)
        elif pattern == "sent":
            self.led.blink(on_time=0.5, off_time=0.5)
            self.buzzer.beep(on_time=0.15, off_time=0.15, n=2)
        elif pattern == "acknowledged":
            self.led.on()
            self.buzzer.beep(on_time=0.5, off_time=0.3, n=3)
        elif pattern == "siren":
            self.led.blink(on_time=0.1, off_time=0.1)
            self.buzzer.beep(on_time=0.5, off_time=0.5, n=60)
        elif pattern == "checkin_due":  # the daily "I'm OK" is awaited: a slow, calm blink
            self.led.blink(on_time=1.0, off_time=1.0)
        elif pattern == "prealarm":  # "are you all right?": blink and a soft beep
            self.led.blink(on_time=0.3, off_time=0.3)
            self.buzzer.beep(on_time=0.1, off_time=0.9, n=5)
        elif pattern == "checkin_ok":  # thank-you: steady for three seconds
            self.led.blink(on_time=3.0, off_time=0.1, n=1)
        else:
            self.led.off()
            self.buzzer.off()

    def close(self) -> None:
        """Release the pins."""
        self.led.close()
        self.buzzer.close()

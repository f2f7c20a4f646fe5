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
from typing import Any, Literal

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


# An output's part in a pattern: steady on, off, or a blink (seconds on, seconds off,
# how many times; None: until the next pattern).
Blink = tuple[float, float, int | None]
Output = Literal["on", "off"] | Blink

# Pattern name -> (LED, buzzer). Steady and distinct, so a carer can describe them on the
# phone.
PATTERNS: dict[str, tuple[Output, Output]] = {
    "raised": ((0.1, 0.1, None), (0.2, 0.2, 1)),  # fast flash, one short beep
    "sent": ((0.5, 0.5, None), (0.15, 0.15, 2)),  # slow flash, two beeps
    "acknowledged": ("on", (0.5, 0.3, 3)),  # steady, three long beeps
    "siren": ((0.1, 0.1, None), (0.5, 0.5, 60)),  # escalation: pulsing for a minute
    "checkin_due": ((1.0, 1.0, None), "off"),  # the daily "I'm OK" is awaited: calm blink
    "prealarm": ((0.3, 0.3, None), (0.1, 0.9, 5)),  # "are you all right?": soft beeps
    "checkin_ok": ((3.0, 0.1, 1), "off"),  # thank-you: steady for three seconds
}


class Indicators:
    """The status LED and buzzer: what the elder sees and hears of an alarm's progress.

    Patterns (PATTERNS): raised - LED fast flash, one short beep; sent - LED slow flash,
    two beeps; acknowledged/dispatched - LED steady, three long beeps; cancelled/closed -
    off; siren (escalation) - buzzer pulsing for a minute. Care: checkin_due - slow blink;
    prealarm - blink and soft beeps; checkin_ok - steady for 3 s.

    Blinks are timed by the event loop, not by gpiozero's blink(): that starts a thread
    per output per pattern and joins the previous one, on the press -> commit -> publish
    path (every alarm state change shows a pattern); with the threads of the pattern
    before still toggling pins, the GIL contention was the SOS latency's tail (issue 23).
    A pin write is a few microseconds; the loop wakes at most 10 times a second for it.
    """

    def __init__(self, gpio: GpioSection, pin_factory: Any) -> None:
        self.led = LED(gpio.led_pin, pin_factory=pin_factory)
        self.buzzer = Buzzer(gpio.buzzer_pin, pin_factory=pin_factory)
        self.pattern = "off"
        self._blinks: list[asyncio.Task[None]] = []

    def show(self, pattern: str) -> None:
        """Switch to a named pattern at once (an unknown name is off); never blocks."""
        self.pattern = pattern
        for task in self._blinks:
            task.cancel()
        self._blinks = []
        led, buzzer = PATTERNS.get(pattern, ("off", "off"))
        for device, output in ((self.led, led), (self.buzzer, buzzer)):
            self._start(device, output)

    def _start(self, device: LED | Buzzer, output: Output) -> None:
        if output == "on":
            device.on()
        elif output == "off":
            device.off()
        else:
            on_s, off_s, times = output
            device.on()  # the first state at once, whatever the loop does next
            try:
                task = asyncio.get_running_loop().create_task(_blink(device, on_s, off_s, times))
            except RuntimeError:  # no loop (a tool outside the hub): left steady on
                return
            self._blinks.append(task)

    def close(self) -> None:
        """Stop the patterns and release the pins."""
        for task in self._blinks:
            task.cancel()
        self._blinks = []
        self.led.close()
        self.buzzer.close()


async def _blink(device: LED | Buzzer, on_s: float, off_s: float, times: int | None) -> None:
    """Go on blinking `device`, which `show` has just switched on."""
    count = itertools.count(1) if times is None else range(1, times + 1)
    for n in count:
        await asyncio.sleep(on_s)
        device.off()
        if times is not None and n == times:
            return  # ends off, as gpiozero's blink(n=...) does
        await asyncio.sleep(off_s)
        device.on()

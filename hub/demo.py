"""`pingan-hub demo`: the whole SOS loop on this machine, no hardware, no root.

A private mosquitto broker, a simulated alarm centre, the real hub on gpiozero's
mock pins, and a scripted press of the red button. The terminal tells the story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.services.alarms import ALARM_PROMPTS
from hub.sim.broker import Mosquitto, free_port
from hub.sim.centre import SimulatedCentre
from hub.sos.lifecycle import Alarm, AlarmState
from hub.timeouts import wait_within
from hub.voice.prompts import prompt_text

DEMO_HUB = "DEMO-0001"

_WORDS = {
    AlarmState.RAISED: "red button pressed: SOS raised (LED flashing fast, one beep)",
    AlarmState.COMMITTED: "SOS saved to disk as seq {seq}: it survives a power cut from here on",
    AlarmState.SENT: "SOS delivered to the alarm service (broker PUBACK); LED flashing slowly",
    AlarmState.ACKNOWLEDGED: "the centre has it: {operator} answered; LED steady, three beeps "
    "(平台已收到，请保持冷静)",
    AlarmState.DISPATCHED: "help is on the way: {note}",
    AlarmState.CLOSED: "alarm closed by the centre",
    AlarmState.CANCELLED: "alarm cancelled by the elder",
}


def run_demo(*, forever: bool = False, ack_delay: float = 2.0) -> int:
    """Run the demo; returns 0 when the loop completed."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="pingan-demo-") as tmp, Mosquitto() as broker:
        print(f"[demo] local mosquitto broker on 127.0.0.1:{broker.port}")
        return asyncio.run(_demo(Path(tmp), broker.port, forever, ack_delay))


async def _demo(data_dir: Path, port: int, forever: bool, ack_delay: float) -> int:
    raw: dict[str, Any] = {
        "hub": {"id": DEMO_HUB, "data_dir": str(data_dir)},
        "mqtt": {"host": "127.0.0.1", "port": port, "heartbeat_s": 30.0},
        "gpio": {"pin_factory": "mock"},
    }
    if forever:  # left running: the installer and family pages, on this machine only
        raw["web"] = {"enabled": True, "listen": "127.0.0.1", "port": free_port()}
    cfg = parse_config(raw)
    centre = SimulatedCentre("127.0.0.1", port, ack_delay=ack_delay)
    centre_ready = asyncio.Event()
    centre_task = asyncio.create_task(centre.run(centre_ready))
    await centre_ready.wait()
    print("[demo] simulated alarm centre listening")

    factory = MockFactory()
    # No sound card assumed: the demo prints what the elder would hear instead of playing it.
    hub = Hub(cfg, pin_factory=factory, player=lambda _argv: None)
    done = asyncio.Event()

    def narrate(alarm: Alarm) -> None:
        print(
            "[hub] "
            + _WORDS[alarm.state].format(
                seq=alarm.seq, operator=alarm.operator or "an operator", note=alarm.note
            )
        )
        if alarm.state in ALARM_PROMPTS and hub.speech.speaker is not None:
            words = prompt_text(ALARM_PROMPTS[alarm.state], cfg.hub.language)
            print(f'[elder hears] "{words}"')
        if alarm.state in (AlarmState.DISPATCHED, AlarmState.CLOSED):
            done.set()

    await hub.start()
    hub.alarms.listeners.append(narrate)
    try:
        await wait_within(hub.uplink.connected.wait(), 10)
        print(
            f"[hub] {DEMO_HUB} online (MQTT {hub.uplink.state.protocol}); "
            f"control socket {cfg.control_socket}"
        )
        print(
            "[demo] pressing the red SOS button (mock GPIO pin "
            f"{cfg.gpio.sos_pin} driven low for 0.2 s)"
        )
        pin = factory.pin(cfg.gpio.sos_pin)
        pin.drive_low()
        await asyncio.sleep(0.2)
        pin.drive_high()
        await wait_within(done.wait(), 10 + 3 * ack_delay)
        print("[demo] the whole loop worked: press -> disk -> MQTT -> centre -> ack -> elder")
        if forever:
            print(f"[demo] still running; try: pingan-hub status --socket {cfg.control_socket}")
            if hub.web is not None:
                installer = await hub.web.pin_op(family=False, new=False)
                family = await hub.web.pin_op(family=True, new=False)
                print(
                    f"[demo] installer and family pages: http://127.0.0.1:{cfg.web.port}/ "
                    f"(installer PIN {installer['pin']}, family PIN {family['pin']})"
                )
            await asyncio.Event().wait()
        return 0
    except TimeoutError:
        print("[demo] FAILED: the loop did not complete in time; see the messages above")
        return 1
    finally:
        await hub.stop()
        centre_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await centre_task

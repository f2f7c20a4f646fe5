"""The elder hears where the alarm is, the hazard guidance, and the centre's messages."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.reading import Reading, State
from hub.sim.broker import Mosquitto
from hub.voice.prompts import prompt_text
from tests.conftest import HUB_ID, hub_raw
from tests.helpers import Collector, eventually
from tests.test_spine import press

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (./dev installs it)"
)


async def test_prompts_follow_the_alarm_and_the_centre_can_speak(
    broker: Mosquitto, collector: Collector, tmp_path: object
) -> None:
    played: list[str] = []

    def player(argv: Sequence[str]) -> None:
        played.append(argv[-1])

    raw = hub_raw(tmp_path / "data", broker.port, voice={"prompts": True})  # type: ignore[operator]
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, player=player)
    await hub.start()
    try:
        assert hub.speech.speaker is not None
        speaker = hub.speech.speaker

        def heard(prompt_id: str) -> bool:
            text = prompt_text(prompt_id, "cmn")
            return str(speaker.renderer.path_for(text, speaker.voice)) in played

        await press(hub)
        [sos] = await collector.wait_event("sos")
        await eventually(lambda: heard("alarm_sent"))
        await collector.publish(
            f"pingan/v1/{HUB_ID}/ack", json.dumps({"id": sos["id"], "state": "received"})
        )
        await eventually(lambda: heard("centre_received"))

        await hub.care.feed(
            Reading(
                device="rf:gas",
                protocol="rflink",
                kind="gas",
                values={"alarm": True},
                state=State.ALARM,  # as attribution states it (hub.reading.State)
            )
        )
        await eventually(lambda: heard("gas_guidance"))

        before = len(played)
        await collector.publish(
            f"pingan/v1/{HUB_ID}/cmd/speak",
            json.dumps({"text": "明天有台风，请不要外出"}, ensure_ascii=False),
        )
        await eventually(lambda: len(played) > before)
        assert played[-1].endswith(".wav")
    finally:
        await hub.stop()

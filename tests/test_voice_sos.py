"""An elder who cannot reach a button calls for help: the hub asks, and silence calls."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto
from hub.voice.capture import ArraySource
from hub.voice.corpus import render
from tests.conftest import hub_raw
from tests.helpers import Collector, eventually
from tests.test_spine import press

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None
    or shutil.which("sox") is None
    or shutil.which("espeak-ng") is None,
    reason="flite, sox and espeak-ng (Debian packages) make and speak the test audio",
)
pytest.importorskip("pocketsphinx")

SILENCE = b"\x00\x00" * 16000  # 1 s


async def listening_hub(tmp_path: Path, port: int, pcm: bytes) -> Hub:
    played: list[str] = []

    def player(argv: Sequence[str]) -> None:
        played.append(argv[-1])

    raw = hub_raw(
        tmp_path / "data", port, voice={"prompts": True, "listen": True, "confirm_s": 1.5}
    )
    hub = Hub(
        parse_config(raw),
        pin_factory=MockFactory(),
        local_raw=raw,
        player=player,
        audio_source=ArraySource(pcm),
    )
    await hub.start()
    return hub


async def test_a_spoken_call_for_help_with_no_answer_raises_the_sos(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    speech = render("please help me", "slt", 1.0, tmp_path)
    hub = await listening_hub(tmp_path, broker.port, SILENCE + speech + SILENCE)
    try:
        [sos] = await collector.wait_event("sos", timeout=20)
        assert sos["source"]["protocol"] == "voice"
        assert sos["data"]["reason"] == "no_answer"
        assert sos["data"]["phrase"] in ("help", "help me", "please help me")
        assert set(sos["data"]) == {"phrase", "confidence", "reason"}  # never audio
    finally:
        await hub.stop()


async def test_the_green_button_after_a_spoken_call_stands_it_down_and_logs_it(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    speech = render("please help me", "slt", 1.0, tmp_path)
    hub = await listening_hub(tmp_path, broker.port, SILENCE + speech + SILENCE * 4)
    try:
        assert hub.listener is not None
        listener = hub.listener
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
        await press(hub, "ok")
        [declined] = await collector.wait_event("voice_declined")
        assert declined["data"]["reason"] == "button_cancel"
        await collector.wait_event("checkin")
        assert collector.events("sos") == []
    finally:
        await hub.stop()

"""An elder who cannot reach a button calls for help: the hub asks, and silence calls."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto
from hub.voice.capture import AudioSource, LiveSource
from hub.voice.corpus import render
from hub.voice.spotter import DEFAULT_KEYPHRASES
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


async def listening_hub(
    tmp_path: Path, port: int, source: AudioSource, confirm_s: float = 1.5, **voice: object
) -> tuple[Hub, list[str]]:
    played: list[str] = []

    def player(argv: Sequence[str]) -> None:
        played.append(argv[-1])

    raw = hub_raw(
        tmp_path / "data",
        port,
        voice={"prompts": True, "listen": True, "confirm_s": confirm_s, **voice},
    )
    hub = Hub(
        parse_config(raw),
        pin_factory=MockFactory(),
        local_raw=raw,
        player=player,
        audio_source=source,
    )
    await hub.start()
    return hub, played


async def test_a_spoken_call_for_help_with_no_answer_raises_the_sos(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    hub, _ = await listening_hub(tmp_path, broker.port, mic)
    try:
        mic.say(SILENCE + render("please help me", "slt", 1.0, tmp_path))
        [sos] = await collector.wait_event("sos", timeout=20)
        assert sos["source"]["protocol"] == "voice"
        assert sos["data"]["reason"] == "no_answer"
        assert sos["data"]["phrase"] in DEFAULT_KEYPHRASES
        assert set(sos["data"]) == {"phrase", "confidence", "reason"}  # never audio
    finally:
        await hub.stop()


async def test_the_green_button_after_a_spoken_call_stands_it_down_and_logs_it(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    hub, _ = await listening_hub(tmp_path, broker.port, mic, confirm_s=5.0)
    try:
        assert hub.voice.listener is not None
        listener = hub.voice.listener
        mic.say(render("please help me", "slt", 1.0, tmp_path))
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
        await press(hub, "ok")
        [declined] = await collector.wait_event("voice_declined")
        assert declined["data"]["reason"] == "button_cancel"
        await collector.wait_event("checkin")
        assert collector.events("sos") == []
    finally:
        await hub.stop()


async def test_an_elder_who_answers_no_out_loud_is_not_called_and_it_is_logged(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    hub, played = await listening_hub(tmp_path, broker.port, mic, confirm_s=6.0)
    try:
        assert hub.voice.listener is not None
        listener = hub.voice.listener
        mic.say(render("please help me", "slt", 1.0, tmp_path))
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
        await eventually(lambda: len(played) > 0)  # the elder heard the question
        mic.say(render("no", "rms", 1.0, tmp_path))
        [declined] = await collector.wait_event("voice_declined", timeout=10)
        assert declined["data"]["reason"] == "no"
        await asyncio.sleep(6.5)  # past the answer window: still no SOS
        assert collector.events("sos") == []
    finally:
        await hub.stop()


async def test_an_elder_who_answers_yes_out_loud_is_called_at_once(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    mic = LiveSource()
    hub, _ = await listening_hub(tmp_path, broker.port, mic, confirm_s=30.0)
    try:
        assert hub.voice.listener is not None
        listener = hub.voice.listener
        mic.say(render("please help me", "slt", 1.0, tmp_path))
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
        mic.say(render("yes", "rms", 1.0, tmp_path))
        [sos] = await collector.wait_event("sos", timeout=10)  # well before the 30 s window
        assert sos["data"]["reason"] == "yes"
    finally:
        await hub.stop()


async def test_a_spoken_no_the_disk_refused_is_logged_later_and_the_hub_keeps_listening(
    broker: Mosquitto, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_refused_storage import refuse_writes

    mic = LiveSource()
    hub, played = await listening_hub(tmp_path, broker.port, mic, confirm_s=6.0)
    try:
        assert hub.voice.listener is not None
        listener = hub.voice.listener
        mic.say(render("please help me", "slt", 1.0, tmp_path))
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
        await eventually(lambda: len(played) > 0)
        await refuse_writes(hub, True)  # the SD card fails while the elder answers
        mic.say(render("no", "rms", 1.0, tmp_path))
        await eventually(lambda: len(hub.events.held) == 1, timeout=10)
        await refuse_writes(hub, False)
        [declined] = await collector.wait_event("voice_declined", timeout=40)
        assert declined["data"]["reason"] == "no"
        assert not [r for r in caplog.records if "microphone failed" in r.getMessage()]
        # Still listening: the next call for help is heard and asked about.
        mic.say(SILENCE + render("please help me", "slt", 1.0, tmp_path))
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
    finally:
        await hub.stop()

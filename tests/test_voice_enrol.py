"""The installer enrols the elder's own phrase through the real hub; the hub then hears it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto
from hub.voice.capture import LiveSource
from hub.voice.corpus import render
from hub.voice.enrolled import TEMPLATES_FILE, EnrolledPhrase
from hub.voice.prompts import prompt_text
from tests.conftest import hub_raw
from tests.helpers import Collector, eventually

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None
    or shutil.which("sox") is None
    or shutil.which("espeak-ng") is None,
    reason="flite, sox and espeak-ng (Debian packages) make and speak the test audio",
)

SILENCE = b"\x00\x00" * 8000  # 0.5 s


async def test_an_enrolled_phrase_is_heard_and_other_talk_is_not(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    played: list[str] = []

    def player(argv: Sequence[str]) -> None:
        played.append(argv[-1])

    mic = LiveSource()
    data = tmp_path / "data"
    raw = hub_raw(
        data,
        broker.port,
        voice={"prompts": True, "listen": True, "engines": "enrolled", "confirm_s": 30.0},
    )
    hub = Hub(
        parse_config(raw), pin_factory=MockFactory(), local_raw=raw, player=player, audio_source=mic
    )
    await hub.start()
    try:
        assert hub.voice.listener is not None and hub.speech.speaker is not None
        listener, speaker = hub.voice.listener, hub.speech.speaker
        take_prompt = str(speaker.renderer.path_for(prompt_text("enrol_take"), speaker.voice))
        enrolling = asyncio.create_task(
            asyncio.to_thread(
                call, hub.cfg.control_socket, "voice-enrol", phrase="救命 (help me)", timeout=120
            )
        )
        # Three takes, each said after the hub's prompt, at the elder's varying pace.
        for n, speed in enumerate((1.0, 1.1, 0.9), start=1):
            await eventually(lambda n=n: played.count(take_prompt) == n, timeout=20)
            mic.say(SILENCE + render("help me", "slt", speed, tmp_path) + SILENCE)
        reply = await asyncio.wait_for(enrolling, 60)
        assert (reply["takes"], reply["recorded"]) == (3, 3)
        # Only features are stored: three arrays of speech embeddings, no audio.
        with np.load(data / TEMPLATES_FILE, allow_pickle=False) as stored:
            assert sorted(stored.files) == ["kind", "phrase", "t0", "t1", "t2", "threshold"]
            assert str(stored["kind"]) == "embedding"
            assert all(stored[k].ndim == 2 and stored[k].shape[1] == 96 for k in ("t0", "t1"))

        for phrase in ("good morning", "what time is it", "hello"):
            mic.say(SILENCE + render(phrase, "slt", 1.0, tmp_path) + SILENCE)
        await eventually(lambda: mic.idle, timeout=20)
        await asyncio.sleep(1.0)  # the last utterance ends (gate hangover)
        assert listener.flow.state.value == "idle"

        mic.say(SILENCE + render("help me", "slt", 1.05, tmp_path) + SILENCE)
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
        confirm = str(speaker.renderer.path_for(prompt_text("confirm_help"), speaker.voice))
        await eventually(lambda: confirm in played)
        assert listener.flow._phrase == "救命 (help me)"
    finally:
        await hub.stop()


async def test_the_enrolled_phrase_survives_a_restart(broker: Mosquitto, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    takes = [render("help me", "awb", s, tmp_path) for s in (1.0, 1.1, 0.9)]
    await asyncio.to_thread(EnrolledPhrase("help me", takes).save, (data / TEMPLATES_FILE))
    mic = LiveSource()
    raw = hub_raw(data, broker.port, voice={"listen": True, "engines": "enrolled"})
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, audio_source=mic)
    await hub.start()
    try:
        assert hub.voice.listener is not None
        listener = hub.voice.listener
        mic.say(SILENCE + render("help me", "awb", 1.05, tmp_path) + SILENCE)
        await eventually(lambda: listener.flow.state.value == "asking", timeout=20)
    finally:
        await hub.stop()


async def test_enrolling_on_a_hub_that_does_not_listen_says_what_to_do(
    broker: Mosquitto, tmp_path: Path
) -> None:
    raw = hub_raw(tmp_path / "data", broker.port)
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    try:
        with pytest.raises(ControlError, match="listen = true"):
            await hub.voice.enrol("救命")
    finally:
        await hub.stop()


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 cut short by the SD card"])
async def test_a_damaged_enrolled_phrase_file_does_not_stop_the_hub_from_starting(
    broker: Mosquitto, tmp_path: Path, damage: bytes
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / TEMPLATES_FILE).write_bytes(damage)  # an SD card that lost the file's contents
    mic = LiveSource()
    raw = hub_raw(data, broker.port, voice={"listen": True, "engines": "enrolled"})
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, audio_source=mic)
    await hub.start()  # the hub (and every alarm path) runs; only the phrase is left out
    try:
        assert hub.voice.listener is not None
        assert hub.uplink is not None
        await eventually(hub.uplink.connected.is_set, timeout=10)
    finally:
        await hub.stop()

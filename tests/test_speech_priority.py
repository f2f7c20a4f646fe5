"""The elder's own prompts always go first: centre text waits, gives way when the queue is
full, and is cut short when an alarm needs the speaker."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto
from hub.voice.prompts import PROMPTS, prompt_text
from hub.voice.speech_queue import Kind, Queued, SpeechQueue, Urgency, Utterance
from tests.conftest import HUB_ID, hub_raw
from tests.helpers import Collector, eventually
from tests.test_spine import press

ALARM_SENT = Utterance(Kind.PROMPT, "alarm_sent")
CHECKIN = Utterance(Kind.PROMPT, "checkin_reminder")


def centre(i: int) -> Utterance:
    return Utterance(Kind.CENTRE, f"天气提醒 {i}")


def test_every_prompt_is_elder_feedback_and_the_alarm_ones_go_first() -> None:
    levels = {p: Utterance(Kind.PROMPT, p).urgency for p in PROMPTS}
    assert set(levels.values()) == {Urgency.ALARM, Urgency.ELDER}
    assert levels["alarm_sent"] is Urgency.ALARM and levels["gas_guidance"] is Urgency.ALARM
    assert levels["checkin_reminder"] is Urgency.ELDER
    assert Utterance(Kind.TEXT, "PIN").urgency is Urgency.ELDER


def test_a_full_queue_drops_centre_text_never_the_elders_prompts() -> None:
    queue = SpeechQueue(capacity=4, centre_waiting=4)
    assert all(queue.put(centre(i)).accepted for i in range(4))
    assert not queue.put(centre(4)).accepted  # full: more centre text is refused
    queued = queue.put(ALARM_SENT)
    assert queued == Queued(accepted=True, dropped=(centre(3),))
    assert queue.put(CHECKIN).dropped == (centre(2),)
    assert queue.waiting() == [ALARM_SENT, CHECKIN, centre(0), centre(1)]


def test_prompts_jump_the_centre_text_and_are_not_queued_twice() -> None:
    queue = SpeechQueue()
    queue.put(centre(0))
    queue.put(CHECKIN)
    queue.put(ALARM_SENT)
    assert queue.put(ALARM_SENT).accepted
    assert [queue.pop() for _ in range(4)] == [ALARM_SENT, CHECKIN, centre(0), None]


def test_centre_text_playing_is_cut_short_for_a_prompt_but_a_prompt_is_not() -> None:
    queue = SpeechQueue()
    assert queue.put(ALARM_SENT, playing=centre(0)).interrupt
    assert not queue.put(CHECKIN, playing=ALARM_SENT).interrupt
    assert not queue.put(centre(1), playing=centre(0)).interrupt


def test_at_most_a_few_centre_texts_wait() -> None:
    queue = SpeechQueue(capacity=16, centre_waiting=2)
    assert [queue.put(centre(i)).accepted for i in range(3)] == [True, True, False]


class SlowSpeaker:
    """aplay stand-in: the centre's text plays until cut short; prompts play at once."""

    def __init__(self, prompt_files: set[str]) -> None:
        self.prompt_files = prompt_files
        self.played: list[str] = []
        self.cut: list[str] = []
        self.playing = threading.Event()
        self._release = threading.Event()
        self.closed = False

    def __call__(self, argv: Sequence[str]) -> None:
        path = argv[-1]
        self.played.append(path)
        if path in self.prompt_files:
            return
        self._release.clear()
        self.playing.set()
        if self._release.wait(60):
            self.cut.append(path)
        self.playing.clear()

    def stop(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.closed = True
        self._release.set()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
async def test_a_burst_of_centre_text_never_silences_the_elders_alarm_prompts(
    broker: Mosquitto, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    raw = hub_raw(tmp_path / "data", broker.port, voice={"prompts": True, "rate": 300})
    cfg = parse_config(raw)
    hub = Hub(cfg, pin_factory=MockFactory(), local_raw=raw)
    from hub.voice.prompts import PromptRenderer, Voice

    voice = Voice(cfg.hub.language, cfg.voice.rate, cfg.voice.volume)
    renderer = PromptRenderer(cfg.data_path / "prompts")
    prompt_files = {str(renderer.path_for(prompt_text(p, voice.language), voice)) for p in PROMPTS}
    player = SlowSpeaker(prompt_files)
    hub._player = player
    await hub.start()
    try:
        await hub.uplink.connected.wait()  # subscribed to its commands
        for i in range(50):
            await collector.publish(
                f"pingan/v1/{HUB_ID}/cmd/speak",
                json.dumps({"text": f"第{i}条天气提醒：明天有寒潮"}, ensure_ascii=False),
            )
        await eventually(player.playing.is_set, timeout=20)  # the first centre text plays
        await press(hub)
        alarm_sent = str(renderer.path_for(prompt_text("alarm_sent", voice.language), voice))
        await eventually(lambda: alarm_sent in player.played)
        first_centre = player.played[0]
        assert first_centre not in prompt_files
        assert player.cut == [first_centre]  # cut short for the alarm prompt
        assert player.played.index(alarm_sent) == 1  # before the centre text still waiting
        assert "prompt alarm_sent dropped" not in caplog.text
        assert caplog.text.count("cmd/speak dropped by rate limit") == 47
    finally:
        await hub.stop()
    assert player.closed  # stopping the hub ends what plays

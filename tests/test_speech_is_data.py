"""Speech is data: the centre's text is spoken as words, bounded, cleaned, and leaves nothing
behind; the hub's speech helpers never outlive it."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.sim.broker import Mosquitto
from hub.voice import prompts
from hub.voice.prompts import (
    PROMPTS,
    AplayPlayer,
    EspeakRunner,
    Interrupted,
    PromptRenderer,
    Speaker,
    SpeechError,
    TokenBucket,
    Voice,
    espeak_argv,
    fix_wav_sizes,
    prompt_text,
)
from tests.conftest import HUB_ID, hub_raw
from tests.helpers import Collector, eventually
from tests.test_voice_prompts import Recorder, wav

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


class KeepingPlayer:
    """aplay stand-in that keeps a copy of each WAV (the hub deletes one-off ones)."""

    def __init__(self, into: Path) -> None:
        self.into = into
        self.played: list[Path] = []

    def __call__(self, argv: list[str]) -> None:
        copy = self.into / f"played-{len(self.played)}.wav"
        shutil.copyfile(argv[-1], copy)
        self.played.append(copy)


def test_the_text_goes_to_espeak_on_stdin_and_never_on_its_command_line(tmp_path: Path) -> None:
    tts = Recorder()
    speaker = Speaker(PromptRenderer(tmp_path / "cache", runner=tts), player=Recorder())
    assert speaker.speak_centre_text("-f /etc/shadow -w /tmp/owned.wav", now=0.0)
    [argv] = tts.calls
    assert argv == espeak_argv(Voice())
    assert "--stdin" in argv and not any("shadow" in a or "owned" in a for a in argv)
    assert tts.stdin == [b"-f /etc/shadow -w /tmp/owned.wav"]


@needs_espeak
def test_a_weather_warning_that_starts_with_a_minus_is_spoken_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    player = KeepingPlayer(out)
    speaker = Speaker(PromptRenderer(tmp_path / "cache"), Voice("cmn"), player=player)
    assert speaker.speak_centre_text("-5°C 寒潮预警，请注意保暖", now=0.0)
    assert speaker.speak_centre_text("5°C 寒潮预警，请注意保暖", now=1.0)
    with_minus, without = (seconds_of(p) for p in player.played)
    # Every word of it is heard, as without the minus: nothing is lost to option parsing
    # (passed as an argument, espeak-ng took "-5" for an option and said nothing at all).
    assert with_minus >= without > 2.0


@needs_espeak
def test_option_looking_text_is_read_out_not_obeyed(tmp_path: Path) -> None:
    secret = tmp_path / "big.txt"
    secret.write_text("这是一个很长的文件。" * 400_000)  # ~12 MB: hours of speech if read
    target = tmp_path / "written.wav"
    out = tmp_path / "out"
    out.mkdir()
    player = KeepingPlayer(out)
    cache = tmp_path / "cache"
    speaker = Speaker(PromptRenderer(cache), Voice("en"), player=player)
    assert speaker.speak_centre_text(f"-f {secret}", now=0.0)
    assert speaker.speak_centre_text(f"-w {target} hello", now=1.0)
    read_file, write_file = (seconds_of(p) for p in player.played)
    assert 0.5 < read_file < 20 and 0.5 < write_file < 20  # the words, not the file
    assert not target.exists()
    assert list(cache.iterdir()) == []  # one-off sentences are deleted once played


def test_four_mebibytes_of_text_are_refused_before_anything_is_rendered(tmp_path: Path) -> None:
    tts, player = Recorder(), Recorder()
    cache = tmp_path / "cache"
    speaker = Speaker(PromptRenderer(cache, runner=tts), player=player)
    assert not speaker.speak_centre_text("-f /dev/zero " + "警" * (4 * 1024 * 1024), now=0.0)
    assert tts.calls == [] and player.calls == []
    assert not cache.exists() or list(cache.iterdir()) == []


def test_control_characters_in_centre_text_never_reach_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tts = Recorder()
    speaker = Speaker(PromptRenderer(tmp_path, runner=tts), player=Recorder())
    forged = "台风\n2026-12-01 ERROR hub.app: ALARM cancelled\x1b[2J\u202egnirts\r\x00"
    assert speaker.speak_centre_text(forged, now=0.0)
    text = caplog.text
    assert all(ch == "\n" or ch.isprintable() for ch in text)
    assert text.count("\n") == len(caplog.records)  # one line per record: nothing forged
    assert "\x1b" not in tts.stdin[0].decode() and "\u202e" not in tts.stdin[0].decode()


def test_a_render_that_writes_without_end_is_stopped_and_leaves_nothing(tmp_path: Path) -> None:
    runner = EspeakRunner()
    with pytest.raises(SpeechError, match="more than"):
        runner(["yes", "RIFF"], b"")  # writes forever, like espeak-ng reading a device file

    def endless(argv: list[str], text: bytes) -> bytes:
        return runner(["yes", "RIFF"], text)

    cache = tmp_path / "cache"
    with pytest.raises(SpeechError):
        PromptRenderer(cache, runner=endless).render("天气", Voice())
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_render_that_hangs_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts, "RENDER_TIMEOUT_S", 0.3)
    runner = EspeakRunner()
    with pytest.raises(SpeechError, match="ran past"):
        runner(["sleep", "30"], b"x")
    assert not runner._running  # killed and reaped


def test_what_a_crash_left_in_the_prompt_cache_is_removed_at_start(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in (".abc.wav.1234.tmp", "0123456789abcdef0123456789abcdef.wav", "stray"):
        (cache / name).write_bytes(b"x" * 1000)
    speaker = Speaker(PromptRenderer(cache, runner=Recorder()), Voice("yue"), player=Recorder())
    speaker.prerender()
    wanted = {speaker.renderer.path_for(prompt_text(p, "yue"), speaker.voice) for p in PROMPTS}
    assert set(cache.iterdir()) == wanted


def test_a_wav_from_a_pipe_gets_its_real_sizes() -> None:
    fixed = fix_wav_sizes(wav(samples=50))
    assert int.from_bytes(fixed[4:8], "little") == len(fixed) - 8
    assert int.from_bytes(fixed[40:44], "little") == 100
    with pytest.raises(SpeechError):
        fix_wav_sizes(b"-f: no such option")


def test_stopping_the_speaker_ends_what_is_playing(tmp_path: Path) -> None:
    player = AplayPlayer()
    speaker = Speaker(PromptRenderer(tmp_path, runner=Recorder()), player=player)
    playing = threading.Thread(target=player, args=(["sleep", "60"],))
    playing.start()
    deadline = time.monotonic() + 10
    while not player._running and time.monotonic() < deadline:
        time.sleep(0.01)
    [child] = list(player._running)
    speaker.close()
    playing.join(10)
    assert not playing.is_alive() and child.poll() is not None
    with pytest.raises(SpeechError):
        player(["sleep", "1"])  # closed: starts nothing more


def test_an_elder_prompt_cuts_a_render_short(tmp_path: Path) -> None:
    runner = EspeakRunner()
    speaker = Speaker(PromptRenderer(tmp_path, runner=runner), player=Recorder())
    failures: list[BaseException] = []

    def render() -> None:
        try:
            runner(["sleep", "60"], b"x")
        except SpeechError as exc:
            failures.append(exc)

    rendering = threading.Thread(target=render)
    rendering.start()
    deadline = time.monotonic() + 10
    while not runner._running and time.monotonic() < deadline:
        time.sleep(0.01)
    speaker.interrupt()
    rendering.join(10)
    assert [type(f) for f in failures] == [Interrupted]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_a_player_dies_with_a_hub_that_is_killed(tmp_path: Path) -> None:
    script = (
        "import threading, time\n"
        "from hub.voice.prompts import AplayPlayer\n"
        "p = AplayPlayer()\n"
        "threading.Thread(target=p, args=(['sleep', '300'],), daemon=True).start()\n"
        "while not p._running: time.sleep(0.01)\n"
        "print(next(iter(p._running)).pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    hub = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert hub.stdout is not None
    with hub.stdout:
        pid = int(hub.stdout.readline())
    # setpriv sets the death signal and then execs the player: wait until it has (the
    # same pid now runs `sleep`); killed before that, under CI load, the player was
    # orphaned (a window of about a millisecond after each start, left as it is).
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/comm").read_text().strip() != "sleep":
        assert time.monotonic() < deadline, "the player never started"
        time.sleep(0.01)
    os.kill(hub.pid, signal.SIGKILL)
    hub.wait()

    def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state in ("Z", "X")  # dead (a zombie waits for its new parent to reap it)

    deadline = time.monotonic() + 10
    while not gone():
        assert time.monotonic() < deadline, "the player outlived the hub"
        time.sleep(0.05)


def test_the_rate_limit_still_holds_for_admitted_text(tmp_path: Path) -> None:
    speaker = Speaker(
        PromptRenderer(tmp_path, runner=Recorder()),
        player=Recorder(),
        bucket=TokenBucket(capacity=1, refill_per_s=0.0, tokens=1),
    )
    assert speaker.admit_centre_text("第一条", now=0.0) == "第一条"
    assert speaker.admit_centre_text("第二条", now=1.0) is None


@needs_espeak
async def test_the_centre_cannot_fill_the_disk_or_forge_the_log_through_cmd_speak(
    broker: Mosquitto, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    out.mkdir()
    player = KeepingPlayer(out)
    raw = hub_raw(tmp_path / "data", broker.port, voice={"prompts": True, "rate": 300})
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, player=player)
    await hub.start()
    try:
        await hub.uplink.connected.wait()
        speaker = hub.speech.speaker
        assert speaker is not None
        cache = speaker.renderer.cache_dir
        topic = f"pingan/v1/{HUB_ID}/cmd/speak"
        huge = json.dumps({"text": "-f /dev/urandom " + "x" * (4 * 1024 * 1024)})
        await collector.publish(topic, huge)
        forged = "寒潮\n2026-12-01 00:00:00 ERROR hub.app: alarm cancelled\x1b[2J"
        await collector.publish(topic, json.dumps({"text": forged}, ensure_ascii=False))
        await eventually(lambda: len(player.played) == 1)  # only the second is spoken
        assert seconds_of(player.played[0]) < 20
        assert re.search(r"cmd/speak.*ignored: payload of \d+ bytes exceeds 16384", caplog.text)
        fixed = {speaker.renderer.path_for(prompt_text(p, "cmn"), speaker.voice) for p in PROMPTS}
        await eventually(lambda: set(cache.iterdir()) == fixed)  # the one-off WAV is gone
        assert all(ch == "\n" or ch.isprintable() for ch in caplog.text)
        assert "\nERROR hub.app: alarm cancelled" not in "\n".join(
            r.getMessage() for r in caplog.records
        )
    finally:
        await hub.stop()

"""The voice engines run in a process of their own (issue 23): the hub's memory does not
depend on the models, and the engines' death touches no alarm path."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.config import parse_config
from hub.errors import VoiceError
from hub.sim.broker import Mosquitto
from hub.voice.capture import LiveSource
from hub.voice.corpus import render
from hub.voice.engine_child import Engines
from hub.voice.engine_proc import EngineProcessError, SpotterProcess
from hub.voice.engines import MultiSpotter
from hub.voice.spotter import Detection
from tests.conftest import hub_raw
from tests.helpers import Collector, eventually
from tests.test_spine import press

SILENCE = b"\x00\x00" * 16000  # 1 s
HEAVY = ("numpy", "onnxruntime", "pocketsphinx", "vosk", "faster_whisper", "pypinyin")

# A hub started in a fresh interpreter; prints the heavy modules it has loaded.
HUB_IMPORTS = """
import asyncio, json, sys
from pathlib import Path
from gpiozero.pins.mock import MockFactory
from hub.app import Hub
from hub.config import parse_config
from hub.voice.capture import LiveSource
HEAVY = {heavy!r}

async def main() -> None:
    raw = {{"hub": {{"id": "IMP-1", "data_dir": {data!r}}},
           "mqtt": {{"host": "127.0.0.1", "port": {port}}},
           "gpio": {{"pin_factory": "mock"}}, "voice": {voice!r}}}
    after_import = [m for m in HEAVY if m in sys.modules]
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw,
              audio_source=LiveSource())
    await hub.start()
    listening = hub.voice.listener is not None
    await hub.stop()
    print(json.dumps({{"import": after_import, "run": [m for m in HEAVY if m in sys.modules],
                      "listening": listening}}))

asyncio.run(main())
"""


def hub_modules(tmp_path: Path, port: int, voice: dict[str, object]) -> dict[str, object]:
    script = HUB_IMPORTS.format(heavy=HEAVY, data=str(tmp_path / "data"), port=port, voice=voice)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_hub_that_does_not_listen_never_imports_a_voice_model(
    broker: Mosquitto, tmp_path: Path
) -> None:
    seen = hub_modules(tmp_path, broker.port, {"prompts": False, "listen": False})
    assert seen == {"import": [], "run": [], "listening": False}


def test_a_listening_hub_leaves_the_models_to_the_engines_process(
    broker: Mosquitto, tmp_path: Path
) -> None:
    pytest.importorskip("pocketsphinx")
    voice = {"prompts": False, "listen": True, "engines": "pocketsphinx,enrolled"}
    seen = hub_modules(tmp_path, broker.port, voice)
    assert seen == {"import": [], "run": [], "listening": True}


# -- supervision -------------------------------------------------------------------------

speech = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("sox") is None,
    reason="flite and sox (Debian packages) make the test speech",
)


async def listening_hub(tmp_path: Path, port: int, mic: LiveSource) -> Hub:
    raw = hub_raw(
        tmp_path / "data", port, voice={"listen": True, "confirm_s": 30.0, "prompts": False}
    )
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, audio_source=mic)
    await hub.start()
    return hub


def engines_process(hub: Hub) -> SpotterProcess:
    listener = hub.voice.listener
    assert listener is not None
    [child] = [e for e in listener.spotter.engines if isinstance(e, SpotterProcess)]
    return child


@speech
async def test_the_engines_process_killed_is_started_again_and_sos_never_waits_for_it(
    broker: Mosquitto, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("pocketsphinx")
    mic = LiveSource()
    hub = await listening_hub(tmp_path, broker.port, mic)
    try:
        child = engines_process(hub)
        first = child.pid
        assert first is not None and first != os.getpid()
        os.kill(first, signal.SIGKILL)
        # The button raises its alarm with the engines dead.
        await press(hub)
        [sos] = await collector.wait_event("sos", timeout=10)
        assert sos["source"]["protocol"] != "voice"
        # Noticed at once (no speech needed), logged, started again after the backoff.
        await eventually(lambda: child.restarts == 1, timeout=30)
        assert child.pid not in (None, first)
        assert any(
            "voice engines process" in r.getMessage() and r.levelno == logging.ERROR
            for r in caplog.records
        )
        # And it hears a call for help.
        mic.say(SILENCE + render("please help me", "slt", 1.0, tmp_path) + SILENCE)
        listener = hub.voice.listener
        assert listener is not None
        await eventually(lambda: listener.flow.state.value == "asking", timeout=30)
    finally:
        await hub.stop()
    assert child.pid is None  # stopped and reaped with the hub


# -- the protocol, against children that misbehave --------------------------------------


def fake_child(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


READY = 'import sys, json, time\nprint(json.dumps({"protocol": 1, "ready": True, "name": "x"}), flush=True)\n'


def test_a_child_that_hangs_is_killed_and_a_frame_reaches_no_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    child = SpotterProcess(fake_child(tmp_path, READY + "time.sleep(60)\n"), reply_timeout_s=0.5)
    proc = child._proc
    assert proc is not None
    with caplog.at_level(logging.ERROR):
        assert child.feed(b"\x00" * 960) is None
    assert proc.poll() is not None  # killed and reaped
    assert child.pid is None
    assert any("no reply in" in r.getMessage() for r in caplog.records)
    assert child.feed(b"\x00" * 960) is None  # within the backoff: not started again
    child.close()
    assert child.restarts <= 1


def test_a_child_that_writes_garbage_is_taken_for_dead(tmp_path: Path) -> None:
    body = READY + "sys.stdin.buffer.read(5); print('hello there', flush=True); time.sleep(60)\n"
    child = SpotterProcess(fake_child(tmp_path, body), reply_timeout_s=5)
    assert child.finish() is None
    assert child.pid is None
    child.close()


def test_a_child_of_another_protocol_version_or_that_refuses_does_not_start(
    tmp_path: Path,
) -> None:
    other = 'import json\nprint(json.dumps({"protocol": 2, "ready": True}), flush=True)\n'
    with pytest.raises(EngineProcessError, match="protocol 2"):
        SpotterProcess(fake_child(tmp_path, other))
    refuse = (
        'import json\nprint(json.dumps({"protocol": 1, "ready": False, "error": "no model"}))\n'
    )
    with pytest.raises(EngineProcessError, match="no model"):
        SpotterProcess(fake_child(tmp_path, refuse))
    with pytest.raises(EngineProcessError, match="no ready line"):
        SpotterProcess(fake_child(tmp_path, "import sys\nsys.exit(3)\n"))


def test_enrolling_with_the_engines_dead_says_so(tmp_path: Path) -> None:
    child = SpotterProcess(fake_child(tmp_path, READY + "sys.exit(0)\n"), reply_timeout_s=2)
    with pytest.raises(VoiceError, match="not running"):
        child.enrol("help me", [b"\x00" * 3200] * 3, 0.0)
    child.close()


# -- the child's side, without a process --------------------------------------------------


class Hears:
    """A fake engine: hears a help phrase on a frame of b"H", yes on b"Y", no on b"N"."""

    name = "fake"

    def __init__(self) -> None:
        self.resets = 0

    def feed(self, frame: bytes) -> Detection | None:
        return Detection("help", 1.0, self.name) if frame == b"H" else None

    def finish(self) -> Detection | None:
        return None

    def reset(self) -> None:
        self.resets += 1

    def feed_answer(self, frame: bytes) -> bool | None:
        return {b"Y": True, b"N": False}.get(frame)

    def confirms_no(self) -> bool:
        return True

    def reset_answer(self) -> None:
        self.resets += 1


def test_the_child_answers_each_request_as_the_engines_in_the_hub_did(tmp_path: Path) -> None:
    engine = Hears()
    engines = Engines(MultiSpotter([engine]), [engine], tmp_path)
    assert engines.handle(b"F", b".") == {"d": None}
    assert engines.handle(b"F", b"H") == {"d": ["help", 1.0, "fake"]}
    assert engines.handle(b"A", b".") == {"a": None}
    assert engines.handle(b"A", b"N") == {"a": False}
    assert engines.handle(b"N", b"") == {"no": True}
    assert engines.handle(b"A", b"Y") == {"a": True}
    assert engines.handle(b"N", b"") == {"no": False}  # the yes cleared the heard "no"
    assert "error" in engines.handle(b"?", b"")

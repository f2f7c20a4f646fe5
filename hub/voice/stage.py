"""An utterance stage: a recogniser in its own process that judges short utterances.

The hub's process stays small (~67 MiB listening; the other engines have a process of
their own, hub/voice/engine_proc.py): a large recogniser (Whisper base for Mandarin,
~250-430 MiB) runs in a child process started only when an engine needs it, and is
handed only utterances of 0.3-4 s that the energy gate delimited (a call for help is
short; television and conversation are long and never reach it, so it costs nothing in
silence or talk). The hub keeps listening while the child works.

The protocol, so that a deployment can put any keyword model in the image (sherpa-onnx's
Chinese KWS, a vendor's engine) and name its command in `[voice] stage_command`, without a
change to the hub:

- the hub starts the command (no shell) with PINGAN_HELP_PHRASES in its environment (the
  configured phrases, comma-separated) and writes utterances to its stdin, each as a 4-byte
  little-endian length followed by that many bytes of 16 kHz mono s16le audio;
- the command first writes one line of JSON, {"ready": true, "name": "..."} (or
  {"ready": false, "error": "..."} and exits), then one line per utterance, in order:
  {"phrase": "救命" or null, "confidence": 0.0-1.0}. Anything else on stdout is an error;
  stderr goes to the hub's log.
- the command exits when its stdin closes.

`serve` implements the command side for a Python judge; hub/voice/stage_whisper.py is the
built-in one. The hub side is `UtteranceStage`, a Spotter.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from hub.errors import VoiceError
from hub.voice.spotter import MIN_UTTERANCE_S, SAMPLE_RATE, Detection

_LOGGER = logging.getLogger(__name__)

STAGE_MAX_S = 4.0  # longer than a call for help: talk or television, not judged
PHRASES_ENV = "PINGAN_HELP_PHRASES"
# How many utterances may wait for the child. A call for help is at most a few utterances;
# while a Pi works on one (seconds), a chatty room must not queue minutes of audio.
MAX_WAITING = 3
# How long a starting child may take to say it is ready: loading Whisper base takes ~1 s
# here and perhaps 10-20 s on a Pi 3 from a slow SD card.
READY_TIMEOUT_S = 120.0
# A child that died is started again on the next utterance, at most this often, so a
# command that always fails costs one try a minute, not one per utterance.
RESTART_BACKOFF_S = 60.0
_LENGTH = struct.Struct("<I")
# The kernel's out-of-memory killer takes the process with the highest score: the most.
OOM_SCORE_ADJ = 1000


class StageError(VoiceError):
    """The stage's command could not start or broke the protocol."""


Judge = Callable[[bytes], tuple[str | None, float]]


class UtteranceStage:
    """A Spotter that hands each short utterance to a child process and reports its verdicts.

    feed() and finish() never wait for the child: a verdict arrives later and is picked up by
    `poll()` (the listener calls it on every frame) or by the next feed()/finish().
    """

    def __init__(
        self,
        argv: Sequence[str],
        phrases: Sequence[str],
        *,
        name: str = "stage",
        max_s: float = STAGE_MAX_S,
        ready_timeout_s: float = READY_TIMEOUT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not argv:
            raise StageError("voice.stage_command is empty")
        self.argv = list(argv)
        self.phrases = list(phrases)
        self.name = name
        self.monotonic = monotonic
        self.ready_timeout_s = ready_timeout_s
        self._min_bytes = int(MIN_UTTERANCE_S * SAMPLE_RATE) * 2
        self._max_bytes = int(max_s * SAMPLE_RATE) * 2
        self._audio = bytearray()
        self._too_long = False
        self._verdicts: queue.Queue[Detection | None] = queue.Queue()
        self._waiting: queue.Queue[bytes | None] = queue.Queue(MAX_WAITING)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = float("-inf")
        self._threads: list[threading.Thread] = []
        self.sent = 0  # utterances handed to the child
        self.judged = 0  # utterances the child has answered
        self._start()  # a command that cannot start at all is an error at load time

    # -- the child ---------------------------------------------------------------------

    def _start(self) -> None:
        self._started_at = self.monotonic()
        env = {**os.environ, PHRASES_ENV: ",".join(self.phrases)}
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise StageError(f"cannot start {self.argv[0]}: {exc}") from exc
        assert proc.stdout is not None and proc.stderr is not None
        errors = threading.Thread(target=_log_stderr, args=(proc.stderr, self.name), daemon=True)
        errors.start()
        ready = _read_line(proc.stdout, self.ready_timeout_s)
        if not ready or not ready.get("ready"):
            proc.kill()
            proc.wait()
            errors.join(5)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
            why = (ready or {}).get("error") or "no ready line"
            raise StageError(f"{self.name} stage ({self.argv[0]}) did not start: {why}")
        _LOGGER.info("%s stage ready: %s", self.name, ready.get("name", self.argv[0]))
        self._proc = proc
        self._waiting = queue.Queue(MAX_WAITING)
        self._threads = [
            errors,
            threading.Thread(target=self._write_loop, args=(proc, self._waiting), daemon=True),
            threading.Thread(target=self._read_loop, args=(proc,), daemon=True),
        ]
        for thread in self._threads[1:]:
            thread.start()

    def _write_loop(
        self, proc: subprocess.Popen[bytes], waiting: queue.Queue[bytes | None]
    ) -> None:
        assert proc.stdin is not None
        while (pcm := waiting.get()) is not None:
            try:
                proc.stdin.write(_LENGTH.pack(len(pcm)) + pcm)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                break  # the child died: the reader sees it and logs it
        with contextlib.suppress(OSError):
            proc.stdin.close()

    def _read_loop(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                verdict = json.loads(raw)
                phrase = verdict.get("phrase")
                confidence = float(verdict.get("confidence", 1.0))
            except (ValueError, AttributeError, TypeError):
                _LOGGER.error("%s stage wrote something that is not a verdict", self.name)
                continue
            self.judged += 1
            if phrase:
                self._verdicts.put(Detection(str(phrase), round(confidence, 3), self.name))
        proc.stdout.close()
        code = proc.wait()
        if self._proc is not proc:  # closed on purpose
            return
        _LOGGER.error(
            "%s stage exited (code %s); started again on the next utterance", self.name, code
        )

    def _alive(self) -> bool:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return True
            if self.monotonic() - self._started_at < RESTART_BACKOFF_S:
                return False
            try:
                self._start()
            except StageError as exc:
                _LOGGER.error("%s", exc)
                return False
            return True

    # -- the Spotter interface ------------------------------------------------------------

    def feed(self, frame: bytes) -> Detection | None:
        """Collect the utterance (only up to the longest judged); report a verdict that came."""
        if len(self._audio) + len(frame) > self._max_bytes:
            self._too_long = True
        elif not self._too_long:
            self._audio += frame
        return self.poll()

    def finish(self) -> Detection | None:
        """The utterance ended: hand it to the child if it is short enough, without waiting."""
        audio, too_long = bytes(self._audio), self._too_long
        self.reset()
        if not too_long and len(audio) >= self._min_bytes and self._alive():
            try:
                self._waiting.put_nowait(audio)
                self.sent += 1
            except queue.Full:
                _LOGGER.warning("%s stage is behind: an utterance was not judged", self.name)
        return self.poll()

    def poll(self) -> Detection | None:
        """A verdict the child has given since the last call, if any."""
        try:
            return self._verdicts.get_nowait()
        except queue.Empty:
            return None

    def reset(self) -> None:
        """Forget the partial utterance (verdicts already asked for still come)."""
        self._audio = bytearray()
        self._too_long = False

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every utterance handed over is judged (bench and tests)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.judged >= self.sent:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the child (its stdin closes; it is killed if it does not exit)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(queue.Full):
            self._waiting.put_nowait(None)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(5)


def _read_line(stream: IO[bytes], timeout_s: float) -> dict[str, Any] | None:
    """One JSON line from a child within a time limit (a thread: pipes have no timeout)."""
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not box or not box[0]:
        return None
    try:
        line = json.loads(box[0])
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


def _log_stderr(stream: IO[bytes], name: str) -> None:
    for line in stream:
        text = line.decode(errors="replace").rstrip()
        if text:
            _LOGGER.warning("%s stage: %s", name, text[:300])
    stream.close()


# -- the command side ------------------------------------------------------------------


def serve(
    judge: Judge, name: str, stdin: IO[bytes] | None = None, stdout: IO[str] | None = None
) -> int:
    """Run the command side of the protocol: say ready, then judge each utterance until stdin
    closes. `judge` returns (phrase or None, confidence)."""
    killed_first()
    src = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout
    out.write(json.dumps({"ready": True, "name": name}) + "\n")
    out.flush()
    while True:
        head = src.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return 0
        (size,) = _LENGTH.unpack(head)
        pcm = src.read(size)
        if len(pcm) < size:
            return 0
        phrase, confidence = judge(pcm)
        out.write(
            json.dumps({"phrase": phrase, "confidence": confidence}, ensure_ascii=False) + "\n"
        )
        out.flush()


def killed_first() -> None:
    """Ask the kernel to kill this process before any other when memory runs out.

    The stage runs in the hub's service (one cgroup, one MemoryMax): if the two together
    outgrow it, the recogniser must be what goes, never the hub that raises alarms. It is
    started again on the next utterance, at most once a minute.
    """
    try:
        Path("/proc/self/oom_score_adj").write_text(f"{OOM_SCORE_ADJ}\n")
    except OSError as exc:  # not Linux, or /proc hidden: the hub is then not protected
        _LOGGER.warning("could not mark the stage to be killed first: %s", exc)


def refuse(error: str, stdout: IO[str] | None = None) -> int:
    """The command side when it cannot start: say why (the hub logs it) and exit non-zero."""
    out = stdout if stdout is not None else sys.stdout
    out.write(json.dumps({"ready": False, "error": error}) + "\n")
    out.flush()
    return 1

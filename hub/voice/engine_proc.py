"""The spotting engines in their own process, so the hub's memory does not depend on them.

The hub keeps the microphone, the energy gate and the confirmation flow (hub/voice/
listen.py); what needs the models -- pocketsphinx, the neural help check (onnxruntime),
vosk, the enrolled phrase's embeddings (numpy) -- runs in a child started only when
`[voice] listen` is on: `python -m hub.voice.engine_child`. The hub's side is
`SpotterProcess`, a Spotter (and AnswerSpotter) that hands each gated frame over and waits
for the verdict: the child holds the engines' state, so the hub's listener works as it
did when they ran on its spotter thread. Only audio the gate let through crosses (at most
32 KB/s while someone talks, nothing in silence); only verdicts come back.

The child is supervised: when it dies (a crash, the OOM killer), or hangs or breaks the
protocol (then it is killed), a supervisor thread logs it and starts it again after a
backoff (1 s, doubling to a minute; back to 1 s after 5 minutes of good service); frames
meanwhile reach no engine. Its death touches nothing else: the buttons, sensors and every
alarm path run in the hub, and the child asks the kernel to kill it first when memory
runs out (hub/voice/stage.py's `killed_first`). The Mandarin stage (whisper, or an
image's `stage_command`) stays a process of its own, started by the hub as before.

Protocol, version 1 (the child's side is hub/voice/engine_child.py):

- argv: `--data-dir DIR --voice JSON` (the [voice] section); the child writes one JSON
  line, {"protocol": 1, "ready": true, "name": "pocketsphinx+enrolled", "answers": true}
  or {"protocol": 1, "ready": false, "error": "..."} (and exits);
- then for each request on stdin -- one opcode byte, a 4-byte little-endian length, that
  many bytes -- one JSON line on stdout, in order:
  F frame -> {"d": [phrase, confidence, engine] or null}  (feed)
  E       -> {"d": ...}                                   (finish: the utterance ended)
  R       -> {}                                           (reset)
  A frame -> {"a": true, false or null}                   (feed_answer, while asking)
  N       -> {"no": bool}                                 (confirms_no)
  r       -> {}                                           (reset_answer)
  T header JSON line + takes -> {"phrase", "takes", "name"}   (enrol: templates saved)
  A reply may carry "error" (logged by the hub); stderr is the child's log.
- the child exits when its stdin closes. Anything it prints to stdout by accident (a
  library's banner) goes to stderr: the protocol has its own descriptor.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hub.errors import VoiceError
from hub.voice.spotter import Detection

if TYPE_CHECKING:
    from hub.config import VoiceSection

_LOGGER = logging.getLogger(__name__)

PROTOCOL = 1
# Engines that run in this process's child (the stages have their own, hub/voice/stage.py).
IN_CHILD = ("pocketsphinx", "vosk", "enrolled")
HEAD = struct.Struct("<cI")
# Loading pocketsphinx and the neural check takes ~1 s here, perhaps 10-20 s on a Pi Zero
# reading from a slow SD card.
READY_TIMEOUT_S = 120.0
# A verdict takes milliseconds (a second pass: ~0.1 s here, a few on a Pi Zero); a child
# that takes this long is hung, and is killed.
REPLY_TIMEOUT_S = 30.0
ENROL_TIMEOUT_S = 120.0
RESTART_MIN_S = 1.0
RESTART_MAX_S = 60.0
# A child that ran this long before dying starts again after the shortest backoff.
STABLE_S = 300.0


class EngineProcessError(VoiceError):
    """The engines' process could not start, or broke the protocol."""


def child_argv(voice: VoiceSection, data_path: Path) -> list[str]:
    """The command of the engines' process for this [voice] section."""
    section = json.dumps(dataclasses.asdict(voice), ensure_ascii=False)
    return [
        sys.executable,
        "-m",
        "hub.voice.engine_child",
        *("--data-dir", str(data_path), "--voice", section),
    ]


class SpotterProcess:
    """A Spotter and AnswerSpotter whose engines run in a supervised child process.

    Every call comes from the listener's spotter thread, except `enrol` (a worker thread)
    and `close`: a lock keeps one request in flight. A supervisor thread waits on the
    child: when it exits (a crash, the kernel's OOM killer, or killed by a call that
    found it hung or talking nonsense) it is logged and started again after the backoff,
    loaded before the next phrase rather than while it is said. Calls meanwhile get no
    verdict; they never start a process themselves.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        ready_timeout_s: float = READY_TIMEOUT_S,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        self.argv = list(argv)
        self.ready_timeout_s = ready_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.name = "engines"
        self.answers = False  # whether an engine in the child hears yes/no
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: _Lines | None = None
        self._started_at = 0.0
        self._backoff = RESTART_MIN_S
        self._closing = threading.Event()
        # Engines that cannot load at all are an error at start-up.
        self._install(*self._launch())
        self._supervisor = threading.Thread(
            target=self._supervise, name="voice-engines", daemon=True
        )
        self._supervisor.start()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (tests, the bench)."""
        proc = self._proc
        return proc.pid if proc is not None else None

    # -- the child ---------------------------------------------------------------------

    def _launch(self) -> tuple[subprocess.Popen[bytes], _Lines, dict[str, Any]]:
        """Start the child and wait for its ready line (touches nothing shared)."""
        try:
            proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise EngineProcessError(f"cannot start the voice engines: {exc}") from exc
        assert proc.stderr is not None and proc.stdout is not None
        threading.Thread(target=_log_stderr, args=(proc.stderr,), daemon=True).start()
        reader = _Lines(proc.stdout.fileno())
        try:
            ready = json.loads(reader.readline(self.ready_timeout_s))
        except (OSError, ValueError, EOFError, TimeoutError) as exc:
            ready = {"error": f"no ready line ({exc or type(exc).__name__})"}
        if not isinstance(ready, dict) or not ready.get("ready"):
            _stop(proc, kill=True)
            why = ready.get("error") if isinstance(ready, dict) else "a bad ready line"
            raise EngineProcessError(f"the voice engines did not start: {why}")
        if ready.get("protocol") != PROTOCOL:
            _stop(proc, kill=True)
            raise EngineProcessError(
                f"the voice engines speak protocol {ready.get('protocol')}, not {PROTOCOL}"
            )
        return proc, reader, ready

    def _install(
        self, proc: subprocess.Popen[bytes], reader: _Lines, ready: dict[str, Any]
    ) -> None:
        self._proc, self._reader = proc, reader
        self._started_at = time.monotonic()
        self.name = str(ready.get("name") or "engines")
        self.answers = bool(ready.get("answers"))
        _LOGGER.info("voice engines ready in process %d: %s", proc.pid, self.name)

    def _supervise(self) -> None:
        """Wait on the child; when it is gone, log it and start it again after a backoff."""
        while not self._closing.is_set():
            proc = self._proc
            if proc is not None:
                proc.wait()
                with self._lock:
                    if self._proc is proc:  # gone on its own: no call has noticed yet
                        self._gone(proc, "exited")
            if self._closing.wait(self._backoff_wait()):
                return
            try:
                launched = self._launch()
            except EngineProcessError as exc:
                _LOGGER.error("%s; trying again in %.0f s", exc, self._backoff)
                self._started_at = time.monotonic()
                continue
            with self._lock:
                if self._closing.is_set():
                    _stop(launched[0], kill=True)
                    return
                self._install(*launched)
                self.restarts += 1

    def _backoff_wait(self) -> float:
        wait = self._backoff
        self._backoff = min(self._backoff * 2, RESTART_MAX_S)
        return wait

    def _gone(self, proc: subprocess.Popen[bytes], why: str) -> None:
        """The child failed: kill and reap it and say so (the supervisor starts another).
        Called with the lock held."""
        self._proc = self._reader = None
        _stop(proc, kill=True)
        if self._closing.is_set():
            return
        if time.monotonic() - self._started_at >= STABLE_S:
            self._backoff = RESTART_MIN_S
        _LOGGER.error(
            "voice engines process %d failed (%s, exit code %s): started again in %.0f s; "
            "the buttons and every other alarm path are not affected",
            proc.pid,
            why,
            proc.returncode,
            self._backoff,
        )

    def _call(self, op: bytes, payload: bytes = b"", timeout_s: float | None = None) -> Any:
        """One request and its reply (a dict), or None when the child is not there."""
        with self._lock:
            proc, reader = self._proc, self._reader
            if proc is None or reader is None or proc.stdin is None:
                return None
            try:
                proc.stdin.write(HEAD.pack(op, len(payload)) + payload)
                proc.stdin.flush()
                reply = json.loads(reader.readline(timeout_s or self.reply_timeout_s))
                if not isinstance(reply, dict):
                    raise ValueError("a reply that is not an object")
            except (OSError, ValueError, EOFError, TimeoutError) as exc:
                self._gone(proc, str(exc) or type(exc).__name__)
                return None
        if reply.get("error"):
            _LOGGER.error("voice engines: %s", str(reply["error"])[:300])
        return reply

    # -- the Spotter and AnswerSpotter interfaces ----------------------------------------

    def feed(self, frame: bytes) -> Detection | None:
        """Hand a frame to the engines; their detection, if any."""
        return _detection(self._call(b"F", frame))

    def finish(self) -> Detection | None:
        """The utterance ended: the engines decide on what is pending."""
        return _detection(self._call(b"E"))

    def reset(self) -> None:
        """The engines forget partial audio."""
        self._call(b"R")

    def feed_answer(self, frame: bytes) -> bool | None:
        """A frame while the hub asks: True for yes (or a help phrase), False for no."""
        reply = self._call(b"A", frame)
        answer = reply.get("a") if reply is not None else None
        return answer if isinstance(answer, bool) else None

    def confirms_no(self) -> bool:
        """Whether an engine that heard "no" in this utterance stands by it."""
        reply = self._call(b"N")
        return bool(reply.get("no")) if reply is not None else False

    def reset_answer(self) -> None:
        """The engines forget a partial answer."""
        self._call(b"r")

    def enrol(self, label: str, takes: Sequence[bytes], threshold: float) -> tuple[str, int]:
        """Make the elder's phrase from the takes in the child (saved in the data dir, only
        features) and start matching it; (phrase, number of templates)."""
        header = json.dumps(
            {"label": label, "threshold": threshold, "takes": [len(t) for t in takes]}
        ).encode()
        reply = self._call(b"T", header + b"\n" + b"".join(takes), ENROL_TIMEOUT_S)
        if reply is None:
            raise VoiceError("the voice engines are not running; enrol again in a minute")
        if reply.get("error"):
            raise VoiceError(f"enrolment failed: {reply['error']}")
        self.name = str(reply.get("name") or self.name)
        return str(reply["phrase"]), int(reply["takes"])

    def close(self) -> None:
        """Stop the child: its stdin closes, and it is killed if it does not exit."""
        self._closing.set()
        proc = self._proc
        if proc is not None:  # EOF on its stdin: it exits; the supervisor or a call reaps it
            with contextlib.suppress(OSError, ValueError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._supervisor.join(10)


class _Lines:
    """Lines from a child's stdout, each within a time limit (pipes have no timeout)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def readline(self, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply in {timeout_s:.0f} s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise EOFError("the process exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


def _stop(proc: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """End a child (closing its stdin asks it to exit) and reap it."""
    if kill:
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(OSError, ValueError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _detection(reply: Any) -> Detection | None:
    hit = reply.get("d") if reply is not None else None
    if not isinstance(hit, list) or len(hit) != 3:
        return None
    return Detection(str(hit[0]), float(hit[1]), str(hit[2]))


def _log_stderr(stream: IO[bytes]) -> None:
    """The child's log lines ("LEVEL name: message") into the hub's log, at their level."""
    for raw in stream:
        text = raw.decode(errors="replace").rstrip()
        if not text:
            continue
        level, _, rest = text.partition(" ")
        number = logging.getLevelName(level)
        if isinstance(number, int):
            _LOGGER.log(number, "engines: %s", rest[:300])
        else:
            _LOGGER.warning("engines: %s", text[:300])
    stream.close()

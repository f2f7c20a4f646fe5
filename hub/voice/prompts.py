"""Elder-facing spoken prompts: texts in cmn/yue/en, espeak-ng rendering, a cache, a player.

Only our own TTS output is ever written to disk (the prompt cache); microphone audio never is.

Speech is data, never arguments: text reaches espeak-ng on its standard input (`--stdin`),
so a text that starts with `-` ("-5°C 寒潮预警", "-f FILE") is spoken as words, never read
as an option. Before rendering, text is cleaned (control and format characters dropped,
line breaks made spaces) and cut to length; the render is bounded in time and in output
bytes, written beside the cache and renamed into it, and the temporary is removed
whatever fails. The cache holds the fixed prompts of the voice in use (rendered, or the
checked copies of recorded ones) and nothing else: a one-off sentence (the centre's text,
the spoken PIN) is deleted once played, and whatever else is in the directory at start-up
(leftovers of a crash, other voices) is removed.
espeak-ng and aplay run as children that are killed when the hub stops and, through
setpriv's parent-death signal, when it dies.

Mandarin reaches espeak-ng as tone-numbered pinyin for its `cmn-latn-pinyin` voice (see
hub/voice/reading.py: Debian 12's `cmn` voice reads characters as English-spoken tone digits);
the pinyin comes from a short-lived child with the same bounds as espeak-ng. A prompt the
deployment recorded with a real voice (hub/voice/prompt_pack.py) is played instead of TTS.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hub.errors import HubError
from hub.store.atomic import write_atomic
from hub.voice.prompt_pack import PromptPack
from hub.voice.reading import ESPEAK_VOICES, has_han, normalise_chinese, spoken_language

_LOGGER = logging.getLogger(__name__)

LANGUAGES = ("cmn", "yue", "en")

PROMPTS: dict[str, dict[str, str]] = {
    "alarm_sent": {
        "cmn": "已发出求助信号",
        "yue": "已經發出求助訊號",
        "en": "Your call for help has been sent.",
    },
    "centre_received": {
        "cmn": "服务中心已收到您的求助",
        "yue": "服務中心已經收到你嘅求助",
        "en": "The care centre has received your call.",
    },
    "help_dispatched": {
        "cmn": "救援人员正在赶来",
        "yue": "救援人員當緊趕嚟",
        "en": "Help is on the way.",
    },
    "prealarm": {
        "cmn": "如果您没事，请按绿色按钮",
        "yue": "如果你冇事，請撳綠色掣",
        "en": "If you are all right, please press the green button.",
    },
    "gas_guidance": {
        "cmn": "检测到燃气泄漏，请不要开关电器，请打开窗户，离开房间",
        "yue": "偵測到煤氣洩漏，唔好開關電器，請打開窗，離開房間",
        "en": "Gas detected. Do not touch switches. Open the windows and leave the room.",
    },
    "checkin_reminder": {
        "cmn": "您好，今天还好吗？请按绿色按钮报平安",
        "yue": "你好，今日好嗎？請撳綠色掣報平安",
        "en": "Hello, are you well today? Please press the green button.",
    },
    "contacting_family": {
        "cmn": "正在联系您的家人",
        "yue": "而家聯絡緊你嘅家人",
        "en": "We are contacting your family.",
    },
    "smoke_guidance": {
        "cmn": "检测到烟雾，请马上离开房间，不要乘电梯",
        "yue": "偵測到煙霧，請即刻離開房間，唔好搭𨋢",
        "en": "Smoke detected. Leave the room now. Do not use the lift.",
    },
    "co_guidance": {
        "cmn": "检测到一氧化碳，请马上打开窗户，离开房间，到外面呼吸新鲜空气",
        "yue": "偵測到一氧化碳，請即刻打開窗，離開房間，出去呼吸新鮮空氣",
        "en": "Carbon monoxide detected. Open the windows, leave the room and get fresh air.",
    },
    "water_guidance": {
        "cmn": "检测到漏水，请关上水龙头，小心地滑",
        "yue": "偵測到漏水，請閂水喉，小心地滑",
        "en": "Water leak detected. Turn off the tap and mind the wet floor.",
    },
    "checkin_thanks": {
        "cmn": "谢谢，已经报平安",
        "yue": "多謝，已經報咗平安",
        "en": "Thank you, your check-in is done.",
    },
    "confirm_help": {
        "cmn": "需要帮助吗？",
        "yue": "需要幫手嗎？",
        "en": "Do you need help?",
    },
    "enrol_take": {
        "cmn": "请在提示音后说出您的求救语",
        "yue": "請喺提示之後講出你嘅求救說話",
        "en": "Please say your help phrase now.",
    },
}

# The centre's cmd/speak: a prompt is a sentence or two, not a broadcast. Longer text is
# cut to this before it is rendered.
SPEAK_MAX_CHARS = 200
# Text longer than this as it arrives is refused whole, before it is even cleaned: no prompt
# is anywhere near it (MQTT commands are at most 16 KiB anyway), so it is a bug or an attack.
SPEAK_MAX_INPUT_CHARS = 4096
# espeak-ng writes 16-bit mono at 22,050 Hz: 44,100 bytes a second of speech.
_WAV_BYTES_PER_S = 44_100
# The longest render measured for SPEAK_MAX_CHARS characters at the slowest rate (80 wpm)
# was 8.5 MB (a cold-wave warning of Chinese and "-5°C" read by the English voice, bench
# machine); a render that grows past twice that is stopped and nothing is kept.
MAX_WAV_BYTES = 16 * 1024 * 1024
# That render took 0.2 s on the bench machine; 30 s leaves room for a Pi Zero 2 W being
# many times slower (not measured on one yet).
RENDER_TIMEOUT_S = 30.0
# The longest WAV allowed plays for MAX_WAV_BYTES / 44,100 B/s = 380 s; a player still
# running 10 s after that is hung (a wedged sound device) and is stopped.
PLAY_TIMEOUT_S = MAX_WAV_BYTES / _WAV_BYTES_PER_S + 10.0
# The pinyin of SPEAK_MAX_CHARS characters is under 2 KB (at most 7 bytes a character), and of
# all the fixed prompts together under 3 KB; a child that writes more is not writing pinyin.
MAX_READING_BYTES = 64 * 1024
# How text becomes what espeak-ng reads; part of the cache key, so a hub upgraded from one that
# cached Mandarin read as English tone digits (espeak-ng's `cmn` voice) renders it again.
READING = "pinyin-1"
# The cache key of a Mandarin render made from espeak-ng's own reading of the characters,
# used only when the pinyin child fails: still Mandarin, with fewer words read right.
_FALLBACK_READING = "espeak-own-1"
# What espeak-ng says on its standard error is kept this long for the log.
_STDERR_KEEP = 300
# A child that has closed its output is exiting; it gets this long before it is killed.
_EXIT_GRACE_S = 5.0
# Bytes read from a child's pipe at a time.
_CHUNK = 65536


class SpeechError(HubError):
    """A prompt could not be rendered or played."""


class Interrupted(SpeechError):
    """Rendering or playing was cut short on purpose (an elder's prompt, or stopping)."""


def prompt_text(prompt_id: str, language: str = "cmn") -> str:
    """The text of a prompt; unknown languages fall back to Mandarin."""
    texts = PROMPTS[prompt_id]
    return texts.get(language, texts["cmn"])


def clip_speak_text(text: str, max_chars: int = SPEAK_MAX_CHARS) -> str:
    """Speakable text: control and format characters dropped (they would reach the log and
    the synthesiser raw), any run of white space (line breaks included) one space, cut to
    max_chars."""
    kept = []
    for ch in text[: max_chars * 4]:  # cleaning never grows text; only what can be kept
        if ch.isspace():
            kept.append(" ")
        elif not unicodedata.category(ch).startswith("C"):  # Cc, Cf (bidi), Cs, Co, Cn
            kept.append(ch)
    return " ".join("".join(kept).split())[:max_chars].rstrip()


def fix_wav_sizes(wav: bytes) -> bytes:
    """A WAV written to a pipe (whose sizes espeak-ng cannot go back and fill in) with its
    RIFF and data chunk sizes set from its real length; SpeechError when it is not a WAV."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise SpeechError("the synthesiser did not produce a WAV")
    out = bytearray(wav)
    struct.pack_into("<I", out, 4, len(out) - 8)
    offset = 12
    while offset + 8 <= len(out):
        chunk, size = out[offset : offset + 4], struct.unpack_from("<I", out, offset + 4)[0]
        if chunk == b"data":
            struct.pack_into("<I", out, offset + 4, len(out) - offset - 8)
            return bytes(out)
        offset += 8 + size + (size & 1)
    raise SpeechError("the synthesiser's WAV has no data chunk")


@dataclass
class TokenBucket:
    """Pure token bucket for cmd/speak; `now` is monotonic seconds."""

    capacity: float = 3.0  # a burst of three messages (e.g. weather, fraud, policy)
    refill_per_s: float = 1.0 / 60.0  # then one a minute
    tokens: float = 3.0
    last: float | None = None

    def allow(self, now: float) -> bool:
        """Take a token if one is there."""
        if self.last is not None:
            elapsed = max(0.0, now - self.last)
            self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_s)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# Renders: argv and the text's bytes (standard input) in, the WAV's bytes out.
RenderRunner = Callable[[Sequence[str], bytes], bytes]
# Turns texts into what espeak-ng reads (Mandarin into pinyin): one result per text, in order.
Reader = Callable[[Sequence[str]], list[str]]
# Plays a WAV file: argv in.
Runner = Callable[[Sequence[str]], None]


@functools.cache
def _setpriv() -> str | None:
    return shutil.which("setpriv")


def _orphan_proof(argv: Sequence[str]) -> list[str]:
    """argv run so the kernel kills it if the hub dies (setpriv --pdeathsig, util-linux);
    argv unchanged where setpriv is missing (the hub still kills it when it stops)."""
    setpriv = _setpriv()
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


class _Children:
    """Children of the hub, tracked so they can be stopped at once, and stopped on close."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._stopped: set[subprocess.Popen[bytes]] = set()  # stopped on purpose
        self._closed = False

    def _start(self, argv: Sequence[str], *, pipes: bool) -> subprocess.Popen[bytes]:
        """Start argv (stdin and stdout piped when `pipes`, else closed); stderr piped."""
        with self._lock:
            if self._closed:
                raise SpeechError("speech is stopped")
            child = subprocess.Popen(
                _orphan_proof(argv),
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self._running.add(child)
            return child

    def _reap(self, child: subprocess.Popen[bytes], *, finished: bool = False) -> bool:
        """Wait for the child, killing it if it still runs (after _EXIT_GRACE_S when it
        has `finished` its output); True when it was stopped on purpose (stop or close)
        rather than ending by itself."""
        if finished:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(_EXIT_GRACE_S)
        if child.poll() is None:
            with contextlib.suppress(OSError):
                child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
        with self._lock:
            self._running.discard(child)
            stopped = child in self._stopped
            self._stopped.discard(child)
        return stopped

    def stop(self) -> None:
        """Kill the children running now (their callers see them as stopped, not failed)."""
        with self._lock:
            for child in self._running:
                self._stopped.add(child)
                with contextlib.suppress(OSError):
                    child.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Kill the children running now and start no more."""
        with self._lock:
            self._closed = True
        self.stop()

    def _run(self, argv: Sequence[str], data: bytes, max_output: int) -> bytes:
        """What argv writes on stdout for `data` on stdin, bounded by RENDER_TIMEOUT_S and
        max_output; Interrupted when stopped on purpose, SpeechError when it fails."""
        try:
            child = self._start(argv, pipes=True)
        except OSError as exc:
            raise SpeechError(f"cannot start {argv[0]}: {exc}") from exc
        finished = False
        try:
            out, err = _read_bounded(child, data, RENDER_TIMEOUT_S, max_output)
            finished = True
        finally:
            stopped = self._reap(child, finished=finished)
        if stopped:
            raise Interrupted("rendering cut short")
        if child.returncode != 0:
            shown = clip_speak_text(err.decode(errors="replace"), _STDERR_KEEP)
            raise SpeechError(f"{argv[0]} failed ({child.returncode}): {shown}")
        return out


def _read_bounded(
    child: subprocess.Popen[bytes], data: bytes, timeout: float, max_output: int
) -> tuple[bytes, bytes]:
    """Feed `data` to the child's stdin and read its stdout and stderr until it closes
    them; SpeechError when that takes past `timeout` or stdout passes `max_output` bytes."""
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    pending = memoryview(data)
    with selectors.DefaultSelector() as sel:  # epoll: any descriptor number works
        sel.register(child.stdout, selectors.EVENT_READ)
        sel.register(child.stderr, selectors.EVENT_READ)
        if pending:
            os.set_blocking(child.stdin.fileno(), False)
            sel.register(child.stdin, selectors.EVENT_WRITE)
        else:
            child.stdin.close()
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise SpeechError(f"the synthesiser ran past {timeout:.0f} s")
            for key, _ in sel.select(left):
                if key.fileobj is child.stdin:
                    try:
                        pending = pending[os.write(key.fd, pending[:_CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(child.stdin)
                        child.stdin.close()
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj is child.stdout:
                    out += chunk
                    if len(out) > max_output:
                        raise SpeechError(f"the synthesiser wrote more than {max_output} bytes")
                elif len(err) < _STDERR_KEEP:
                    err += chunk
    return bytes(out), bytes(err)


class EspeakRunner(_Children):
    """Runs espeak-ng with the text on stdin and the WAV on stdout, bounded in time
    (RENDER_TIMEOUT_S) and output (MAX_WAV_BYTES)."""

    def __call__(self, argv: Sequence[str], text: bytes) -> bytes:
        """The WAV espeak-ng writes for `text`; SpeechError when it fails or is cut off."""
        return self._run(argv, text, MAX_WAV_BYTES)


def reading_argv() -> list[str]:
    """The pinyin child: the hub's own Python, isolated (-I), so neither the working directory
    nor PYTHON* variables change what it imports."""
    return [sys.executable, "-I", "-m", "hub.voice.reading"]


class PinyinReader(_Children):
    """Mandarin texts into tone-numbered pinyin in a short-lived child (hub/voice/reading.py),
    texts on its stdin, bounded like espeak-ng: the hub itself never loads pypinyin."""

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """The pinyin of each text, in order; SpeechError when the child fails."""
        lines = [t.replace("\n", " ") for t in texts]
        out = self._run(reading_argv(), "\n".join(lines).encode(), MAX_READING_BYTES)
        try:
            readings = out.decode().split("\n")
        except UnicodeDecodeError as exc:
            raise SpeechError("the pinyin child wrote something that is not UTF-8") from exc
        if len(readings) != len(lines):
            raise SpeechError(f"the pinyin child gave {len(readings)} lines for {len(lines)}")
        return readings


class AplayPlayer(_Children):
    """Plays a WAV with aplay, for at most PLAY_TIMEOUT_S; `stop` cuts it short."""

    def __call__(self, argv: Sequence[str]) -> None:
        """Play to the end (or until stopped); SpeechError when the player fails."""
        try:
            child = self._start(argv, pipes=False)
        except OSError as exc:
            raise SpeechError(f"cannot start {argv[0]}: {exc}") from exc
        err = b""
        try:
            assert child.stderr is not None
            _, err = child.communicate(timeout=PLAY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            err = f"still playing after {PLAY_TIMEOUT_S:.0f} s".encode()
        finally:
            stopped = self._reap(child)
        if not stopped and child.returncode != 0:
            shown = clip_speak_text(err.decode(errors="replace"), _STDERR_KEEP)
            raise SpeechError(f"{argv[0]} failed ({child.returncode}): {shown}")


@dataclass(frozen=True)
class Voice:
    """Speech settings: language (cmn, yue, en), rate (words/min), amplitude 0..200."""

    language: str = "cmn"
    rate: int = 150
    volume: int = 100

    @property
    def espeak_voice(self) -> str:
        """The espeak-ng voice for the language (Mandarin: the one that reads pinyin)."""
        return ESPEAK_VOICES[spoken_language("", self.language)]


def espeak_argv(voice: Voice) -> list[str]:
    """espeak-ng reading UTF-8 text from stdin and writing a WAV to stdout: no text, file
    name or anything else from outside ever becomes an argument."""
    return [
        "espeak-ng",
        "-v",
        voice.espeak_voice,
        "-s",
        str(voice.rate),
        "-a",
        str(voice.volume),
        "-b",
        "1",
        "--stdin",
        "--stdout",
    ]


@dataclass(frozen=True)
class Spoken:
    """What espeak-ng is given for a text: the voice, the text it reads (pinyin for Mandarin),
    and how that was made (READING, or espeak-ng's own reading when the pinyin child failed)."""

    voice: Voice
    text: str
    reading: str = READING


class PromptRenderer:
    """Renders text with espeak-ng into a WAV cache keyed by (reading, text, voice, rate,
    volume); Mandarin is turned into pinyin first (`reader`, a child process by default)."""

    def __init__(
        self, cache_dir: Path, runner: RenderRunner | None = None, reader: Reader | None = None
    ) -> None:
        self.cache_dir = cache_dir
        self.runner: RenderRunner = runner if runner is not None else EspeakRunner()
        self.reader: Reader = reader if reader is not None else PinyinReader()

    def path_for(self, text: str, voice: Voice, reading: str = READING) -> Path:
        """Where the rendering of this text with these settings lives in the cache."""
        spoken = replace(voice, language=spoken_language(text, voice.language))
        key = f"{reading}\0{text}\0{spoken.espeak_voice}\0{voice.rate}\0{voice.volume}"
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.wav"

    def spoken(self, texts: Sequence[str], voice: Voice) -> list[Spoken]:
        """What espeak-ng reads for each text, with which voice: Chinese characters to be read
        in Mandarin become pinyin (one child for all of them); when that fails, espeak-ng
        reads the characters itself (logged), which is still Mandarin."""
        out: list[Spoken | None] = []
        mandarin: list[int] = []
        for i, text in enumerate(texts):
            language = spoken_language(text, voice.language)
            if language == "en":
                out.append(Spoken(voice, text))
                continue
            if language == "cmn" and has_han(text):
                mandarin.append(i)
            out.append(Spoken(replace(voice, language=language), normalise_chinese(text)))
        if mandarin:
            reading = READING
            try:
                pinyin = self.reader([texts[i] for i in mandarin])
            except Interrupted:
                raise
            except SpeechError as exc:
                _LOGGER.warning(
                    "no pinyin for %d Mandarin text(s) (%s): espeak-ng reads the characters "
                    "itself, with fewer words read right",
                    len(mandarin),
                    exc,
                )
                pinyin = [normalise_chinese(texts[i]) for i in mandarin]
                reading = _FALLBACK_READING
            for i, text in zip(mandarin, pinyin, strict=True):
                out[i] = Spoken(replace(voice, language="cmn"), text, reading)
        return [s for s in out if s is not None]

    def wav(self, spoken: Spoken) -> bytes:
        """espeak-ng's WAV for what it is given (not cached)."""
        return fix_wav_sizes(self.runner(espeak_argv(spoken.voice), spoken.text.encode()))

    def render_many(self, texts: Sequence[str], voice: Voice) -> list[Path]:
        """Render each text not yet in the cache (written atomically); their WAVs, in order."""
        paths = [self.path_for(text, voice) for text in texts]
        todo = [i for i, path in enumerate(paths) if not path.exists()]
        if todo:
            spoken = self.spoken([texts[i] for i in todo], voice)
            for i, said in zip(todo, spoken, strict=True):
                paths[i] = self.path_for(texts[i], voice, said.reading)
                if not paths[i].exists():
                    # A temporary beside it, fsynced and renamed; removed if anything fails.
                    write_atomic(paths[i], self.wav(said), mode=0o600)
        return paths

    def render(self, text: str, voice: Voice) -> Path:
        """Render once (written atomically); later calls return the cached WAV."""
        return self.render_many([text], voice)[0]

    def render_once(self, text: str, voice: Voice) -> tuple[Path, bool]:
        """A WAV of a one-off sentence and whether the caller must delete it after playing
        (not when it is a cached prompt's own file)."""
        path = self.path_for(text, voice)
        if path.exists():
            return path, False
        [said] = self.spoken([text], voice)
        wav = self.wav(said)
        path = self.path_for(text, voice, said.reading)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            path.write_bytes(wav)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, True

    def tidy(self, keep: set[Path]) -> int:
        """Remove everything in the cache but `keep` (temporaries and one-off sentences a
        crash left, other voices' prompts); returns how many files went."""
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in self.cache_dir.iterdir():
                if entry not in keep and entry.is_file():
                    with contextlib.suppress(OSError):
                        entry.unlink()
                        removed += 1
        return removed

    def close(self) -> None:
        """Stop a render in progress and start no more."""
        for part in (self.runner, self.reader):
            close = getattr(part, "close", None)
            if callable(close):
                close()


class Speaker:
    """Speaks fixed prompts and the centre's text through an injectable player (aplay)."""

    def __init__(
        self,
        renderer: PromptRenderer,
        voice: Voice = Voice(),
        player: Runner | None = None,
        bucket: TokenBucket | None = None,
        pack: PromptPack | None = None,
    ) -> None:
        self.renderer = renderer
        self.voice = voice
        self.pack = pack
        self._player: Runner = player if player is not None else AplayPlayer()
        self._bucket = bucket if bucket is not None else TokenBucket()
        # Prompt id -> the checked copy of its recording in the cache (prerender fills it).
        self.recorded: dict[str, Path] = {}

    def _install_recordings(self) -> dict[str, Path]:
        """Check the prompt pack and copy each recording that passes into the cache (what
        plays is what was checked); every one that fails is logged with the reason."""
        if self.pack is None:
            return {}
        recorded: dict[str, Path] = {}
        for prompt_id in PROMPTS:
            found, data = self.pack.load(prompt_id)
            if data is None:
                _LOGGER.warning(
                    "prompt pack: %s (%s) not used, espeak-ng speaks it: %s: %s",
                    prompt_id,
                    self.pack.language,
                    found.path,
                    found.problem,
                )
                continue
            path = self.renderer.cache_dir / f"recorded-{hashlib.sha256(data).hexdigest()[:32]}.wav"
            if not path.exists():
                write_atomic(path, data, mode=0o600)
            recorded[prompt_id] = path
        for stray in self.pack.strays(list(PROMPTS)):
            _LOGGER.warning("prompt pack: %s is no prompt's file and is never played", stray)
        _LOGGER.info(
            "prompt pack %s: %d of %d prompts recorded, %d spoken by espeak-ng",
            self.pack.folder,
            len(recorded),
            len(PROMPTS),
            len(PROMPTS) - len(recorded),
        )
        return recorded

    def prerender(self) -> None:
        """At start-up: check the recorded prompts, render every other fixed prompt in the
        configured language, and remove anything else from the cache."""
        self.recorded = self._install_recordings()
        ids = [prompt_id for prompt_id in PROMPTS if prompt_id not in self.recorded]
        texts = [prompt_text(prompt_id, self.voice.language) for prompt_id in ids]
        keep = set(self.renderer.render_many(texts, self.voice)) | set(self.recorded.values())
        removed = self.renderer.tidy(keep)
        if removed:
            _LOGGER.info("prompt cache: %d stale file(s) removed", removed)

    def say(self, prompt_id: str) -> None:
        """Speak a fixed prompt: its recording when the pack has a good one, else espeak-ng."""
        _LOGGER.info("speaking prompt %s", prompt_id)
        recorded = self.recorded.get(prompt_id)
        if recorded is not None:
            self._play(recorded)
            return
        self._play(self.renderer.render(prompt_text(prompt_id, self.voice.language), self.voice))

    def admit_centre_text(self, text: str, now: float) -> str | None:
        """The centre's cmd/speak text cleaned and cut, if it is not refused (too long to
        be a prompt, nothing speakable, or over the rate limit: logged, never its text)."""
        if len(text) > SPEAK_MAX_INPUT_CHARS:
            _LOGGER.warning(
                "cmd/speak refused: %d characters (a prompt is at most %d)",
                len(text),
                SPEAK_MAX_CHARS,
            )
            return None
        clipped = clip_speak_text(text)
        if not clipped:
            return None
        if not self._bucket.allow(now):
            _LOGGER.warning("cmd/speak dropped by rate limit (%d chars)", len(clipped))
            return None
        return clipped

    def speak_centre_text(self, text: str, now: float) -> bool:
        """Speak the centre's cmd/speak text if admitted (admit_centre_text); logged either way."""
        admitted = self.admit_centre_text(text, now)
        if admitted is None:
            return False
        self.speak_admitted(admitted)
        return True

    def speak_admitted(self, text: str) -> None:
        """Speak centre text admit_centre_text let through."""
        _LOGGER.info("cmd/speak: %s", text)
        self._speak_once(text)

    def speak_text(self, text: str) -> None:
        """Speak a sentence of the hub's own (not rate limited, not from the centre)."""
        self._speak_once(clip_speak_text(text))

    def _speak_once(self, text: str) -> None:
        if not text:
            return
        path, owned = self.renderer.render_once(text, self.voice)
        try:
            self._play(path)
        finally:
            if owned:
                path.unlink(missing_ok=True)

    def _play(self, path: Path) -> None:
        self._player(["aplay", "-q", str(path)])

    def interrupt(self) -> None:
        """Cut short what is rendered or played now (through `stop`, where there is one)."""
        for part in (self.renderer.runner, self.renderer.reader, self._player):
            stop = getattr(part, "stop", None)
            if callable(stop):
                stop()

    def close(self) -> None:
        """Stop rendering and playing now and start no more (the hub is stopping)."""
        self.renderer.close()
        close = getattr(self._player, "close", None)
        if callable(close):
            close()

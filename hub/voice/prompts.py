"""Elder-facing spoken prompts: texts in cmn/yue/en, espeak-ng rendering, a cache, a player.

Only our own TTS output is ever written to disk (the prompt cache); microphone audio never is.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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

# The centre's cmd/speak: a prompt is a sentence or two, not a broadcast.
SPEAK_MAX_CHARS = 200


def prompt_text(prompt_id: str, language: str = "cmn") -> str:
    """The text of a prompt; unknown languages fall back to Mandarin."""
    texts = PROMPTS[prompt_id]
    return texts.get(language, texts["cmn"])


def clip_speak_text(text: str, max_chars: int = SPEAK_MAX_CHARS) -> str:
    """Strip control characters and cut the centre's text to a speakable length."""
    cleaned = "".join(ch for ch in text if ch.isprintable()).strip()
    return cleaned[:max_chars]


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


Runner = Callable[[Sequence[str]], None]


def _run(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Voice:
    """espeak-ng settings: voice (cmn, yue, en), rate (words/min), amplitude 0..200."""

    language: str = "cmn"
    rate: int = 150
    volume: int = 100


class PromptRenderer:
    """Renders text with espeak-ng into a WAV cache keyed by (text, voice, rate, volume)."""

    def __init__(self, cache_dir: Path, runner: Runner = _run) -> None:
        self.cache_dir = cache_dir
        self._runner = runner

    def path_for(self, text: str, voice: Voice) -> Path:
        """Where the rendering of this text with these settings lives in the cache."""
        key = f"{text}\0{voice.language}\0{voice.rate}\0{voice.volume}".encode()
        return self.cache_dir / f"{hashlib.sha256(key).hexdigest()[:32]}.wav"

    def render(self, text: str, voice: Voice) -> Path:
        """Render once; later calls return the cached WAV."""
        path = self.path_for(text, voice)
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            self._runner(
                [
                    "espeak-ng",
                    "-v",
                    voice.language,
                    "-s",
                    str(voice.rate),
                    "-a",
                    str(voice.volume),
                    "-w",
                    str(tmp),
                    text,
                ]
            )
            tmp.replace(path)
        return path


class Speaker:
    """Speaks fixed prompts and the centre's text through an injectable player (aplay)."""

    def __init__(
        self,
        renderer: PromptRenderer,
        voice: Voice = Voice(),
        player: Runner = _run,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.renderer = renderer
        self.voice = voice
        self._player = player
        self._bucket = bucket if bucket is not None else TokenBucket()

    def prerender(self) -> None:
        """Render every fixed prompt in the configured language (at start-up)."""
        for prompt_id in PROMPTS:
            self.renderer.render(prompt_text(prompt_id, self.voice.language), self.voice)

    def say(self, prompt_id: str) -> None:
        """Speak a fixed prompt."""
        text = prompt_text(prompt_id, self.voice.language)
        _LOGGER.info("speaking prompt %s", prompt_id)
        self._play(self.renderer.render(text, self.voice))

    def speak_centre_text(self, text: str, now: float) -> bool:
        """Speak the centre's cmd/speak text if the rate limit allows; logged either way."""
        clipped = clip_speak_text(text)
        if not clipped:
            return False
        if not self._bucket.allow(now):
            _LOGGER.warning("cmd/speak dropped by rate limit (%d chars)", len(clipped))
            return False
        _LOGGER.info("cmd/speak: %s", clipped)
        self._play(self.renderer.render(clipped, self.voice))
        return True

    def speak_text(self, text: str) -> None:
        """Speak a sentence of the hub's own (not rate limited, not from the centre)."""
        self._play(self.renderer.render(clip_speak_text(text), self.voice))

    def _play(self, path: Path) -> None:
        self._player(["aplay", "-q", str(path)])

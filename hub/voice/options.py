"""Checks of the [voice] options: pure, and light enough for config parsing (no numpy)."""

from __future__ import annotations

from typing import Protocol

ENGINES = ("pocketsphinx", "whisper", "whisper-en", "stage", "vosk", "enrolled")


class VoiceOptions(Protocol):
    """The [voice] options these checks read (hub.config.VoiceSection has them)."""

    @property
    def engines(self) -> str: ...
    @property
    def listen(self) -> bool: ...
    @property
    def vosk_model(self) -> str: ...
    @property
    def vosk_phrases(self) -> str: ...
    @property
    def prompt_pack(self) -> str: ...
    @property
    def stage_command(self) -> str: ...
    @property
    def zh_phrases(self) -> str: ...
    @property
    def en_phrases(self) -> str: ...


def engine_names(voice: VoiceOptions) -> list[str]:
    """The configured engines, in order."""
    return [e.strip() for e in voice.engines.split(",") if e.strip()]


def check_voice_config(voice: VoiceOptions) -> list[str]:
    """Problems with the [voice] engines, each naming the option and what to do."""
    problems: list[str] = []
    names = engine_names(voice)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        problems.append(
            f"voice.engines: {', '.join(map(repr, unknown))} unknown; use any of "
            f"{', '.join(ENGINES)}, comma-separated"
        )
    if voice.listen and not names:
        problems.append("voice.engines: name at least one engine when voice.listen = true")
    if "vosk" in names and not voice.vosk_model:
        problems.append(
            "voice.vosk_model: required with the vosk engine; give the directory of the "
            "model installed in the image"
        )
    if "vosk" in names and not [p for p in voice.vosk_phrases.split(",") if p.strip()]:
        problems.append("voice.vosk_phrases: give at least one phrase, e.g. 救命")
    if "stage" in names and not voice.stage_command.strip():
        problems.append(
            "voice.stage_command: required with the stage engine; give the command of the "
            "keyword engine installed in the image"
        )
    if ("whisper" in names or "stage" in names) and not [
        p for p in voice.zh_phrases.split(",") if p.strip()
    ]:
        problems.append("voice.zh_phrases: give at least one phrase, e.g. 救命")
    if "whisper-en" in names and not [p for p in voice.en_phrases.split(",") if p.strip()]:
        problems.append("voice.en_phrases: give at least one phrase, e.g. help")
    if voice.prompt_pack and not voice.prompt_pack.startswith("/"):
        # The service's working directory is the data directory; a relative folder would
        # quietly mean something else when the command line tools read the same config.
        problems.append(
            "voice.prompt_pack: give an absolute path, e.g. /var/lib/pingan-hub/prompt-pack"
        )
    return problems

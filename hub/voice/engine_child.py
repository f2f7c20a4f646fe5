"""The child's side of the voice engines' process (hub/voice/engine_proc.py has the hub's
side and the protocol): load the engines, say ready, answer each request until stdin closes.

    python -m hub.voice.engine_child --data-dir DIR --voice JSON

Only this process imports numpy, onnxruntime, pocketsphinx or vosk.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any, cast

from hub.voice.engine_proc import HEAD, IN_CHILD, PROTOCOL
from hub.voice.spotter import Detection

if TYPE_CHECKING:
    from hub.config import VoiceSection
    from hub.voice.engines import MultiSpotter
    from hub.voice.spotter import AnswerSpotter

_LOGGER = logging.getLogger(__name__)


class Engines:
    """The child's engines: requests in, replies out (no IO here: tests drive it)."""

    def __init__(
        self, spotter: MultiSpotter, answers: Sequence[AnswerSpotter], data_path: Path
    ) -> None:
        self.spotter = spotter
        self.answers = list(answers)
        self.data_path = data_path
        self._heard_no: list[AnswerSpotter] = []

    def handle(self, op: bytes, payload: bytes) -> dict[str, Any]:
        """One request's reply."""
        if op == b"F":
            return {"d": _hit(self.spotter.feed(payload))}
        if op == b"E":
            return {"d": _hit(self.spotter.finish())}
        if op == b"R":
            self.spotter.reset()
            return {}
        if op == b"A":
            return {"a": self._feed_answer(payload)}
        if op == b"N":
            confirmed = any(s.confirms_no() for s in self._heard_no)
            self._reset_answers()
            return {"no": confirmed}
        if op == b"r":
            self._reset_answers()
            return {}
        if op == b"T":
            return self._enrol(payload)
        return {"error": f"unknown request {op!r}"}

    def _feed_answer(self, frame: bytes) -> bool | None:
        """As the listener does over several answer spotters (hub/voice/listen.py)."""
        for spotter in self.answers:
            heard = spotter.feed_answer(frame)
            if heard:
                self._reset_answers()
                return True
            if heard is False and spotter not in self._heard_no:
                self._heard_no.append(spotter)
        return False if self._heard_no else None

    def _reset_answers(self) -> None:
        self._heard_no = []
        for spotter in self.answers:
            spotter.reset_answer()

    def _enrol(self, payload: bytes) -> dict[str, Any]:
        from hub.voice.engines import EnrolledSpotter
        from hub.voice.setup import make_templates, templates_path

        head, _, audio = payload.partition(b"\n")
        spec = json.loads(head)
        takes, at = [], 0
        for size in spec["takes"]:
            takes.append(audio[at : at + int(size)])
            at += int(size)
        phrase = make_templates(str(spec["label"]), takes, float(spec["threshold"]))
        takes.clear()
        phrase.save(templates_path(self.data_path))
        self.spotter.replace("enrolled", EnrolledSpotter(phrase))
        return {"phrase": phrase.phrase, "takes": len(phrase.templates), "name": self.spotter.name}


def _hit(detection: Detection | None) -> list[Any] | None:
    if detection is None:
        return None
    return [detection.phrase, detection.confidence, detection.engine]


def _read_exactly(src: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = src.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(engines: Engines, src: IO[bytes], out: IO[bytes]) -> int:
    """Answer requests until stdin closes."""
    while True:
        head = _read_exactly(src, HEAD.size)
        if head is None:
            return 0
        op, size = HEAD.unpack(head)
        payload = _read_exactly(src, size) if size else b""
        if payload is None:
            return 0
        try:
            reply = engines.handle(op, payload)
        except Exception as exc:  # an engine's bug must not end the child's service
            _LOGGER.exception("request %r failed", op)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
            if op in (b"F", b"E"):
                reply["d"] = None
        out.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
        out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """The child: load the engines, say ready, serve."""
    parser = argparse.ArgumentParser(prog="python -m hub.voice.engine_child")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--voice", required=True, help="the [voice] section, as JSON")
    args = parser.parse_args(argv)
    # The protocol gets its own descriptor; anything else printed goes to the log.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    from hub.voice.stage import killed_first

    killed_first()

    def say(line: dict[str, Any]) -> None:
        out.write(json.dumps({"protocol": PROTOCOL, **line}, ensure_ascii=False).encode())
        out.write(b"\n")
        out.flush()

    try:
        from hub.voice.setup import build_spotters

        # The section's values as attributes: hub.config (and all it imports) stays out.
        voice = cast("VoiceSection", SimpleNamespace(**json.loads(args.voice)))
        spotter, answers = build_spotters(voice, args.data_dir, only=IN_CHILD)
    except Exception as exc:  # say why (the hub logs it), whatever it is
        say({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    say({"ready": True, "name": spotter.name, "answers": bool(answers)})
    return serve(Engines(spotter, answers, args.data_dir), sys.stdin.buffer, out)


if __name__ == "__main__":
    sys.exit(main())

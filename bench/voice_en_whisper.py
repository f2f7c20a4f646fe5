"""English calls for help through the Whisper stage (`[voice] engines = "whisper-en"`): held
out speakers per condition and phrase, false alarms on near-misses and ordinary talk, CPU.

Run: .venv/bin/pip install -e '.[prompt-check]'     (faster-whisper + Whisper base)
     PINGAN_TTS_PYTHON=/opt/pingan-tts/bin/python .venv/bin/python -m bench.voice_en_whisper \
         [--speakers kal_diphone,joe] [--tuning] [--tuning-only]

Nothing in this engine is trained. Its only choices (the clause rule and CARRY_ON words of
hub/voice/en_match.py, beam 5, the phrase list) were written from the corpus's texts before
any speech was heard, then looked at on the training engines' validation voices (flite rms,
espeak-ng en-gb-scotland+m1, en-gb+grandma, en-us+Gene: `--tuning-only`); the held-out
speakers (festival kal, piper joe; ked too with --speakers) are the same clips as
`python -m bench.voice`'s held-out tables, streamed as the hub hears them (30 ms frames
through the energy gate, utterances of 0.3-4 s handed to the real stage child).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine
from bench.voice_speech import EN_HELD_OUT, Speaker, Take, build_clips, missing_tools
from bench.voice_zh import child_memory, clips_table
from hub.voice.corpus import EN_HELP_PHRASES, EN_NEAR_MISSES, EN_TALK, EN_UNSEEN_TALK
from hub.voice.en_match import DEFAULT_EN_PHRASES
from hub.voice.stage import UtteranceStage

TEXTS = {
    "help": EN_HELP_PHRASES,
    "near-miss": EN_NEAR_MISSES,
    "talk": EN_TALK,
    "talk never trained on": EN_UNSEEN_TALK,
}
TUNING = (
    Speaker("flite", "rms"),
    Speaker("espeak", "en-gb-scotland+m1"),
    Speaker("espeak", "en-gb+grandma"),
    Speaker("espeak", "en-us+Gene"),
)


def main() -> None:
    """Print the tables for bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", default="kal_diphone,joe", help="held-out voices")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument(
        "--no-check", action="store_true", help="Whisper's phrase alone, no acoustic check"
    )
    parser.add_argument("--head", default="", help="the acoustic check's head file")
    parser.add_argument("--tuning", action="store_true", help="also the validation voices")
    parser.add_argument("--tuning-only", action="store_true", help="only the validation voices")
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        parser.error(f"missing {', '.join(missing)} (Debian packages)")
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    wanted = set(filter(None, args.speakers.split(",")))
    held_out = tuple(s for s in EN_HELD_OUT if s.voice in wanted)
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(os.environ.get("PINGAN_WHISPER_CACHE", cache_dir))
        argv = [sys.executable, "-m", "hub.voice.stage_whisper", "--cache", str(cache)]
        argv += ["--threads", str(args.threads), "--language", "en", "--beam", str(args.beam)]
        argv += ["--no-check"] if args.no_check else []
        argv += ["--head", args.head] if args.head else []
        t0 = time.perf_counter()
        stage = UtteranceStage(argv, DEFAULT_EN_PHRASES.split(","), name="whisper-en")
        print(f"stage ready in {time.perf_counter() - t0:.1f} s wall; {child_memory(stage)}")
        check = "none" if args.no_check else (args.head or "the shipped head")
        print(f"phrases: {DEFAULT_EN_PHRASES}; beam {args.beam}; acoustic check: {check}")
        try:
            if args.tuning or args.tuning_only:
                tuning = build_clips(
                    TUNING,
                    TEXTS,
                    frozenset({"help"}),
                    conditions=("quiet", "reverb", "tv_10db"),
                    takes=(Take(),),
                )
                clips_table(stage, tuning, "validation voices (flite, espeak-ng), one take")
                sys.stdout.flush()
            if not args.tuning_only:
                held = build_clips(held_out, TEXTS, frozenset({"help"}))
                clips_table(stage, held, "held out: " + ", ".join(s.name for s in held_out))
            print(f"stage memory at the end: {child_memory(stage)}")
        finally:
            stage.close()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

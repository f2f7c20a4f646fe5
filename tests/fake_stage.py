"""A keyword engine for tests, speaking the utterance-stage protocol (hub/voice/stage.py) as
a deployment's own engine would: it "hears" the first configured phrase in any utterance
louder than a whisper, and nothing in quieter ones.

    python -m tests.fake_stage [--refuse REASON] [--die-after N] [--delay S]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from array import array

from hub.voice.stage import PHRASES_ENV, refuse, serve

LOUD_RMS = 1000.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refuse", default="")
    parser.add_argument("--die-after", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    if args.refuse:
        return refuse(args.refuse)
    phrase = os.environ[PHRASES_ENV].split(",")[0]
    judged = 0

    def judge(pcm: bytes) -> tuple[str | None, float]:
        nonlocal judged
        judged += 1
        if args.die_after and judged > args.die_after:
            sys.exit(3)
        time.sleep(args.delay)  # a slow recogniser on a Pi
        samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
        rms = math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))
        return (phrase, 0.9) if rms >= LOUD_RMS else (None, 0.1)

    return serve(judge, "fake keyword engine")


if __name__ == "__main__":
    sys.exit(main())

"""Voice bench: per engine, help caught, false alarms, real-time factor, CPU, VmRSS.

Run: .venv/bin/python -m bench.voice   (needs flite and sox; renders the corpus to a temp dir)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from hub.voice.corpus import build
from hub.voice.spotter import PocketsphinxSpotter

FRAME_BYTES = 960  # 30 ms of 16 kHz mono s16le


def vm_rss_mb() -> float:
    """Resident memory of this process from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    """Stream every corpus utterance through each engine and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = build(Path(tmp))
    rss_before = vm_rss_mb()
    spotter = PocketsphinxSpotter()
    rss_loaded = vm_rss_mb()
    caught = false_alarms = 0
    audio_s = 0.0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for u in corpus:
        spotter.reset()
        audio = u.pcm + b"\x00\x00" * 8000
        audio_s += len(audio) / 32000
        hit = None
        for i in range(0, len(audio), FRAME_BYTES):
            hit = hit or spotter.feed(audio[i : i + FRAME_BYTES])
        if hit is not None and u.is_help:
            caught += 1
        elif hit is not None:
            false_alarms += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n_help = sum(u.is_help for u in corpus)
    print(
        f"{spotter.name}: caught {caught}/{n_help}, false alarms "
        f"{false_alarms}/{len(corpus) - n_help}, RTF {wall / audio_s:.3f}, "
        f"CPU {100 * cpu / wall:.0f}% of one core while decoding, "
        f"VmRSS {rss_loaded:.0f} MB loaded (+{rss_loaded - rss_before:.0f} MB for the model)"
    )


if __name__ == "__main__":
    main()

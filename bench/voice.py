"""Voice bench: per engine and corpus part, help caught, false alarms, CPU and wall time.

Run: .venv/bin/python -m bench.voice            (needs flite and sox; renders to a cache dir)
     .venv/bin/python -m bench.voice --grid     (per-phrase threshold grid on TRAINING only)
     PINGAN_VOSK_MODEL=/path/to/model .venv/bin/python -m bench.voice   (adds vosk)

The real-time factor is given as CPU seconds of this process per second of audio
(time.process_time: other work on the machine does not inflate it) and as wall time.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.common import status_mib
from hub.voice.corpus import HELD_OUT, TRAINING, Utterance, build, build_set, render
from hub.voice.sounds import sox_sounds
from hub.voice.spotter import Detection, PocketsphinxSpotter, Spotter

FRAME_BYTES = 960  # 30 ms of 16 kHz mono s16le
TAIL = b"\x00\x00" * 8000  # 0.5 s of silence after each utterance
CACHE = Path(os.environ.get("PINGAN_VOICE_CORPUS", "/tmp/pingan-voice-corpus"))


def vm_rss_mb() -> float:
    """Resident memory of this process from /proc/self/status."""
    return status_mib("VmRSS")


def spot(spotter: Spotter, pcm: bytes) -> Detection | None:
    """Stream one utterance as the listener does: frames, then the end of the utterance."""
    spotter.reset()
    audio = pcm + TAIL
    for i in range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES):
        hit = spotter.feed(audio[i : i + FRAME_BYTES])
        if hit is not None:
            return hit
    return spotter.finish()


class Tally:
    """Counts for one engine on one corpus part."""

    def __init__(self) -> None:
        self.caught = self.helps = self.false_alarms = self.others = 0
        self.audio_s = self.cpu_s = self.wall_s = 0.0
        self.fa_phrases: list[str] = []
        self.by_condition: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def run(self, spotter: Spotter, corpus: list[Utterance]) -> Tally:
        """Stream every utterance through the spotter, timing it."""
        for u in corpus:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            hit = spot(spotter, u.pcm)
            self.cpu_s += time.process_time() - cpu0
            self.wall_s += time.perf_counter() - wall0
            self.audio_s += (len(u.pcm) + len(TAIL)) / 32000
            row = self.by_condition[u.condition]
            if u.is_help:
                self.helps += 1
                row[1] += 1
                if hit is not None:
                    self.caught += 1
                    row[0] += 1
            else:
                self.others += 1
                row[3] += 1
                if hit is not None:
                    self.false_alarms += 1
                    row[2] += 1
                    self.fa_phrases.append(u.phrase)
        return self

    def line(self, name: str) -> str:
        """One table row."""
        fas = ", ".join(sorted(set(self.fa_phrases))) or "-"
        return (
            f"| {name} | {self.caught}/{self.helps} | {self.false_alarms}/{self.others} ({fas}) "
            f"| {self.cpu_s / self.audio_s:.3f} | {self.wall_s / self.audio_s:.3f} |"
        )


def engines() -> dict[str, Callable[[], Spotter]]:
    """The engines to compare (vosk only when a model directory is given)."""
    made: dict[str, Callable[[], Spotter]] = {
        "pocketsphinx first pass only": lambda: PocketsphinxSpotter(second_pass="none"),
        "pocketsphinx + word model (second_pass words)": lambda: PocketsphinxSpotter(
            second_pass="words"
        ),
        "pocketsphinx + neural classifier (default)": PocketsphinxSpotter,
    }
    model = os.environ.get("PINGAN_VOSK_MODEL")
    if model:
        from hub.voice.engines import VoskSpotter

        made["vosk grammar"] = lambda: VoskSpotter(Path(model))
    return made


def enrolled_figures() -> None:
    """Enrol "help me" from three renderings of each voice; try the rest of the corpus."""
    from hub.voice.engines import EnrolledSpotter
    from hub.voice.enrolled import EnrolledPhrase

    caught = helps = fas = others = 0
    cpu = audio = 0.0
    for voice in ("slt", "awb", "rms", "kal"):
        takes = [render("help me", voice, s, CACHE) for s in (1.0, 1.1, 0.9)]
        spotter = EnrolledSpotter(EnrolledPhrase("help me", takes))
        corpus = [u for u in build_set(TRAINING + HELD_OUT, CACHE) if u.voice == voice]
        for u in corpus:
            cpu0 = time.process_time()
            hit = spot(spotter, u.pcm)
            cpu += time.process_time() - cpu0
            audio += (len(u.pcm) + len(TAIL)) / 32000
            if u.phrase == "help me":
                helps += 1
                caught += hit is not None
            else:
                others += 1
                fas += hit is not None
    print(
        f'| enrolled "help me" (3 takes of the same voice) | {caught}/{helps} | '
        f"{fas}/{others} | {cpu / audio:.3f} | |"
    )


def answer_figures() -> None:
    """What the confirmation hears: per phrase and voice, yes (Y), no (N) or nothing (.)."""
    spotter = PocketsphinxSpotter(second_pass="none")  # answers use the word model only
    print("\nspoken answers while asking (voices slt, awb, rms, kal):")
    for phrase in ("yes", "no", "no thank you", "help", "help me", "please help me", "hello"):
        row = ""
        for voice in ("slt", "awb", "rms", "kal"):
            pcm = render(phrase, voice, 1.0, CACHE) + TAIL
            said: bool | None = None
            heard_no = False
            spotter.reset_answer()
            for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
                heard = spotter.feed_answer(pcm[i : i + FRAME_BYTES])
                if heard:
                    said = True
                    break
                heard_no = heard_no or heard is False
            if said is None and heard_no and spotter.confirms_no():
                said = False
            spotter.reset_answer()
            row += {True: "Y", False: "N", None: "."}[said]
        print(f"  {phrase:16s} {row}")


def anon_mb() -> float:
    """Anonymous resident memory (heap) of this process."""
    return status_mib("RssAnon")


def candidate_memory(corpus: list[Utterance], rounds: int = 3) -> None:
    """Heap growth from the neural check scoring candidates (freed memory is given back)."""
    from hub.voice.neural import HelpClassifier, release_freed_memory

    classifier = HelpClassifier()
    release_freed_memory()  # what the runs above freed, so the two figures compare
    before = anon_mb()
    for _ in range(rounds):
        for u in corpus:
            classifier.score(u.pcm + TAIL)
    print(
        f"\nneural check: RssAnon {before:.1f} MiB loaded, {anon_mb():.1f} MiB after scoring "
        f"{rounds * len(corpus)} utterances"
    )


def grid() -> None:
    """Each keyphrase alone at several thresholds, on the TRAINING part only."""
    corpus = build_set(TRAINING, CACHE)
    for phrase in ("help", "help me", "need help", "somebody help", "please help me"):
        for threshold in (1e-10, 1e-20, 1e-25, 1e-30, 1e-40):
            t = Tally().run(
                PocketsphinxSpotter({phrase: threshold}, second_pass="none", strong=frozenset()),
                corpus,
            )
            print(t.line(f"{phrase} /{threshold:g}/"), flush=True)


def main() -> None:
    """Print the tables for bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="threshold grid on TRAINING")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    if args.grid:
        grid()
        return
    parts = {
        "issue's 16/16": build(CACHE),
        "TRAINING": build_set(TRAINING, CACHE),
        "HELD_OUT": build_set(HELD_OUT, CACHE),
        "household sounds (sox, never trained on)": [
            Utterance(name, "sox", 1.0, False, pcm, "sox synth") for name, pcm in sox_sounds()
        ],
    }
    print("| engine | help caught | false alarms | RTF (CPU) | RTF (wall) |")
    print("|---|---|---|---|---|")
    conditions: dict[str, Tally] = {}
    for name, make in engines().items():
        rss0 = vm_rss_mb()
        spotter = make()
        rss = vm_rss_mb()
        for part, corpus in parts.items():
            tally = Tally().run(spotter, corpus)
            print(tally.line(f"{name}, {part}"), flush=True)
            if part == "HELD_OUT":
                conditions[name] = tally
        print(f"|   ({name}: VmRSS {rss:.0f} MB loaded, +{rss - rss0:.0f} MB) | | | | |")
    enrolled_figures()
    answer_figures()
    candidate_memory(parts["issue's 16/16"])
    for name, tally in conditions.items():
        print(f"\nHELD_OUT per condition, {name}: caught/helps, false alarms/others")
        for cond, (c, h, f, o) in tally.by_condition.items():
            print(f"  {cond:40s} {c}/{h}  {f}/{o}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

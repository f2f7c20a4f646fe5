"""Voice bench (English): per engine and set, help caught, false alarms, CPU and wall time.

Run: .venv/bin/python -m bench.voice            (needs flite, sox, espeak-ng and festival with
                                                 festvox-kallpc16k and festvox-kdlpc16k;
                                                 PINGAN_TTS_PYTHON for piper: bench/tts_worker.py)
     .venv/bin/python -m bench.voice --grid     (keyword thresholds on training voices only)

Sets:
- held out (issue 19): festival kal and ked, piper joe -- engines and speakers never used to
  train the classifier or set a threshold (bench/voice_speech.py) -- saying every English
  call for help, near-miss and ordinary sentence in two takes (as rendered; older: slower
  and lower) under each condition of hub/voice/rooms.py. Reported per condition, per
  phrase and per kind of talk (talk never trained on is apart).
- the issue-8 set (16 calls, 16 ordinary, flite voices, three of them trained on): kept as a
  regression check, not as a figure of merit.
- household sounds made by sox's synthesiser (never trained on).

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

from bench.common import machine, status_mib
from bench.voice_speech import EN_HELD_OUT, Clip, Speaker, build_clips, missing_tools
from hub.voice.corpus import (
    EN_HELP_PHRASES,
    EN_NEAR_MISSES,
    EN_TALK,
    EN_UNSEEN_TALK,
    Utterance,
    build,
    render,
)
from hub.voice.rooms import CONDITIONS
from hub.voice.sounds import sox_sounds
from hub.voice.spotter import DEFAULT_KEYPHRASES, Detection, PocketsphinxSpotter, Spotter

FRAME_BYTES = 960  # 30 ms of 16 kHz mono s16le
TAIL = b"\x00\x00" * 8000  # 0.5 s of silence after each utterance
CACHE = Path(os.environ.get("PINGAN_VOICE_CORPUS", "/tmp/pingan-voice-corpus")) / "flite"


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


def grid(phrases: tuple[str, ...] = (), thresholds: tuple[float, ...] = ()) -> None:
    """Each keyphrase alone at several thresholds, on training voices only (flite, espeak)."""
    speakers = (Speaker("flite", "slt"), Speaker("flite", "awb"), Speaker("espeak", "en-us+m3"))
    texts = {"help": EN_HELP_PHRASES, "near-miss": EN_NEAR_MISSES, "talk": EN_TALK}
    clips = build_clips(speakers, texts, frozenset({"help"}), conditions=("quiet", "tv_10db"))
    corpus = [Utterance(c.text, c.speaker, 1.0, c.is_help, c.pcm, c.condition) for c in clips]
    for phrase in phrases or (*DEFAULT_KEYPHRASES, "i fell", "fallen"):
        for threshold in thresholds or (1e-10, 1e-20, 1e-25, 1e-30, 1e-40):
            t = Tally().run(
                PocketsphinxSpotter({phrase: threshold}, second_pass="none", strong=frozenset()),
                corpus,
            )
            print(t.line(f"{phrase} /{threshold:g}/"), flush=True)


TUNING_SPEAKERS = (  # hub/voice/train.py's VALIDATION_SPEAKERS, never the held-out engines
    Speaker("flite", "rms"),
    Speaker("espeak", "en-gb-scotland+m1"),
    Speaker("espeak", "en-gb+grandma"),
    Speaker("espeak", "en-us+Gene"),
    Speaker("kokoro", "jf_tebukuro"),
)
FALL_KEYPHRASES = {"fallen": 1e-10, "i fell": 1e-10}


def tune(head_file: Path) -> None:
    """Thresholds of the two-pass spotter on the training engines' validation voices only.

    `head_file` must be a head fitted without those voices (hub/voice/train.py writes one
    as validation_head.npz). Every utterance is streamed once with the head's verdict made
    always true, so each detection carries the score the verdict would have been made on;
    the table then counts calls and false alarms for each keyword-candidate threshold and
    each threshold for short utterances the keyword list missed ("sure help")."""
    import hub.voice.spotter as spotter_module
    from hub.voice.neural import HelpClassifier, HelpHead

    head = HelpHead.load(head_file)
    always = Path("/tmp/pingan-tune-head.npz")
    HelpHead(head.mean, head.scale, head.w1, head.b1, head.w2, head.b2, head.steps, 0.0).save(
        always
    )
    spotter_module.SURE_HELP_SCORE = 0.0
    texts = {
        "help": EN_HELP_PHRASES,
        "near-miss": EN_NEAR_MISSES,
        "talk": EN_TALK,
        "talk never trained on": EN_UNSEEN_TALK,
    }
    clips = build_clips(TUNING_SPEAKERS, texts, frozenset({"help"}))
    spotter = PocketsphinxSpotter(
        {**DEFAULT_KEYPHRASES, **FALL_KEYPHRASES}, classifier=HelpClassifier(always)
    )
    rows: list[tuple[Clip, Detection | None]] = [(c, spot(spotter, c.pcm)) for c in clips]
    with (head_file.parent / "tune_rows.tsv").open("w", encoding="utf-8") as out:
        for clip, hit in rows:
            said = f"{hit.phrase}\t{hit.confidence}" if hit is not None else "-\t-"
            out.write(f"{clip.speaker}\t{clip.take}\t{clip.condition}\t{clip.kind}\t")
            out.write(f"{clip.text}\t{int(clip.is_help)}\t{said}\n")
    falls = set(FALL_KEYPHRASES)
    print(f"\n== tuning voices {', '.join(s.name for s in TUNING_SPEAKERS)} ({len(clips)} clips)")
    print("| fall keyphrases | candidate threshold | sure-help threshold | caught | false |")
    print("|---|---|---|---|---|")
    for with_falls in (False, True):
        for t in (0.2, 0.5, 0.9, 0.95, 0.98, 0.99, 0.995):
            for sure in (0.9, 0.95, 0.98, 0.99, 0.995, 1.01):
                caught = false = helps = others = 0
                by_cond: dict[str, list[int]] = defaultdict(lambda: [0, 0])
                for clip, hit in rows:
                    ok = False
                    if hit is not None:
                        if hit.phrase == spotter_module.SURE_HELP_PHRASE:
                            ok = hit.confidence >= sure
                        elif hit.phrase in falls and not with_falls:
                            ok = hit.confidence >= sure  # judged as a short utterance
                        else:
                            ok = hit.confidence >= t
                    if clip.is_help:
                        helps += 1
                        caught += ok
                        by_cond[clip.condition][0] += ok
                    else:
                        others += 1
                        false += ok
                        by_cond[clip.condition][1] += ok
                cond = " ".join(f"{c} {by_cond[c][0]}/{by_cond[c][1]}" for c in CONDITIONS)
                print(
                    f"| {'yes' if with_falls else 'no'} | {t} | {sure} | "
                    f"{caught}/{helps} ({caught / helps:.0%}) | "
                    f"{false}/{others} ({false / others:.1%}) | {cond}",
                    flush=True,
                )


def held_out_tables(name: str, spotter: Spotter, clips: list[Clip]) -> None:
    """Per condition, per phrase and per kind of talk, on the held-out speakers."""
    by_cond: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_phrase: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_speaker: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    fa_texts: dict[str, int] = defaultdict(int)
    cpu = audio = 0.0
    for clip in clips:
        cpu0 = time.process_time()
        hit = spot(spotter, clip.pcm)
        cpu += time.process_time() - cpu0
        audio += (len(clip.pcm) + len(TAIL)) / 32000
        cond, who = by_cond[clip.condition], by_speaker[f"{clip.speaker}, {clip.take}"]
        if clip.is_help:
            for row in (cond, who):
                row[0] += hit is not None
                row[1] += 1
            by_phrase[clip.text][0] += hit is not None
            by_phrase[clip.text][1] += 1
        else:
            for row in (cond, who):
                row[2] += hit is not None
                row[3] += 1
            by_kind[clip.kind][0] += hit is not None
            by_kind[clip.kind][1] += 1
            if hit is not None:
                fa_texts[clip.text] += 1
    print(f"\n== {name}, held out (CPU RTF {cpu / audio:.3f})")
    print("| condition | calls caught | false alarms on talk and near-misses |")
    print("|---|---|---|")
    for condition in (*CONDITIONS, "all"):
        c, h, f, o = (
            by_cond[condition]
            if condition != "all"
            else [sum(v[i] for v in by_cond.values()) for i in range(4)]
        )
        print(f"| {condition} | {c}/{h} ({c / max(h, 1):.0%}) | {f}/{o} ({f / max(o, 1):.1%}) |")
    print(
        "per speaker and take: "
        + "; ".join(f"{k} {c}/{h}, {f}/{o}" for k, (c, h, f, o) in by_speaker.items())
    )
    print("per phrase: " + ", ".join(f"{p} {c}/{h}" for p, (c, h) in by_phrase.items()))
    print("false alarms per kind: " + ", ".join(f"{k} {f}/{o}" for k, (f, o) in by_kind.items()))
    print("false alarms on: " + (", ".join(f"{t} x{n}" for t, n in fa_texts.items()) or "none"))


def main() -> None:
    """Print the tables for bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="threshold grid on training voices")
    parser.add_argument(
        "--grid-phrases", default="", help="keyphrases for --grid, comma-separated (default all)"
    )
    parser.add_argument(
        "--grid-thresholds", default="", help="thresholds for --grid, comma-separated"
    )
    parser.add_argument(
        "--speakers",
        default="",
        help="held-out voices to use, comma-separated (e.g. kal_diphone,joe); default all",
    )
    parser.add_argument(
        "--default-only", action="store_true", help="only the default engine (two-pass, neural)"
    )
    parser.add_argument(
        "--tune",
        type=Path,
        default=None,
        help="threshold table on the tuning voices for a head fitted without them",
    )
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    if args.tune is not None:
        tune(args.tune)
        return
    if args.grid:
        grid(
            tuple(filter(None, args.grid_phrases.split(","))),
            tuple(float(t) for t in filter(None, args.grid_thresholds.split(","))),
        )
        return
    missing = missing_tools()
    if missing:
        parser.error(f"missing {', '.join(missing)} (Debian packages)")
    texts = {
        "help": EN_HELP_PHRASES,
        "near-miss": EN_NEAR_MISSES,
        "talk": EN_TALK,
        "talk never trained on": EN_UNSEEN_TALK,
    }
    wanted = set(filter(None, args.speakers.split(",")))
    speakers = tuple(s for s in EN_HELD_OUT if not wanted or s.voice in wanted)
    if not speakers:
        parser.error(f"no held-out voice among {args.speakers}")
    held = build_clips(speakers, texts, frozenset({"help"}))
    parts = {
        "issue-8 set (flite; 3 of 4 voices trained on)": build(CACHE),
        "household sounds (sox, never trained on)": [
            Utterance(name, "sox", 1.0, False, pcm, "sox synth") for name, pcm in sox_sounds()
        ],
    }
    print("| engine | help caught | false alarms | RTF (CPU) | RTF (wall) |")
    print("|---|---|---|---|---|")
    chosen = engines()
    if args.default_only:
        chosen = {k: v for k, v in chosen.items() if k.endswith("(default)")}
    for name, make in chosen.items():
        rss0 = vm_rss_mb()
        spotter = make()
        rss = vm_rss_mb()
        for part, corpus in parts.items():
            tally = Tally().run(spotter, corpus)
            print(tally.line(f"{name}, {part}"), flush=True)
        print(f"|   ({name}: VmRSS {rss:.0f} MB loaded, +{rss - rss0:.0f} MB) | | | | |")
        if name != "pocketsphinx + word model (second_pass words)":
            held_out_tables(name, spotter, held)
    if not args.default_only:
        answer_figures()
    candidate_memory(parts["issue-8 set (flite; 3 of 4 voices trained on)"])
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

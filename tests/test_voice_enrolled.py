"""Stories of an elder enrolling their own help phrase, in any dialect."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hub.voice.corpus import render
from hub.voice.enrolled import (
    EMBEDDING_THRESHOLD,
    MFCC_THRESHOLD,
    TEMPLATES_FILE,
    EnrolledPhrase,
    Kind,
    dtw_distance,
)

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("sox") is None,
    reason="flite and sox (Debian packages) are needed to render test speech",
)

OTHERS = ("hello", "help", "please help me", "what time is it", "good morning")


@pytest.fixture(scope="module", params=["embedding", "mfcc"])
def enrolled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[EnrolledPhrase, Path]:
    kind: Kind = request.param
    if kind == "embedding":
        pytest.importorskip("onnxruntime")
    work = tmp_path_factory.mktemp("enrol")
    # flite is deterministic, so the three "takes" differ in pace, as an elder's would.
    takes = [render("help me", "slt", speed, work) for speed in (1.0, 1.1, 0.9)]
    return EnrolledPhrase("help me", takes, kind=kind), work


def test_each_kind_of_template_has_its_own_measured_threshold(
    enrolled: tuple[EnrolledPhrase, Path],
) -> None:
    phrase, _ = enrolled
    expected = EMBEDDING_THRESHOLD if phrase.kind == "embedding" else MFCC_THRESHOLD
    assert phrase.threshold == expected


def test_the_enrolled_phrase_is_recognised_in_a_fourth_take_and_when_said_slowly(
    enrolled: tuple[EnrolledPhrase, Path],
) -> None:
    phrase, work = enrolled
    assert phrase.matches(render("help me", "slt", 1.05, work))
    assert phrase.matches(render("help me", "slt", 1.25, work))


def test_other_things_the_elder_says_do_not_match(
    enrolled: tuple[EnrolledPhrase, Path],
) -> None:
    phrase, work = enrolled
    assert [p for p in OTHERS if phrase.matches(render(p, "slt", 1.0, work))] == []


def test_templates_survive_a_restart_and_old_mfcc_files_still_load(
    enrolled: tuple[EnrolledPhrase, Path], tmp_path: Path
) -> None:
    phrase, work = enrolled
    phrase.save(tmp_path / TEMPLATES_FILE)
    again = EnrolledPhrase.load(tmp_path / TEMPLATES_FILE)
    assert (again.phrase, again.kind, len(again.templates)) == ("help me", phrase.kind, 3)
    assert again.matches(render("help me", "slt", 1.05, work))
    if phrase.kind == "mfcc":  # a file from before embeddings: no kind stored
        old = {f"t{i}": t for i, t in enumerate(phrase.templates)}
        np.savez(tmp_path / "old.npz", phrase=np.array("help me"), threshold=np.array(5.0), **old)  # type: ignore[arg-type]
        assert EnrolledPhrase.load(tmp_path / "old.npz").kind == "mfcc"


def test_dtw_by_diagonals_is_the_textbook_recurrence() -> None:
    def textbook(a: np.ndarray, b: np.ndarray) -> float:
        cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
        acc = np.full((a.shape[0] + 1, b.shape[0] + 1), np.inf)
        acc[0, 0] = 0.0
        for i in range(1, a.shape[0] + 1):
            for j in range(1, b.shape[0] + 1):
                acc[i, j] = cost[i - 1, j - 1] + min(
                    acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1]
                )
        return float(acc[-1, -1] / (a.shape[0] + b.shape[0]))

    rng = np.random.default_rng(3)
    for n, m in ((1, 1), (1, 6), (9, 2), (30, 41)):
        a, b = rng.normal(size=(n, 12)), rng.normal(size=(m, 12))
        assert dtw_distance(a, b) == pytest.approx(textbook(a, b))


@pytest.mark.parametrize("kind", ["embedding", "mfcc"])
def test_a_take_unlike_the_other_two_is_left_out_and_does_not_match_her_talk(
    kind: Kind, tmp_path: Path
) -> None:
    # The third "take" is something else she said (the installer pressed record too early):
    # kept as a template it would turn that ordinary sentence into a call for help.
    if kind == "embedding":
        pytest.importorskip("onnxruntime")
    takes = [render("help me", "slt", speed, tmp_path) for speed in (1.0, 1.1)]
    takes.append(render("what time is it", "slt", 1.0, tmp_path))
    phrase = EnrolledPhrase("help me", takes, kind=kind)
    assert (len(phrase.templates), phrase.dropped_takes) == (2, [2])
    assert not phrase.matches(render("what time is it", "slt", 0.95, tmp_path))
    assert phrase.matches(render("help me", "slt", 1.05, tmp_path))

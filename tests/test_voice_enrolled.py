"""Stories of an elder enrolling their own help phrase, in any dialect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.voice.corpus import render
from hub.voice.enrolled import EnrolledPhrase

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("sox") is None,
    reason="flite and sox (Debian packages) are needed to render test speech",
)

# flite is deterministic, so the three "takes" differ in pace, as an elder's would.
THRESHOLD = 5.0  # measured: same phrase ~4.1, other phrases 5.7-8.1


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> tuple[EnrolledPhrase, Path]:
    work = tmp_path_factory.mktemp("enrol")
    takes = [render("help me", "slt", speed, work) for speed in (1.0, 1.1, 0.9)]
    return EnrolledPhrase("help me", takes, THRESHOLD), work


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
    others = ("hello", "help", "please help me", "what time is it", "good morning")
    assert [p for p in others if phrase.matches(render(p, "slt", 1.0, work))] == []

"""Stories of the confirmation flow after the hub hears a help phrase."""

from __future__ import annotations

from hub.voice.confirm import Action, Answer, ConfirmFlow, ConfirmState, Outcome


def test_elder_who_says_help_and_then_stays_silent_gets_an_sos() -> None:
    flow = ConfirmFlow(timeout_s=10.0)
    assert flow.on_detection("help me", 0.8, now=100.0) == Outcome(
        Action.ASK, "help me", 0.8, "detected"
    )
    assert flow.tick(now=109.9) is None
    assert flow.tick(now=110.0) == Outcome(Action.RAISE_SOS, "help me", 0.8, "no_answer")
    assert flow.state is ConfirmState.IDLE
    assert flow.tick(now=200.0) is None


def test_elder_who_answers_no_is_not_called_but_it_is_logged() -> None:
    flow = ConfirmFlow()
    flow.on_detection("help", 0.6, now=0.0)
    assert flow.on_answer(Answer.NO, now=3.0) == Outcome(Action.LOG_DECLINED, "help", 0.6, "no")
    assert flow.tick(now=60.0) is None


def test_yes_or_the_sos_button_raises_at_once() -> None:
    for answer in (Answer.YES, Answer.BUTTON_SOS):
        flow = ConfirmFlow()
        flow.on_detection("help", 0.6, now=0.0)
        outcome = flow.on_answer(answer, now=2.0)
        assert outcome == Outcome(Action.RAISE_SOS, "help", 0.6, answer.value)


def test_a_no_that_arrives_after_the_window_still_raises_the_sos() -> None:
    flow = ConfirmFlow(timeout_s=10.0)
    flow.on_detection("help", 0.6, now=0.0)
    assert flow.on_answer(Answer.NO, now=10.5) == Outcome(
        Action.RAISE_SOS, "help", 0.6, "no_answer"
    )


def test_repeated_help_while_asking_does_not_restart_the_window() -> None:
    flow = ConfirmFlow(timeout_s=10.0)
    flow.on_detection("help", 0.6, now=0.0)
    assert flow.on_detection("help me", 0.9, now=5.0) is None
    assert flow.tick(now=10.0) == Outcome(Action.RAISE_SOS, "help", 0.6, "no_answer")

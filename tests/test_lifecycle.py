"""The alarm lifecycle state machine, driven with a fake monotonic clock (no IO)."""

from __future__ import annotations

from hub.sos.lifecycle import (
    Alarm,
    AlarmBook,
    AlarmState,
    Escalate,
    Feedback,
    Persist,
    Resend,
    Timing,
)

T0 = 1000.0


def book_with_sent_alarm(timing: Timing | None = None) -> AlarmBook:
    book = AlarmBook(timing or Timing(ack_timeout_s=30, resend_s=10, cancel_window_s=30))
    book.raised("A", "sos", T0, raised_by="press:1")
    book.committed("A", 1, T0 + 0.01)
    book.sent("A", T0 + 0.02)
    return book


def test_an_alarm_walks_raised_committed_sent_acknowledged_dispatched_closed() -> None:
    book = AlarmBook(Timing())
    assert book.raised("A", "sos", T0) == [Feedback("A", AlarmState.RAISED)]
    assert book.committed("A", 7, T0) == [Feedback("A", AlarmState.COMMITTED), Persist("A")]
    assert book.sent("A", T0) == [Feedback("A", AlarmState.SENT), Persist("A")]
    assert book.acked("A", "received", T0, operator="坐席 07") == [
        Feedback("A", AlarmState.ACKNOWLEDGED),
        Persist("A"),
    ]
    assert book.acked("A", "dispatched", T0) == [Feedback("A", AlarmState.DISPATCHED), Persist("A")]
    assert book.acked("A", "resolved", T0) == [Feedback("A", AlarmState.CLOSED), Persist("A")]
    alarm = book.alarms["A"]
    assert (alarm.seq, alarm.operator, alarm.is_open) == (7, "坐席 07", False)
    assert [s for s, _ in alarm.history] == [
        "raised",
        "committed",
        "sent",
        "acknowledged",
        "dispatched",
        "closed",
    ]


def test_a_later_centre_state_may_arrive_first_and_an_earlier_one_never_goes_back() -> None:
    book = book_with_sent_alarm()
    book.acked("A", "dispatched", T0 + 1)
    assert book.acked("A", "received", T0 + 2) == [Persist("A")]
    assert book.alarms["A"].state is AlarmState.DISPATCHED


def test_unknown_alarm_or_state_in_an_ack_is_refused() -> None:
    book = book_with_sent_alarm()
    assert book.acked("nope", "received", T0) is None
    assert book.acked("A", "on fire", T0) is None
    assert book.alarms["A"].state is AlarmState.SENT


def test_unanswered_alarm_is_resent_every_interval_and_escalated_once_at_the_timeout() -> None:
    book = book_with_sent_alarm(Timing(ack_timeout_s=30, resend_s=10, slow_resend_s=60))
    assert book.tick(T0 + 9) == []
    assert book.tick(T0 + 10.02) == [Resend("A")]
    assert book.tick(T0 + 15) == []
    assert book.tick(T0 + 20.02) == [Resend("A")]
    assert book.tick(T0 + 30.02) == [Resend("A"), Escalate("A", "no_ack"), Persist("A")]
    assert book.tick(T0 + 31) == []
    assert book.tick(T0 + 40.02) == []  # after the fallback the pace slows ...
    assert book.tick(T0 + 90.02) == [Resend("A")]  # ... but it never stops


def test_default_retry_timing_follows_the_essence_ul_profile() -> None:
    """First send + 5 retries 5 s apart, then the other path at 30 s (UL: 5-10 x 3-7 s)."""
    book = book_with_sent_alarm(Timing())
    resends = []
    for second in range(1, 121):
        actions = book.tick(T0 + 0.02 + second)
        resends += [second for a in actions if isinstance(a, Resend)]
        if any(isinstance(a, Escalate) for a in actions):
            escalated_at = second
    assert resends == [5, 10, 15, 20, 25, 30, 90]
    assert escalated_at == 30


def test_alarm_never_delivered_escalates_as_not_delivered_without_resends() -> None:
    book = AlarmBook(Timing(ack_timeout_s=30, resend_s=10))
    book.raised("A", "sos", T0)
    book.committed("A", 1, T0)
    assert book.tick(T0 + 29) == []
    assert book.tick(T0 + 30) == [Escalate("A", "not_delivered"), Persist("A")]


def test_acknowledged_alarm_is_neither_resent_nor_escalated() -> None:
    book = book_with_sent_alarm()
    book.acked("A", "received", T0 + 5)
    assert book.tick(T0 + 100) == []


def test_a_hold_cancels_only_an_sos_from_an_earlier_press_within_the_window() -> None:
    book = book_with_sent_alarm()
    assert book.open_alarm_for_cancel(T0 + 3, press="press:1") is None  # its own press
    alarm = book.open_alarm_for_cancel(T0 + 10, press="press:2")
    assert alarm is not None and alarm.id == "A"
    assert book.open_alarm_for_cancel(T0 + 31, press="press:2") is None  # too late
    assert book.cancelled("A", T0 + 10) == [Feedback("A", AlarmState.CANCELLED), Persist("A")]
    assert book.tick(T0 + 100) == []
    assert book.acked("A", "received", T0 + 11) == [Persist("A")]  # stays cancelled
    assert book.alarms["A"].state is AlarmState.CANCELLED


def test_a_restored_alarm_restarts_its_timers_and_keeps_its_state() -> None:
    book = book_with_sent_alarm()
    record = book.alarms["A"].to_record()
    restored = Alarm.from_record(record, now=5.0)
    assert (restored.id, restored.state, restored.seq, restored.raised_by) == (
        "A",
        AlarmState.SENT,
        1,
        "press:1",
    )
    fresh = AlarmBook(Timing(ack_timeout_s=30, resend_s=10))
    fresh.alarms["A"] = restored
    assert fresh.tick(15.0) == [Resend("A")]
    assert fresh.tick(35.0) == [Resend("A"), Escalate("A", "no_ack"), Persist("A")]


def test_an_alarm_raised_with_the_uplink_down_escalates_after_the_grace_not_the_timeout() -> None:
    book = AlarmBook(Timing(ack_timeout_s=30, resend_s=5, uplink_grace_s=10))
    book.raised("A", "sos", T0)
    book.committed("A", 1, T0)
    down_since = T0 - 100  # the router has been off for a while
    assert book.tick(T0 + 9, down_since) == []
    assert book.tick(T0 + 10, down_since) == [Escalate("A", "uplink_down"), Persist("A")]


def test_a_delivered_alarm_is_not_escalated_early_when_the_link_drops_later() -> None:
    book = book_with_sent_alarm(Timing(ack_timeout_s=30, resend_s=5, uplink_grace_s=10))
    actions = book.tick(T0 + 20, uplink_down_since=T0 + 5)
    assert not any(isinstance(a, Escalate) for a in actions)

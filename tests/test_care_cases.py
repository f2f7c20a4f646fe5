"""The cases a real elder's life has (issue 15), each told as a scenario in tests/scenarios/.

Each asserts the exact events (day, local time, kind, priority) the centre would get:
a fall the checks must not lose, and an ordinary day they must not turn into an alarm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.care.scenario import TimelineEntry, explain_at, simulate
from hub.cli import main

SCENARIOS = Path(__file__).parent / "scenarios"
BEFORE_THE_FIX = pytest.mark.xfail(strict=True, reason="issue 15: not built yet")


def timeline(name: str) -> list[TimelineEntry]:
    """Everything the scenario raises, with the spoken prompts and LEDs."""
    return simulate(SCENARIOS / name, include_actions=True)


def events(name: str) -> list[tuple[int, str, str, int | None]]:
    """(day, local time, kind, priority) of every event the scenario raises."""
    return [(e.day, e.time, e.kind, e.priority) for e in timeline(name) if e.priority is not None]


def said(name: str) -> list[tuple[int, str, str]]:
    """(day, local time, prompt) of every spoken prompt."""
    return [(e.day, e.time, e.detail) for e in timeline(name) if e.kind == "say"]


# -- a pulse shows she is alive, not that she is fine ------------------------------------


def test_a_fall_while_wearing_the_band_is_raised_although_the_pulse_keeps_coming() -> None:
    assert events("fall_band_worn.txt") == [(1, "11:35", "inactivity", 0)]  # 10:00 + 90 + 5


def test_a_day_with_a_pulse_but_no_action_raises_the_24_h_check_saying_she_is_alive() -> None:
    entries = [e for e in timeline("survival_band_worn.txt") if e.priority is not None]
    assert [(e.day, e.time, e.kind, e.priority) for e in entries] == [
        (2, "09:00", "survival_overdue", 0),
        (2, "15:00", "survival_overdue", 0),
        (2, "21:00", "survival_overdue", 0),
    ]
    assert entries[0].detail == (
        "no action for 24.0 h; her wearable still reads her vital signs (heart_rate 76 at "
        "09:00): alive, but not moving"
    )


def test_a_band_left_on_the_table_reading_a_pulse_of_0_is_neither_worn_nor_an_alert() -> None:
    assert events("band_on_table.txt") == []


def test_a_nap_with_the_band_on_raises_nothing() -> None:
    assert events("afternoon_nap.txt") == []


# -- "no motion" and "closed" are not her ------------------------------------------------


def test_a_pir_reporting_no_motion_every_five_minutes_does_not_hide_a_fall() -> None:
    assert events("pir_reports_no_motion.txt") == [(1, "11:35", "inactivity", 0)]


def test_hourly_door_closed_reports_do_not_hide_a_fall_but_a_real_door_use_counts() -> None:
    assert events("door_status_reports.txt") == [(1, "11:35", "inactivity", 0)]  # 09:30 + 125


# -- away mode: explicit and bounded -------------------------------------------------------


def test_four_hours_at_the_market_with_the_band_raise_nothing_and_speak_to_nobody() -> None:
    assert timeline("outing_with_band.txt") == []


def test_a_dead_band_then_a_parcel_then_a_fall_at_the_door_is_raised_in_time() -> None:
    assert events("band_dead_parcel_fall.txt") == [
        (1, "16:05", "inactivity", 0),  # the band left before the door: she never went out
        (2, "14:00", "survival_overdue", 0),
        (2, "20:00", "survival_overdue", 0),
    ]


def test_away_mode_pauses_the_inactivity_rules_but_never_the_24_h_check() -> None:
    assert events("away_too_long.txt") == [(2, "09:00", "survival_overdue", 0)]


def test_holding_the_green_button_says_going_out_only_when_the_door_follows() -> None:
    assert events("going_out_gesture.txt") == [(2, "11:05", "inactivity", 0)]


def test_a_holiday_pauses_the_checks_until_she_is_back() -> None:
    assert events("holiday.txt") == []


def test_after_a_holiday_ends_with_no_sign_of_her_the_24_h_check_runs_from_its_end() -> None:
    assert events("holiday_no_return.txt") == [(6, "00:00", "survival_overdue", 0)]


# -- the night ---------------------------------------------------------------------------


def test_a_night_visit_to_the_bathroom_that_does_not_end_is_a_suspected_fall() -> None:
    assert events("night_bathroom.txt") == [(3, "02:30", "fall_suspected", 0)]
    assert said("night_bathroom.txt") == [
        (3, f"02:2{m}", "prealarm_press_green") for m in range(5, 10)
    ]  # 30 min after her last movement, she is asked to press the green button


def test_a_long_shower_and_a_long_night_visit_are_not_a_fall() -> None:
    assert events("long_shower.txt") == []


def test_sitting_in_the_living_room_after_a_late_shower_is_not_a_fall_in_the_bathroom() -> None:
    assert events("evening_shower_then_tv.txt") == [
        (2, "03:06", "fall_suspected", 0),  # 02:31 + 30 min + 5 min pre-alarm
    ]


def test_a_visitor_leaving_at_night_is_a_note_but_walking_out_with_the_band_is_an_alarm() -> None:
    assert events("night_visitor.txt") == [
        (1, "22:45", "night_door", 1),  # her band never left: somebody else went out
        (2, "02:03:30", "night_exit", 0),
    ]


def test_the_night_exit_watch_is_on_by_default_once_a_door_contact_is_paired() -> None:
    assert events("night_exit_default.txt") == [(1, "02:25", "night_exit", 0)]


# -- one incident, one case ----------------------------------------------------------------


def test_one_fall_is_one_case_at_the_centre_with_every_later_alarm_an_update_of_it() -> None:
    entries = [e for e in timeline("one_incident.txt") if e.priority is not None]
    assert [(e.day, e.time, e.kind, e.priority) for e in entries] == [
        (1, "11:35", "inactivity", 0),  # idle 120 min
        (1, "21:35", "inactivity", 0),  # continuous 12 h
        (2, "09:30", "survival_overdue", 0),
        (2, "10:05", "inactivity", 0),  # nobody stirred 07:00-10:00
        (2, "15:30", "survival_overdue", 0),
        (2, "21:30", "survival_overdue", 0),
        (3, "03:30", "survival_overdue", 0),
        (3, "17:05", "inactivity", 0),  # found at 08:00; falls again at 15:00: a new case
    ]
    first = entries[0].data["incident"]
    assert [e.data["incident"] for e in entries] == [first] * 7 + [entries[7].data["incident"]]
    assert entries[7].data["incident"] != first
    assert [e.data["update"] for e in entries] == [0, 1, 2, 3, 4, 5, 6, 0]


# -- vital signs ---------------------------------------------------------------------------


def test_spo2_a_little_low_is_a_warning_and_below_88_percent_an_alarm() -> None:
    assert events("vitals_spo2_severity.txt") == [
        (1, "10:05", "vital_abnormal", 1),
        (1, "15:05", "vital_abnormal", 0),
    ]


# -- what a care manager reads -------------------------------------------------------------


def test_explain_at_a_moment_says_why_there_is_no_alarm_yet_and_on_which_readings() -> None:
    state = explain_at(SCENARIOS / "fall_band_worn.txt", "1 11:00").state
    assert state == [
        "where: home",
        "last action: motion pir:kitchen at 10:00",
        "since then, not actions: 6 heart_rate (worn)",  # the pulse is seen, and not counted
        "wearable: worn (heart_rate 78 band:wrist at 11:00)",
        "survival-24h: 1.0 h of 24 h without action",
        "idle-90min-08:00-21:00: in its window: 60 min of 90 without action",
        "night_visit-30min: 22:00-06:00: no visit under way",
        "night_exit: off (auto: no door contact paired)",
        "check-in: off",
        "vitals: every measure normal (or not measured)",
        "incidents: none open",
    ]


def test_explain_at_names_the_rule_about_to_fire_and_the_room_it_watches() -> None:
    explained = explain_at(SCENARIOS / "night_bathroom.txt", "day 3 02:27")
    assert explained.timeline == []
    assert (
        "night_visit-30min: prealarm: night visit to 卫生间 at 01:52; no action anywhere "
        in "\n".join(explained.state)
    )
    after = explain_at(SCENARIOS / "night_bathroom.txt", "3 02:31")
    [alarm] = after.timeline
    assert alarm.why == (
        "rule night_visit-30min: night visit to 卫生间 at 01:52; no action anywhere since "
        "01:55 (35 min), last seen in 卫生间; the pre-alarm was not answered",
        "motion pir:bath (卫生间) at 01:52",
        "motion pir:bath (卫生间) at 01:55",
    )
    assert f"incidents: elder: {alarm.data['incident']} (fall_suspected at " in "\n".join(
        after.state
    )


def test_simulate_explain_prints_each_alarm_with_its_rule_and_readings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["simulate", "--scenario", str(SCENARIOS / "night_exit_default.txt"), "--explain"])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[1:5] == [
        "day  1 02:25  p0  night_exit  door opened at 02:10 at night; no return within 15 min "
        "(no wearable to tell who left)",
        "             rule night_exit: door opened at 02:10 at night; no return within 15 min "
        "(no wearable to tell who left)",
        "             door opened door:front (大门) at 02:10",
        "             door closed door:front (大门) at 02:10:30",
    ]
    assert (
        main(
            ["simulate", "--scenario", str(SCENARIOS / "night_exit_default.txt"), "--at", "1 02:20"]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["no events", "at day 1 02:20:"]
    assert (
        "  night_exit: on, 22:00-06:00: door opened door:front (大门) at 02:10, 10 of 15 min "
        "without a return (no wearable near)"
    ) in out
    assert (
        main(["simulate", "--scenario", str(SCENARIOS / "night_exit_default.txt"), "--at", "2:20"])
        == 2
    )


# -- the family's switches -----------------------------------------------------------------


def test_the_family_can_say_she_is_out_with_them_and_set_a_holiday() -> None:
    # the holiday ends at the end of the 5th (day 4): the checks count from then
    assert events("family_switches.txt") == [
        (5, "12:05", "inactivity", 0),  # the 12 h rule, after its pre-alarm
        (6, "00:00", "survival_overdue", 0),
    ]

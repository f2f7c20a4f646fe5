"""The care checks told as the stories of the elders in tests/scenarios/."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.care.scenario import TimelineEntry, format_timeline, simulate, simulate_text
from hub.errors import ConfigError

SCENARIOS = Path(__file__).parent / "scenarios"


def events(name: str, days: int | None = None) -> list[tuple[int, str, str, int | None]]:
    """(day, local time, kind, priority) of every event the scenario raises."""
    return [(e.day, e.time, e.kind, e.priority) for e in simulate(SCENARIOS / name, days)]


def said(name: str) -> list[tuple[int, str, str]]:
    """(day, local time, prompt) of every spoken prompt."""
    timeline = simulate(SCENARIOS / name, include_actions=True)
    return [(e.day, e.time, e.detail) for e in timeline if e.kind == "say"]


def test_an_ordinary_week_raises_no_alarm_only_the_daily_checkins() -> None:
    assert events("normal_week.txt") == [(d, "07:30", "checkin", 1) for d in range(1, 8)]


def test_a_fall_with_no_movement_afterwards_is_raised_after_the_idle_time_and_prealarm() -> None:
    assert events("fall_no_movement.txt") == [
        (1, "07:20", "checkin", 1),
        (1, "11:35", "inactivity", 0),  # 09:30 + 120 min quiet + 5 min pre-alarm
    ]
    assert said("fall_no_movement.txt")[1:] == [
        (1, f"11:3{m}", "prealarm_press_green") for m in range(5)
    ]


def test_no_sign_of_life_for_24_hours_raises_survival_overdue_and_repeats_until_activity() -> None:
    assert events("no_sign_24h.txt") == [
        (2, "20:00", "survival_overdue", 0),  # 24 h after the last motion; presence ignored
        (3, "02:00", "survival_overdue", 0),  # repeated every 6 h
    ]  # cleared by the motion on day 3 at 08:00: nothing more


def test_a_missed_checkin_is_reminded_at_10_then_reported_after_the_grace_period() -> None:
    assert events("missed_checkin.txt") == [
        (1, "07:30", "checkin", 1),
        (2, "12:00", "checkin_missed", 1),
        (3, "10:30", "checkin", 1),  # pressed after the reminder: no checkin_missed
    ]
    assert said("missed_checkin.txt") == [
        (1, "07:30", "checkin_thanks"),
        (2, "10:00", "checkin_reminder"),
        (3, "10:00", "checkin_reminder"),
        (3, "10:30", "checkin_thanks"),
    ]


def test_continuous_inactivity_cancelled_by_the_green_button_then_raised_the_next_day() -> None:
    assert events("inactivity_continuous.txt") == [
        (1, "20:03", "checkin", 1),
        (2, "20:05", "inactivity", 0),
    ]
    assert said("inactivity_continuous.txt")[:5] == [
        (1, "20:00", "prealarm_press_green"),
        (1, "20:01", "prealarm_press_green"),
        (1, "20:02", "prealarm_press_green"),
        (1, "20:03", "checkin_thanks"),
        (1, "20:03", "prealarm_cancelled"),
    ]


def test_window_inactivity_cancelled_on_day_one_and_raised_on_day_two() -> None:
    assert events("inactivity_window.txt") == [
        (1, "10:02", "checkin", 1),
        (2, "10:05", "inactivity", 0),
    ]


def test_idle_in_window_inactivity_cancelled_on_day_one_and_raised_on_day_two() -> None:
    assert events("inactivity_idle.txt") == [
        (1, "09:03", "checkin", 1),
        (2, "09:05", "inactivity", 0),  # quiet since 07:50, counted from 08:00
    ]


def test_night_exit_with_return_is_quiet_without_return_or_with_the_pendant_gone_alarms() -> None:
    assert events("night_exit.txt") == [
        (2, "02:25", "night_exit", 0),  # opened 02:10, no return within 15 min
        (3, "03:01", "night_exit", 0),  # the pendant left with him
    ]


def test_sustained_low_spo2_alarms_after_5_minutes_but_one_noisy_reading_does_not() -> None:
    timeline = simulate(SCENARIOS / "vitals_spo2.txt")
    assert timeline == [  # 87 % is below the critical 88 %: an alarm, not a warning
        TimelineEntry(1, "14:05", "vital_abnormal", 0, "spo2_pct 87 abnormal for 5 min")
    ]


def test_a_gas_leak_alarms_at_once_with_the_siren_and_spoken_guidance() -> None:
    timeline = simulate(SCENARIOS / "gas_leak.txt", include_actions=True)
    assert [(e.time, e.kind, e.priority, e.detail) for e in timeline] == [
        ("18:20", "gas", 0, "gas detector alarm"),
        ("18:20", "siren", None, "on"),
        ("18:20", "say", None, "hazard_gas_no_switches_open_windows_leave"),
        ("18:20", "led", None, "alarm"),
        ("19:00", "gas", 0, "gas detector alarm"),  # leaked again after it was cleared
        ("19:00", "siren", None, "on"),
        ("19:00", "say", None, "hazard_gas_no_switches_open_windows_leave"),
        ("19:00", "led", None, "alarm"),
    ]


def test_on_the_dst_change_day_windows_follow_local_time_and_24_h_stays_24_real_hours() -> None:
    assert events("dst_day.txt") == [
        (1, "07:30", "checkin", 1),
        (2, "10:05", "inactivity", 0),  # local 07:00-10:00 BST window
        (2, "11:00", "checkin_missed", 1),  # local 10:00 reminder + 60 min
        (2, "13:00", "survival_overdue", 0),  # 12:00 GMT + 24 h = 13:00 BST
        (2, "19:00", "survival_overdue", 0),
    ]


def test_an_ntp_jump_after_a_reboot_with_a_stale_clock_fires_nothing() -> None:
    assert events("ntp_jump.txt") == [(1, "07:30", "checkin", 1), (2, "07:30", "checkin", 1)]


def test_a_reboot_mid_window_neither_resets_the_24_h_window_nor_forgets_morning_activity() -> None:
    assert events("restart_mid_window.txt") == [
        (3, "07:10", "survival_overdue", 0),  # 24 h after day 2 07:10, not after the reboot
        (3, "10:05", "inactivity", 0),  # day 2's window was satisfied before the reboot
    ]


def test_the_timeline_reads_as_plain_lines() -> None:
    text = format_timeline(simulate(SCENARIOS / "gas_leak.txt"), "Gas leak")
    assert text.splitlines() == [
        "Gas leak",
        "day  1 18:20  p0  gas  gas detector alarm",
        "day  1 19:00  p0  gas  gas detector alarm",
    ]
    assert format_timeline([]) == "no events"


def test_days_on_the_command_line_override_the_scenario_and_repeat_daily_lines() -> None:
    assert events("normal_week.txt", days=2) == [
        (1, "07:30", "checkin", 1),
        (2, "07:30", "checkin", 1),
    ]
    assert len(events("normal_week.txt", days=10)) == 10


def test_a_scenario_with_mistakes_names_each_bad_line() -> None:
    text = "start 2026-11-02\nday x 07:00 motion pir\nsometimes 07:00 motion\nconfig survival_window_h = 0\n"
    with pytest.raises(ConfigError) as err:
        simulate_text(text)
    assert err.value.problems == [
        "scenario:2: cannot read 'day x 07:00 motion pir'",
        "scenario:3: unknown line start 'sometimes'",
        "care.survival_window_h: 0 is out of range 1..168",
    ]
    with pytest.raises(ConfigError, match=r"care.survival_window_h: 0 is out of range"):
        simulate_text("config survival_window_h = 0\n")


def test_a_scenario_speaks_in_seconds_and_shows_what_the_hub_adds_around_the_checks() -> None:
    text = """\
config  checkin_enabled = false
device  pir:bath motion 卫生间
device  pendant:1 button
day 1   09:00:30 press red
day 1   09:01 press green
day 1   09:20:05 button pendant:1
day 1   10:00 offline pir:bath
day 1   10:05:07 motion pir:bath
day 1   11:00 battery pir:bath 15
day 1   11:30 battery pir:bath 10
"""
    assert [(e.day, e.time, e.kind, e.priority) for e in simulate_text(text, 1)] == [
        (1, "09:00:30", "sos", 0),  # the SOS path raises it, not the care checks
        (1, "09:01", "checkin", 1),
        (1, "09:20:05", "sos", 0),  # a paired pendant's press
        (1, "10:00", "sensor_offline", 1),
        (1, "10:05:07", "sensor_restored", 1),  # heard again
        (1, "11:00", "battery_low", 1),  # and not again the same day
    ]


def test_a_scenario_line_the_runner_cannot_run_is_named_before_anything_runs() -> None:
    with pytest.raises(ConfigError) as err:
        simulate_text("day 1 09:00 press blue\nday 1 09:00 battery pir:x\nday 1 25:00 motion p\n")
    assert err.value.problems == [
        "scenario:1: cannot read 'day 1 09:00 press blue'",
        "scenario:2: cannot read 'day 1 09:00 battery pir:x'",
        "scenario:3: cannot read 'day 1 25:00 motion p'",
    ]


def test_every_repeats_a_line_through_a_span_of_the_day() -> None:
    text = """\
config  checkin_enabled = false
every   20min 09:00-10:00 press red
day 2   every 30s 09:00-09:01 press red
"""
    assert [(e.day, e.time) for e in simulate_text(text, 2)] == [
        (1, "09:00"),
        (1, "09:20"),
        (1, "09:40"),
        (1, "10:00"),
        (2, "09:00"),
        (2, "09:00"),  # the daily line and the day-2 line at the same time
        (2, "09:00:30"),
        (2, "09:01"),
        (2, "09:20"),
        (2, "09:40"),
        (2, "10:00"),
    ]

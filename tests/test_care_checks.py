"""Single care checks driven by hand on a FakeClock: the rules behind the scenarios."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest

from hub.care.base import Siren, Speak
from hub.care.config import CareConfig, InactivityMode, InactivityRule, parse_care_config
from hub.care.engine import CareEngine, Where
from hub.care.rooms import Paired
from hub.care.routine import ROUTINE_DAYS
from hub.care.scenario import simulate_text
from hub.clock import FakeClock
from hub.errors import ConfigError
from hub.reading import Reading, State

HOUR = 3600.0


def motion(device: str = "pir:kitchen") -> Reading:
    """A PIR seeing movement."""
    return Reading(
        device=device, protocol="sim", kind="motion", values={"motion": True}, state=State.ALARM
    )


def run_hours(engine: CareEngine, clock: FakeClock, hours: float) -> list[str]:
    """Tick once a minute for `hours`; the kinds of every draft raised."""
    kinds = []
    for _ in range(int(hours * 60)):
        clock.advance(60)
        kinds += [d.kind for d in engine.tick().drafts]
    return kinds


def test_the_default_care_config_is_valid_and_matches_the_documents() -> None:
    cfg = parse_care_config({})
    assert cfg == CareConfig()
    assert cfg.survival_window_h == 24.0
    assert cfg.prealarm_min == 5.0
    assert "presence" not in cfg.sign_of_life_kinds


def test_bad_care_options_are_named_with_what_to_do() -> None:
    with pytest.raises(ConfigError) as err:
        parse_care_config(
            {
                "survival_window_h": 0,
                "timezone": "Mars/Olympus",
                "sign_of_life_kinds": ["motion", "presence"],
                "checkin_reminder": "25h",
                "inactivity": [{"mode": "sometimes"}, {"mode": "window", "start": "7"}],
                "vitals": {"spo2_low_pct": "low"},
                "colour": "red",
            }
        )
    assert err.value.problems == [
        "care.colour: unknown option",
        "care.timezone: 'Mars/Olympus' is not an IANA timezone such as Asia/Shanghai",
        "care.sign_of_life_kinds: presence alone is not a sign of life; remove it",
        "care.vitals.spo2_low_pct: must be a number, got 'low'",
        "care.survival_window_h: 0 is out of range 1..168",
        "care.checkin_reminder: '25h' is not a local time like \"07:30\"",
        "care.inactivity[0].mode: must be one of continuous, window, idle_in_window",
        "care.inactivity[1].start: '7' is not a local time like \"07:30\"",
    ]


def test_inactivity_rules_parse_into_typed_rules() -> None:
    cfg = parse_care_config(
        {
            "inactivity": [
                {"mode": "idle_in_window", "start": "08:00", "end": "21:00", "minutes": 90}
            ]
        }
    )
    assert cfg.inactivity == (
        InactivityRule(InactivityMode.IDLE_IN_WINDOW, start=time(8), end=time(21), minutes=90.0),
    )
    assert cfg.inactivity[0].name == "idle-90min-08:00-21:00"


def test_a_pendant_in_range_or_an_excluded_bedroom_pir_is_not_a_sign_of_life() -> None:
    clock = FakeClock()
    cfg = CareConfig(excluded_devices=("pir:bedroom",), checkin_enabled=False)
    engine = CareEngine(cfg, clock)
    kinds = []
    for _ in range(25):
        clock.advance(HOUR)
        engine.feed(Reading("tag:pendant", "ble", "presence", {"present": True}))
        engine.feed(motion("pir:bedroom"))
        kinds += [d.kind for d in engine.tick().drafts]
    assert kinds == ["survival_overdue"]


def test_out_with_the_pendant_pauses_inactivity_but_not_the_24_h_check_until_she_is_back() -> None:
    clock = FakeClock()
    rules = (InactivityRule(InactivityMode.CONTINUOUS, hours=12),)
    cfg = CareConfig(wearable_devices=("tag:pendant",), checkin_enabled=False, inactivity=rules)
    engine = CareEngine(cfg, clock)
    engine.feed(Reading("door:front", "rf", "door", {"open": True}, state=State.ALARM))
    clock.advance(60)
    engine.feed(Reading("tag:pendant", "ble", "presence", {"present": False}))
    assert engine.occupancy.state is Where.AWAY
    # visiting her daughter: no 12 h inactivity alarm, but the 24 h check still runs
    assert run_hours(engine, clock, 23.9) == []
    assert run_hours(engine, clock, 0.2) == ["survival_overdue"]
    engine.feed(Reading("tag:pendant", "ble", "presence", {"present": True}))
    assert engine.occupancy.state is Where.HOME
    # walking back in is a sign of life: the windows start again from her return
    assert run_hours(engine, clock, 12.0) == []  # at 12 h the spoken pre-alarm starts
    assert run_hours(engine, clock, 0.1) == ["inactivity"]


def test_a_holiday_set_by_the_family_pauses_the_24_h_check_until_its_end() -> None:
    clock = FakeClock(wall=datetime(2026, 11, 2, 0, 0, tzinfo=UTC))  # 08:00 in Shanghai
    engine = CareEngine(CareConfig(checkin_enabled=False), clock)
    engine.know({"door:front": Paired("door", "大门")})
    engine.set_holiday(datetime(2026, 11, 5, 20, 0))  # local time, 3.5 days on
    assert engine.occupancy.state is Where.LEAVING  # until she goes out through the door
    clock.advance(60)
    engine.feed(Reading("door:front", "rf", "door", {"open": True}, state=State.ALARM))
    assert engine.occupancy.state is Where.HOLIDAY
    assert run_hours(engine, clock, 3.5 * 24 + 23.9) == []
    assert run_hours(engine, clock, 0.2) == ["survival_overdue"]  # 24 h after its end


def test_a_reboot_with_an_unsynced_clock_restarts_the_window_at_boot_then_catches_up() -> None:
    clock = FakeClock(wall=datetime(2026, 11, 2, 20, 0, tzinfo=UTC))
    cfg = CareConfig(checkin_enabled=False)
    engine = CareEngine(cfg, clock)
    engine.feed(motion())
    clock.advance(10 * HOUR)
    saved = json.loads(json.dumps(engine.to_dict()))
    # reboot: monotonic restarts, the wall clock is stale and unsynced
    true_wall = clock.wall
    clock.mono, clock.wall, clock.is_synced = 5.0, datetime(2026, 1, 1, tzinfo=UTC), False
    engine = CareEngine.from_dict(cfg, clock, saved)
    assert run_hours(engine, clock, 2) == []
    clock.wall, clock.is_synced = true_wall.replace(hour=8), True  # NTP: 12 h since last sign
    assert run_hours(engine, clock, 11.9) == []
    assert run_hours(engine, clock, 0.2) == ["survival_overdue"]  # 24 h after the motion


def test_unknown_state_versions_start_fresh_instead_of_crashing() -> None:
    engine = CareEngine.from_dict(CareConfig(), FakeClock(), {"version": 99})
    assert engine.survival.alerts == 0


@pytest.mark.parametrize(
    ("kind", "values", "measure"),
    [
        ("heart_rate", {"bpm": 38}, "heart_rate_low"),
        ("heart_rate", {"bpm": 140}, "heart_rate_high"),
        ("blood_pressure", {"systolic_mmhg": 185, "diastolic_mmhg": 95}, "systolic_high"),
        ("blood_pressure", {"systolic_mmhg": 150, "diastolic_mmhg": 112}, "diastolic_high"),
        ("blood_pressure", {"systolic_mmhg": 85, "diastolic_mmhg": 60}, "systolic_low"),
    ],
)
def test_abnormal_heart_rate_and_blood_pressure_alert_when_sustained(
    kind: str, values: dict[str, int], measure: str
) -> None:
    clock = FakeClock()
    engine = CareEngine(CareConfig(), clock)
    first = engine.feed(Reading("dev", "ble", kind, values)).drafts
    clock.advance(5 * 60)
    drafts = engine.feed(Reading("dev", "ble", kind, values)).drafts
    assert first == []
    assert [(d.kind, d.data["measure"]) for d in drafts] == [("vital_abnormal", measure)]


def test_normal_vitals_never_alert() -> None:
    clock = FakeClock()
    engine = CareEngine(CareConfig(), clock)
    for _ in range(30):
        clock.advance(60)
        out = engine.feed(
            Reading("bp", "ble", "blood_pressure", {"systolic_mmhg": 135, "diastolic_mmhg": 85})
        )
        out.extend(engine.feed(Reading("hr", "ble", "heart_rate", {"bpm": 72})))
        assert out.drafts == []


def test_smoke_sounds_the_siren_and_tells_her_to_leave() -> None:
    engine = CareEngine(CareConfig(), FakeClock())
    out = engine.feed(Reading("det:smoke", "rf", "smoke", {"alarm": True}, state=State.ALARM))
    assert [(d.kind, int(d.priority)) for d in out.drafts] == [("smoke", 0)]
    assert out.actions[:2] == [Siren(), Speak("hazard_smoke_leave")]


ROUTINE = """\
start  2026-11-02
config checkin_enabled = false
daily  07:00 motion pir:bedroom
daily  07:40 motion pir:kitchen
daily  18:00 motion pir:kitchen
daily  21:00 motion pir:bedroom
"""


def test_the_learned_routine_stays_off_for_14_days_then_explains_an_unusual_quiet() -> None:
    # she always has lunch at 12:00; on day 10 (still learning) and day 16 (learned) she skips it
    lunches = [f"day {d} 12:00 motion pir:kitchen" for d in range(1, 17) if d not in (10, 16)]
    timeline = simulate_text(ROUTINE + "\n".join(lunches), 16)
    assert ROUTINE_DAYS == 14
    assert [(e.day, e.time, e.kind, e.detail) for e in timeline] == [
        (16, "14:41", "routine_deviation", "no activity since 07:40; usually active by 12:00"),
    ]


def test_a_checkin_pressed_before_the_clock_is_synced_still_counts_for_the_day() -> None:
    clock = FakeClock(wall=datetime(2026, 1, 1, tzinfo=UTC), is_synced=False)
    engine = CareEngine(CareConfig(), clock)
    press = engine.feed(
        Reading("gpio:ok", "gpio", "button", {"action": "press"}, state=State.ALARM)
    )
    assert [d.kind for d in press.drafts] == ["checkin"]
    clock.wall, clock.is_synced = datetime(2026, 11, 2, 0, 30, tzinfo=UTC), True  # 08:30 Shanghai
    assert run_hours(engine, clock, 6) == []  # no reminder at 10:00, no checkin_missed


def test_a_fleet_push_may_set_a_holiday_and_no_other_care_option() -> None:
    from hub.sync.ota import check_overlay

    assert check_overlay({"care": {"holiday_until": "2026-12-20"}}) == []
    assert check_overlay({"care": {"survival_window_h": 72}}) == [
        "care.survival_window_h: may not be set by a fleet push"
    ]

"""Pure BLE logic on a fake clock: the scanner stall watchdog and wearable presence."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sensors.ble_options import ble_problems, parse_addresses, parse_bindkeys
from hub.sensors.ble_watchdog import ScanWatchdog, Verdict
from hub.sensors.presence import PresenceTracker, Transition

STALL = 600.0
WEARABLE = "A4:C1:38:8D:18:B2"


def test_a_silent_scanner_is_restarted_then_reported_once_and_retried_ever_less_often() -> None:
    dog = ScanWatchdog(STALL, now=0.0)
    assert dog.check(599.0) == Verdict()
    assert dog.check(600.0) == Verdict(
        restart=True, detail="nothing heard for 600 s; scanner restarted"
    )
    assert dog.check(1199.0) == Verdict()
    second = dog.check(1200.0)
    assert second.restart and second.fault
    assert "restarting it did not help" in second.detail
    # The outage goes on: restarts continue, backing off (1200 s, 2400 s ...), no new fault.
    assert dog.check(2399.0) == Verdict()
    third = dog.check(2400.0)
    assert third.restart and not third.fault
    assert dog.check(4799.0) == Verdict()
    assert dog.check(4800.0).restart


def test_an_advert_after_a_reported_outage_says_the_scanner_recovered_and_resets_it() -> None:
    dog = ScanWatchdog(STALL, now=0.0)
    dog.check(600.0)
    assert dog.heard(700.0) is False  # restarted, but no fault was reported: nothing to say
    dog.check(1300.0)
    dog.check(1900.0)  # fault
    assert dog.heard(2000.0) is True
    assert dog.heard(2001.0) is False
    fresh = dog.check(2601.0)  # a new outage starts over: restart first, no fault yet
    assert fresh.restart and not fresh.fault


def test_a_scanner_that_cannot_start_is_reported_at_once_but_only_once() -> None:
    dog = ScanWatchdog(STALL, now=0.0)
    first = dog.start_failed("adapter hci0 not found")
    assert first == Verdict(fault=True, detail="BLE scanner cannot start: adapter hci0 not found")
    assert not dog.start_failed("adapter hci0 not found").fault
    assert dog.heard(10.0) is True  # it started and hears: recovered


def tracker(now: float = 0.0) -> PresenceTracker:
    return PresenceTracker((WEARABLE,), near_dbm=-75, away_dbm=-85, away_after_s=180, now=now)


def test_the_wearable_is_near_once_its_smoothed_rssi_is_strong_and_one_weak_advert_changes_nothing() -> (
    None
):
    p = tracker()
    assert p.observe(WEARABLE, -60, "客厅", 1.0) == Transition(WEARABLE, True, "客厅", -60, 1.0)
    for t in range(2, 6):
        assert p.observe(WEARABLE, -62, "客厅", float(t)) is None
    # One reflected advert 30 dB down: smoothed to about -71, still near.
    assert p.observe(WEARABLE, -95, "客厅", 6.0) is None
    assert p.current(WEARABLE) == (True, "客厅")


def test_at_the_edge_of_range_presence_does_not_flap() -> None:
    p = tracker()
    p.observe(WEARABLE, -70, "", 0.0)
    changes = [
        p.observe(WEARABLE, rssi, "", float(t))
        for t, rssi in enumerate([-80, -84, -79, -83, -80] * 4, 1)
    ]
    assert [c for c in changes if c is not None] == []  # between -85 and -75: stays near
    drops = [p.observe(WEARABLE, -95, "", 30.0 + t) for t in range(6)]
    [away] = [c for c in drops if c is not None]
    assert away.present is False


def test_a_wearable_not_heard_for_the_away_time_is_away_and_one_never_heard_too() -> None:
    p = tracker()
    p.observe(WEARABLE, -60, "", 0.0)
    assert p.tick(180.0) == []
    assert p.tick(181.0) == [Transition(WEARABLE, False, "", None, 181.0)]
    assert p.tick(500.0) == []  # once
    never = tracker(now=0.0)
    assert never.tick(179.0) == []
    assert never.tick(180.0) == [Transition(WEARABLE, False, "", None, 180.0)]


def test_with_two_receivers_the_room_follows_the_clearly_stronger_one() -> None:
    p = tracker()
    assert p.observe(WEARABLE, -60, "客厅", 0.0) == Transition(WEARABLE, True, "客厅", -60, 0.0)
    assert p.observe(WEARABLE, -63, "卧室", 1.0) is None  # weaker
    assert p.observe(WEARABLE, -58, "卧室", 2.0) is None  # stronger, but by less than 5 dB
    moved = None
    for t in range(3, 12):
        p.observe(WEARABLE, -80, "客厅", float(t))
        moved = moved or p.observe(WEARABLE, -50, "卧室", float(t) + 0.5)
    assert moved is not None and moved.room == "卧室" and moved.present


def test_other_devices_and_unknown_rssi_do_not_count() -> None:
    p = tracker()
    assert p.observe("C0:FF:EE:00:00:01", -40, "", 0.0) is None
    assert p.observe(WEARABLE, 127, "", 0.0) is None  # BlueZ: RSSI not available
    assert p.observe(WEARABLE, None, "", 0.0) is None
    assert p.current(WEARABLE) == (None, "")


class Opts:
    def __init__(self, **kw: object) -> None:
        self.gatt_devices = ""
        self.bindkeys = ""
        self.presence_near_dbm = -75
        self.presence_away_dbm = -85
        self.__dict__.update(kw)


def test_ble_options_are_parsed_and_bad_ones_named_without_showing_a_key() -> None:
    assert parse_addresses(" a4:c1:38:8d:18:b2 ,B4:35:22:F5:3D:A4") == (
        WEARABLE,
        "B4:35:22:F5:3D:A4",
    )
    key = "90bffd73cb6b26ef58a7a8eba9232036"
    assert parse_bindkeys(f"B4:35:22:F5:3D:A4={key}") == {"B4:35:22:F5:3D:A4": bytes.fromhex(key)}
    problems = ble_problems(
        Opts(
            gatt_devices="A4:C1:38", bindkeys=f"B4:35:22:F5:3D:A4={key[:30]}", presence_away_dbm=-70
        )  # type: ignore[arg-type]
    )
    assert [p.split(":")[0] for p in problems] == [
        "ble.gatt_devices",
        "ble.bindkeys",
        "ble.presence_away_dbm",
    ]
    assert key[:8] not in " ".join(problems)
    with pytest.raises(ValueError):
        parse_addresses("not-an-address")


@given(st.lists(st.integers(min_value=-84, max_value=-76), min_size=1, max_size=200))
def test_a_wearable_that_stays_between_the_thresholds_never_changes_state(rssis: list[int]) -> None:
    p = tracker()
    p.observe(WEARABLE, -60, "", 0.0)  # near
    changes = [p.observe(WEARABLE, rssi, "", 1.0 + i) for i, rssi in enumerate(rssis)]
    assert changes == [None] * len(rssis)
    assert p.current(WEARABLE) == (True, "")


@given(st.lists(st.tuples(st.integers(-130, 130), st.sampled_from(["", "卧室"])), max_size=100))
def test_presence_alternates_near_and_away_whatever_the_radio_says(
    adverts: list[tuple[int, str]],
) -> None:
    p = tracker()
    states = []
    for i, (rssi, room) in enumerate(adverts):
        change = p.observe(WEARABLE, rssi, room, float(i))
        if change is not None:
            states.append(change.present)
    # A room move repeats "near"; "away" is never said twice in a row.
    assert all(not (a is False and b is False) for a, b in itertools.pairwise(states))
    assert p.current(WEARABLE)[0] is (states[-1] if states else None)


@given(st.text(max_size=200))
def test_any_text_in_the_ble_list_options_parses_or_gives_a_clear_error(text: str) -> None:
    for parse in (parse_addresses, parse_bindkeys):
        try:
            parse(text)
        except ValueError as exc:
            assert str(exc)

"""Hub power on a fake clock: a flicker raises nothing, a real cut is reported once after the
ride-through (well within the 180 s of the UL-listed Essence profile), its end once, and the
hub's own battery running low once per discharge."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import PowerSection, parse_config
from hub.errors import ConfigError
from hub.event import KIND_PRIORITY, Priority
from hub.sensors.power import BATTERY_DEVICE, POWER_DEVICE, Mains, PowerWatch, Sample
from hub.sensors.supervision import Notice
from hub.sensors.ups import find_supply, read_sysfs

RIDE = 60.0
MAINS, CUT = Sample(mains=True, battery=100), Sample(mains=False, battery=100)


def run(watch: PowerWatch, samples: list[tuple[float, Sample]]) -> list[Notice]:
    """Feed (time, sample) pairs; ticks every second in between, as the hub's loop does."""
    out: list[Notice] = []
    now = 0.0
    for at, sample in samples:
        while now + 1 < at:
            now += 1
            out += watch.tick(now)
        now = at
        out += watch.sample(sample, now)
    return out


def test_a_flicker_shorter_than_the_ride_through_raises_nothing() -> None:
    watch = PowerWatch(RIDE, 20)
    assert run(watch, [(0, MAINS), (10, CUT), (10 + RIDE - 1, CUT), (10 + RIDE - 0.5, MAINS)]) == []
    assert watch.state is Mains.ON


def test_a_power_cut_is_reported_once_after_the_ride_through_and_its_end_once() -> None:
    watch = PowerWatch(RIDE, 20)
    out = run(
        watch,
        [(0, MAINS), (10, CUT), (40, CUT), (70, CUT), (200, Sample(False, 90)), (310, MAINS)],
    )
    assert out == [
        Notice("power_lost", POWER_DEVICE, {"off_s": 60, "ride_through_s": RIDE, "battery": 100}),
        Notice("power_restored", POWER_DEVICE, {"off_s": 300, "battery": 100}),
    ]


def test_a_hub_that_boots_without_mains_reports_it_after_the_ride_through() -> None:
    watch = PowerWatch(RIDE, 20)
    out = run(watch, [(0, Sample(False, None)), (RIDE, Sample(False, None))])
    assert out == [Notice("power_lost", POWER_DEVICE, {"off_s": 60, "ride_through_s": RIDE})]


def test_an_unreadable_sample_neither_starts_nor_ends_a_cut() -> None:
    watch = PowerWatch(RIDE, 20)
    out = run(watch, [(0, MAINS), (5, Sample(None)), (100, Sample(None)), (200, MAINS)])
    assert out == []


def test_the_hubs_battery_running_low_is_said_once_per_discharge() -> None:
    watch = PowerWatch(RIDE, 20)
    levels = [50, 30, 20, 19, 15, 21, 18, 25, 31, 40, 19]
    out = [n for i, pct in enumerate(levels) for n in watch.sample(Sample(True, pct), float(i))]
    assert out == [
        Notice("battery_low", BATTERY_DEVICE, {"battery": 20}),
        Notice("battery_low", BATTERY_DEVICE, {"battery": 19}),  # after recharging to 31
    ]


def test_power_lost_is_a_warning_not_an_alarm() -> None:
    assert KIND_PRIORITY["power_lost"] is Priority.WARNING
    assert KIND_PRIORITY["power_restored"] is Priority.WARNING


def test_the_default_ride_through_reports_within_the_ul_180_s() -> None:
    power = PowerSection()
    assert power.ride_through_s + power.poll_s <= 180 - 60  # two minutes left to deliver it
    with pytest.raises(
        ConfigError, match=r"power.ride_through_s: 200.0 is out of range; allowed 0 to 170"
    ):
        parse_config({"hub": {"id": "H1"}, "power": {"ride_through_s": 200}})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 200),
            st.sampled_from([True, False, None]),
            st.none() | st.integers(0, 100),
        ),
        max_size=40,
    )
)
def test_any_sequence_of_samples_gives_lost_and_restored_in_turn_each_after_a_real_cut(
    steps: list[tuple[float, bool | None, int | None]],
) -> None:
    watch = PowerWatch(RIDE, 20)
    now, off_since = 0.0, None
    kinds: list[str] = []
    for gap, mains, battery in steps:
        now += gap
        for notice in watch.tick(now) + watch.sample(Sample(mains, battery), now):
            if notice.kind == "power_lost":
                # mains was seen absent, with no present sample since, for the whole ride-through
                assert off_since is not None and now - off_since >= RIDE
            if notice.kind != "battery_low":
                kinds.append(notice.kind)
        if mains is True:
            off_since = None
        elif mains is False and off_since is None:
            off_since = now
    assert kinds == ["power_lost", "power_restored"] * (len(kinds) // 2) + (
        ["power_lost"] if len(kinds) % 2 else []
    )


# -- sysfs, laid out as the kernel does -------------------------------------------------


def supply(root: Path, name: str, **files: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    for key, text in files.items():
        (path / key).write_text(text + "\n")
    return path


def test_sysfs_mains_and_battery_are_found_by_their_type(tmp_path: Path) -> None:
    supply(tmp_path, "BAT0", type="Battery", capacity="87", status="Discharging")
    supply(tmp_path, "ACAD", type="Mains", online="0")
    supply(tmp_path, "usb", type="USB", online="1")
    mains = find_supply(tmp_path, "", "Mains")
    battery = find_supply(tmp_path, "", "Battery")
    assert (mains, battery) == (tmp_path / "ACAD", tmp_path / "BAT0")
    assert read_sysfs(mains, battery) == Sample(mains=False, battery=87)


def test_sysfs_files_that_are_missing_or_odd_read_as_unknown(tmp_path: Path) -> None:
    odd = supply(tmp_path, "ups", type="Mains", online="maybe", capacity="-3")
    assert read_sysfs(odd, odd) == Sample(mains=None, battery=None)
    assert read_sysfs(tmp_path / "gone", None) == Sample(mains=None, battery=None)
    assert find_supply(tmp_path / "nothing-here", "", "Mains") is None


def test_a_power_good_pin_already_used_by_a_button_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"power\.pin: pin 17 is already used by gpio\.sos_pin"):
        parse_config({"hub": {"id": "H1"}, "power": {"source": "gpio", "pin": 17}})


def test_an_outage_taken_up_after_a_restart_says_nothing_new_until_mains_returns() -> None:
    watch = PowerWatch(RIDE, 20)
    watch.resume_lost(600.0, 5.0)  # power_lost was reported 10 min into the outage, pre-restart
    out = run(watch, [(5, CUT), (5 + RIDE, CUT), (5 + 3 * RIDE, CUT), (1005, MAINS)])
    assert out == [Notice("power_restored", POWER_DEVICE, {"off_s": 1600, "battery": 100})]

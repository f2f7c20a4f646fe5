"""The continuous health record: vital signs folded into buckets, kept for N days, sent
as `vital` telemetry, and still there after a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.clock import FakeClock
from hub.config import parse_config
from hub.reading import Reading
from hub.sim.broker import Mosquitto
from hub.store import health
from hub.store.health import VitalBuckets
from tests.conftest import HubFactory, hub_raw
from tests.helpers import Collector

T0 = 1_795_000_000 // 300 * 300  # the start of a 5-minute bucket
STRAP = "A4:C1:38:0D:2E:11"  # a heart-rate strap (GATT)
THERMOMETER = "A4:C1:38:0D:2E:22"  # a BTHome room thermometer
PATCH = "A4:C1:38:0D:2E:33"  # a thermometer patch worn on the skin


def hr(bpm: float, device: str = "ble:strap") -> Reading:
    return Reading(device=device, protocol="gatt", kind="heart_rate", values={"bpm": bpm})


def test_readings_fold_into_count_mean_min_max_per_bucket() -> None:
    buckets = VitalBuckets(300)
    for i, bpm in enumerate([70, 72, 74, 90]):
        buckets.add(hr(bpm), T0 + i * 60)  # 0, 60, 120, 180 s: one bucket
    buckets.add(hr(60), T0 + 301)  # the next bucket
    buckets.add(Reading(device="x", protocol="rf", kind="door", values={"open": True}), T0)
    buckets.add(hr(float("nan")), T0 + 10)  # a broken sensor's value stays out
    assert buckets.complete(T0 + 299) == []
    [first] = buckets.complete(T0 + 301)
    assert first.summary() == {
        "bucket": T0,
        "device": "ble:strap",
        "measure": "bpm",
        "n": 4,
        "mean": 76.5,
        "min": 70.0,
        "max": 90.0,
    }
    [second] = buckets.complete(T0 + 301, everything=True)
    assert (second.bucket, second.n) == (T0 + 300, 1)


def test_the_archive_merges_a_bucket_written_twice_and_forgets_old_days() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(health.SCHEMA)
    first, again = VitalBuckets(300), VitalBuckets(300)
    first.add(hr(70), T0)
    again.add(hr(80), T0 + 5)
    old = VitalBuckets(300)
    old.add(hr(50), T0 - 100 * 86400)
    health.store_buckets(db, old.complete(T0, everything=True), keep_before=0)
    health.store_buckets(db, first.complete(T0, everything=True), keep_before=0)
    health.store_buckets(db, again.complete(T0, everything=True), keep_before=T0 - 90 * 86400)
    assert health.query(db, 0) == [
        {
            "bucket": T0,
            "device": "ble:strap",
            "measure": "bpm",
            "n": 2,
            "mean": 75.0,
            "min": 70.0,
            "max": 80.0,
        }
    ]


async def test_a_hub_keeps_the_record_sends_it_and_finds_it_after_a_restart(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    clock = FakeClock()
    raw = hub_raw(tmp_path / "data", broker.port)
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await hub.start()
    await hub.devices.pair(STRAP, "wearable")
    for bpm in (68, 70, 72):
        await hub.readings.handle_reading(hr(bpm, STRAP))
    clock.advance(600)
    await hub.archive.archive_now()
    [vital] = await collector.wait_event("vital")
    assert vital["data"]["measure"] == "bpm" and vital["data"]["mean"] == 70.0
    assert vital["priority"] == 2
    # In the next bucket: written when the hub stops.
    await hub.readings.handle_reading(hr(100, STRAP))
    await hub.stop()

    again = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await again.start()
    try:
        rows = (await again.archive.query(1))["vitals"]
        assert [(r["n"], r["mean"]) for r in rows] == [(3, 70.0), (1, 100.0)]
    finally:
        await again.stop()


def temperature(device: str, celsius: float) -> Reading:
    return Reading(device, "bthome", "temperature", {"temperature_c": celsius})


async def test_a_room_thermometer_is_not_a_vital_sign_but_a_body_worn_one_is(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await hub.devices.pair(THERMOMETER, "sensor", "客厅温度计", "客厅")
    await hub.devices.pair(PATCH.lower(), "sensor", body_worn=True)
    await hub.devices.pair(STRAP, "wearable")
    await hub.readings.handle_reading(temperature(THERMOMETER, 31.5))  # a hot summer afternoon
    await hub.readings.handle_reading(temperature(PATCH, 36.6))
    await hub.readings.handle_reading(hr(71, STRAP))
    archived = {(b.device, b.measure) for b in hub.vitals.open.values()}
    assert archived == {(PATCH, "temperature_c"), (STRAP, "bpm")}
    listing = await hub.devices.listing()
    worn = {d["key"]: d["body_worn"] for d in listing["devices"]}
    assert worn == {THERMOMETER: False, PATCH: True, STRAP: True}

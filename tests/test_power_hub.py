"""The hub on a UPS HAT: mains lost and back reach the centre as power_lost (after the
ride-through, a flicker before it raises nothing) and power_restored; the hub's own battery
running low is battery_low. Power-good from a gpiozero mock pin, or from a directory laid
out like /sys/class/power_supply."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import Collector

POWER_KINDS = ("power_lost", "power_restored")


def power_events(collector: Collector) -> list[str]:
    return [e["kind"] for e in collector.events() if e["kind"] in POWER_KINDS]


async def test_a_mains_cut_on_the_power_good_pin_is_reported_and_a_flicker_is_not(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(
        broker.port,
        power={
            "source": "gpio",
            "pin": 6,
            "lost_level": "high",
            "ride_through_s": 1.0,
            "poll_s": 0.1,
        },
    )
    pld = hub.pin_factory.pin(6)  # the HAT's power-loss line: high while mains is gone
    pld.drive_high()
    await asyncio.sleep(0.15)  # a flicker: mains back well within the ride-through
    pld.drive_low()
    await asyncio.sleep(0.3)
    pld.drive_high()  # a real cut
    [lost] = await collector.wait_event("power_lost")
    pld.drive_low()
    [restored] = await collector.wait_event("power_restored")
    assert power_events(collector) == ["power_lost", "power_restored"]
    assert lost["priority"] == 1 and restored["priority"] == 1
    assert lost["source"]["device"] == "hub:power" and lost["source"]["protocol"] == "gpio"
    assert lost["data"]["ride_through_s"] == 1.0 and lost["data"]["off_s"] >= 1


async def test_a_ups_in_sysfs_reports_the_cut_the_hubs_battery_and_the_return(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory, tmp_path: Path
) -> None:
    root = tmp_path / "power_supply"
    (root / "ACAD").mkdir(parents=True)
    (root / "BAT0").mkdir()
    (root / "ACAD" / "type").write_text("Mains\n")
    (root / "ACAD" / "online").write_text("1\n")
    (root / "BAT0" / "type").write_text("Battery\n")
    (root / "BAT0" / "capacity").write_text("90\n")
    hub = await make_hub(
        broker.port,
        power={"source": "sysfs", "sysfs_root": str(root), "ride_through_s": 0.5, "poll_s": 0.1},
    )
    await asyncio.sleep(0.3)
    (root / "ACAD" / "online").write_text("0\n")
    [lost] = await collector.wait_event("power_lost")
    assert lost["data"]["battery"] == 90 and lost["source"]["protocol"] == "sysfs"
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", "status", "--socket", str(hub.cfg.control_socket)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "power   mains lost  battery 90 %" in shown.stdout
    (root / "BAT0" / "capacity").write_text("18\n")
    [low] = await collector.wait_event("battery_low")
    assert low["source"]["device"] == "hub:battery" and low["data"] == {"battery": 18}
    (root / "ACAD" / "online").write_text("1\n")
    [restored] = await collector.wait_event("power_restored")
    assert restored["data"]["battery"] == 18
    assert power_events(collector) == ["power_lost", "power_restored"]


def ups_in_sysfs(root: Path, *, mains: bool) -> Path:
    """A directory laid out like /sys/class/power_supply with a mains adapter and a battery."""
    for name, kind in (("ACAD", "Mains"), ("BAT0", "Battery")):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "type").write_text(f"{kind}\n")
    (root / "ACAD" / "online").write_text("1\n" if mains else "0\n")
    (root / "BAT0" / "capacity").write_text("80\n")
    return root


async def test_a_restart_during_an_outage_does_not_repeat_power_lost_and_still_says_restored(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory, tmp_path: Path
) -> None:
    root = ups_in_sysfs(tmp_path / "power_supply", mains=True)
    power = {"source": "sysfs", "sysfs_root": str(root), "ride_through_s": 0.3, "poll_s": 0.1}
    hub = await make_hub(broker.port, power=power)
    await asyncio.sleep(0.2)
    (root / "ACAD" / "online").write_text("0\n")
    [lost] = await collector.wait_event("power_lost")
    await hub.stop()  # the installer restarts the hub (or an update does) on battery

    again = await make_hub(broker.port, power=power)
    await asyncio.sleep(1.0)  # more than three ride-throughs on battery after the restart
    assert again.power.ups.status()["mains"] == "lost"
    assert power_events(collector) == ["power_lost"]
    (root / "ACAD" / "online").write_text("1\n")
    [restored] = await collector.wait_event("power_restored")
    assert power_events(collector) == ["power_lost", "power_restored"]
    assert restored["data"]["off_s"] >= lost["data"]["off_s"] + 1  # the whole outage


async def test_mains_back_while_the_hub_was_off_is_reported_restored_at_start(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory, tmp_path: Path
) -> None:
    root = ups_in_sysfs(tmp_path / "power_supply", mains=False)
    power = {"source": "sysfs", "sysfs_root": str(root), "ride_through_s": 0.3, "poll_s": 0.1}
    hub = await make_hub(broker.port, power=power)
    await collector.wait_event("power_lost")
    await hub.stop()  # the UPS ran flat: the hub went dark
    (root / "ACAD" / "online").write_text("1\n")  # mains came back before it booted

    await make_hub(broker.port, power=power)
    await collector.wait_event("power_restored")
    assert power_events(collector) == ["power_lost", "power_restored"]

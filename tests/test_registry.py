"""Device registry stories: pairing survives power cuts, unpaired devices wait in the inbox."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.clock import FakeClock
from hub.errors import StoreError
from hub.reading import Reading, State
from hub.store import registry as registry_module
from hub.store.atomic import write_atomic
from hub.store.registry import INBOX_SIZE, Device, Heard, Registry

DOOR_KEY = "rflink:eurodomest:123456:01"
DOOR_OPEN = Reading(device=DOOR_KEY, protocol="rflink", kind="switch", values={"command": "on"})
NEIGHBOUR = Reading(
    device="rflink:kaku:000041:1", protocol="rflink", kind="switch", values={"command": "on"}
)


def pair_door(reg: Registry) -> Device:
    return reg.pair(
        DOOR_KEY,
        protocol="rflink",
        address="123456:01",
        kind="door",
        name="Front door",
        room="hall",
    )


def test_installer_pairs_a_door_contact_and_it_is_there_after_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    reg = Registry(tmp_path / "devices.json", clock)
    pair_door(reg)
    reg.close()
    again = Registry(tmp_path / "devices.json", clock)
    assert again.devices() == [
        Device(
            key=DOOR_KEY,
            protocol="rflink",
            address="123456:01",
            kind="door",
            name="Front door",
            room="hall",
            paired_at="2026-11-23T08:00:00+00:00",
        )
    ]


def test_installer_renames_and_moves_a_device_then_removes_it(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "devices.json", FakeClock())
    pair_door(reg)
    moved = reg.rename(DOOR_KEY, name="Back door", room="kitchen")
    assert (moved.name, moved.room) == ("Back door", "kitchen")
    assert reg.get(DOOR_KEY) == moved
    assert reg.remove(DOOR_KEY) is True
    assert reg.remove(DOOR_KEY) is False
    assert Registry(tmp_path / "devices.json", FakeClock()).devices() == []
    with pytest.raises(StoreError):
        reg.rename(DOOR_KEY, name="x")


def test_a_neighbours_remote_goes_to_the_pairing_inbox_not_to_alarms(tmp_path: Path) -> None:
    clock = FakeClock()
    reg = Registry(tmp_path / "devices.json", clock)
    assert reg.seen(NEIGHBOUR) is None
    clock.advance(30)
    assert reg.seen(NEIGHBOUR) is None
    assert reg.inbox() == [
        Heard(
            key=NEIGHBOUR.device,
            protocol="rflink",
            kind="switch",
            first_heard="2026-11-23T08:00:00+00:00",
            last_heard="2026-11-23T08:00:30+00:00",
            count=2,
            values={"command": "on"},
        )
    ]
    reg.pair(NEIGHBOUR.device, protocol="rflink", address="000041:1", kind="button")
    assert reg.inbox() == []


def test_the_pairing_inbox_forgets_the_oldest_when_a_busy_street_fills_it(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "devices.json", FakeClock())
    for i in range(INBOX_SIZE + 10):
        reg.seen(Reading(device=f"rflink:X:{i}", protocol="rflink", kind="switch"))
    keys = [h.key for h in reg.inbox()]
    assert len(keys) == INBOX_SIZE
    assert keys[0] == "rflink:x:10"


def test_last_seen_is_kept_in_memory_and_written_only_every_few_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "devices.json"
    clock = FakeClock()
    reg = Registry(path, clock, flush_every=600)
    pair_door(reg)
    written = path.stat().st_mtime_ns, path.read_bytes()
    for _ in range(50):
        clock.advance(5)
        dev = reg.seen(
            Reading(device=DOOR_KEY, protocol="rflink", kind="switch", values={"battery_low": True})
        )
        assert dev is not None and dev.battery_low
    assert (path.stat().st_mtime_ns, path.read_bytes()) == written
    clock.advance(400)
    writes: list[Path] = []

    def counted_write(target: Path, data: bytes) -> None:
        writes.append(target)
        write_atomic(target, data)

    monkeypatch.setattr(registry_module, "write_atomic", counted_write)
    reg.seen(DOOR_OPEN)
    assert writes == []  # seen() never writes: the hub's loop flushes when it is due
    assert reg.flush_due()
    reg.flush()
    assert writes == [path]  # one write for the flush, not a truncate then an insert
    on_disk = Registry(path, clock).get(DOOR_KEY)
    assert on_disk is not None
    assert on_disk.last_seen == "2026-11-23T08:10:50+00:00"
    assert on_disk.battery_low is True


def test_a_corrupt_registry_stops_startup_with_a_clear_error_and_keeps_a_copy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "devices.json"
    path.write_bytes(b'{"devices": {"1": {"key": "rflink:Eur')
    with pytest.raises(StoreError, match=r"corrupt.*copy was kept"):
        Registry(path, FakeClock())
    assert (
        tmp_path / "devices.json.corrupt"
    ).read_bytes() == b'{"devices": {"1": {"key": "rflink:Eur'


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hub.clock import FakeClock
    from hub.store.registry import Registry
    reg = Registry(Path(sys.argv[1]), FakeClock())
    i = 0
    while True:
        i += 1
        reg.pair(f"rflink:X:{i % 40}", protocol="rflink", address=str(i), kind="door", name="n" * (i % 300))
        print(i, flush=True)
    """
)


def test_pairings_survive_a_power_cut_at_any_moment_of_a_write(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    rng = random.Random(9)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _ in range(40):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        try:
            for _ in range(rng.randint(1, 30)):
                assert proc.stdout.readline(), "writer died"
        finally:
            proc.send_signal(signal.SIGKILL)  # mid-loop: usually inside the next write
            proc.wait(timeout=10)
            proc.stdout.close()
        json.loads(path.read_bytes())
        assert Registry(path, FakeClock()).devices()
        assert list(tmp_path.glob(".devices.json.*")) == []  # stale temp files cleared


def test_a_ble_wearable_paired_before_it_was_heard_is_recorded_as_bluetooth() -> None:
    # The installer types the address from the box label before the watch has advertised.
    from hub.services.devices import protocol_of as _protocol_of

    assert _protocol_of("A4:C1:38:0D:2E:11") == "bthome"
    assert _protocol_of("rflink:Eurodomest:123456:01") == "rflink"
    assert _protocol_of("modbus:/dev/ttyUSB0:3") == "modbus"


def test_looking_up_a_device_never_waits_for_the_sd_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The event loop asks the registry who a pendant is while a worker thread is in the
    # middle of writing last_seen updates (an fsync that can take long on an SD card).
    import threading

    clock = FakeClock()
    reg = Registry(tmp_path / "devices.json", clock)
    door = pair_door(reg)
    writing, release = threading.Event(), threading.Event()
    real_write = registry_module.AtomicJSONStorage.write

    def slow_write(self: object, data: dict[str, dict[str, object]]) -> None:
        writing.set()
        release.wait(30)
        real_write(self, data)  # type: ignore[arg-type]

    monkeypatch.setattr(registry_module.AtomicJSONStorage, "write", slow_write)
    reg.seen(Reading(door.key, "rflink", "door", {"command": "on"}))
    flusher = threading.Thread(target=reg.flush)
    flusher.start()
    assert writing.wait(10)
    looked_up: list[Device | None] = []
    reader = threading.Thread(target=lambda: looked_up.append(reg.get(door.key)))
    reader.start()
    reader.join(10)
    try:
        assert not reader.is_alive(), "a read waited on the file write"
        assert looked_up and looked_up[0] is not None and looked_up[0].last_seen
    finally:
        release.set()
        flusher.join()
        reader.join()
    reg.close()


def test_a_pendant_paired_by_its_label_in_lower_case_is_the_one_the_radio_hears(
    tmp_path: Path,
) -> None:
    reg = Registry(tmp_path / "devices.json", FakeClock())
    reg.pair("a4:c1:38:8d:18:b2", protocol="bthome", address="a4:c1:38:8d:18:b2", kind="button")
    press = Reading(device="A4:C1:38:8D:18:B2", protocol="bthome", kind="button")
    device = reg.seen(press)
    assert device is not None and device.key == "A4:C1:38:8D:18:B2"
    assert reg.inbox() == []
    assert reg.get("a4-c1-38-8d-18-b2") == device
    assert reg.remove("a4c1388d18b2") is True


def test_a_registry_written_with_the_old_mixed_case_keys_matches_the_decoders_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "devices.json"
    old = {
        "key": "rflink:Eurodomest:123456:01",
        "protocol": "rflink",
        "address": "rflink:Eurodomest:123456:01",
        "kind": "door",
        "name": "大门",
        "room": "门口",
        "paired_at": "2026-11-01T08:00:00+00:00",
        "last_seen": None,
        "battery": None,
        "battery_low": False,
        "supervision_s": None,
    }
    path.write_text(json.dumps({"devices": {"1": old}}))
    clock = FakeClock()
    reg = Registry(path, clock)
    [door] = reg.devices()
    assert (door.key, door.name, door.room) == (DOOR_KEY, "大门", "门口")
    clock.advance(61)
    opened = Reading(DOOR_KEY, "rflink", "switch", {"command": "on"}, state=State.ALARM)
    assert reg.seen(opened) == reg.get(DOOR_KEY)  # the decoder's key finds it
    reg.rename(DOOR_KEY, name="前门")
    reg.close()
    # The file keeps the entry's own spelling, so an older hub after a software rollback
    # (whose decoder prints Eurodomest) still finds its door; nothing is duplicated.
    [entry] = json.loads(path.read_text())["devices"].values()
    assert (entry["key"], entry["name"]) == ("rflink:Eurodomest:123456:01", "前门")
    assert entry["last_seen"] is not None
    again = Registry(path, clock)
    assert again.get(DOOR_KEY).state == "alarm"  # type: ignore[union-attr]
    assert again.remove("rflink:EURODOMEST:123456:01") is True
    assert json.loads(path.read_text())["devices"] == {}


def test_a_doors_last_state_is_known_after_a_restart_and_written_within_a_minute(
    tmp_path: Path,
) -> None:
    path = tmp_path / "devices.json"
    clock = FakeClock()
    reg = Registry(path, clock)  # last_seen alone would wait 6 h for its write
    pair_door(reg)
    opened = Reading(DOOR_KEY, "rflink", "switch", {"command": "on"}, state=State.ALARM)
    closed = Reading(DOOR_KEY, "rflink", "switch", {"command": "off"}, state=State.CLEAR)
    battery = Reading(DOOR_KEY, "rflink", "switch", {"battery_low": False})
    clock.advance(61)
    reg.seen(opened)
    assert reg.flush_due()  # a minute since the last write: the hub's loop writes it now
    reg.flush()
    assert Registry(path, clock).get(DOOR_KEY).state == "alarm"  # type: ignore[union-attr]
    clock.advance(5)
    reg.seen(closed)
    assert not reg.flush_due()
    clock.advance(30)
    reg.seen(battery)  # says nothing: the door is still closed
    assert reg.get(DOOR_KEY).state == "clear"  # type: ignore[union-attr]
    clock.advance(30)
    assert reg.flush_due()  # the hub's supervision loop writes it now
    reg.flush()
    door = Registry(path, clock).get(DOOR_KEY)
    assert door is not None and (door.state, door.state_at) == (
        "clear",
        "2026-11-23T08:01:06+00:00",
    )


# The fields of a device entry as every version before body_worn and states wrote them.
OLDER_FIELDS = {
    "key",
    "protocol",
    "address",
    "kind",
    "name",
    "room",
    "paired_at",
    "last_seen",
    "battery",
    "battery_low",
    "supervision_s",
}


def test_an_older_hub_after_a_software_rollback_still_reads_the_registry(tmp_path: Path) -> None:
    # The older version builds Device(**entry) from the `devices` table and refuses an
    # entry with a field it does not know: that would stop the hub (no alarms) after a
    # rollback. What this version added lives in its own table.
    path = tmp_path / "devices.json"
    clock = FakeClock()
    reg = Registry(path, clock)
    pair_door(reg)
    reg.pair("A4:C1:38:0D:2E:33", protocol="bthome", address="x", kind="sensor", body_worn=True)
    reg.seen(Reading(DOOR_KEY, "rflink", "switch", {"command": "on"}, state=State.ALARM))
    reg.close()
    tables = json.loads(path.read_text())
    assert all(set(doc) == OLDER_FIELDS for doc in tables["devices"].values())
    extras = {doc["key"]: doc for doc in tables["device_extras"].values()}
    assert extras[DOOR_KEY]["state"] == "alarm"
    assert extras["A4:C1:38:0D:2E:33"]["body_worn"] is True
    again = Registry(path, clock)
    assert again.get(DOOR_KEY).state == "alarm"  # type: ignore[union-attr]
    assert again.get("A4:C1:38:0D:2E:33").body_worn  # type: ignore[union-attr]


def test_a_field_written_by_a_newer_version_is_ignored_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "devices.json"
    reg = Registry(path, FakeClock())
    pair_door(reg)
    reg.close()
    tables = json.loads(path.read_text())
    for doc in tables["devices"].values():
        doc["colour"] = "white"
    path.write_text(json.dumps(tables))
    door = Registry(path, FakeClock()).get(DOOR_KEY)
    assert door is not None and door.name == "Front door"
    assert any("colour" in r.getMessage() for r in caplog.records)


def test_a_day_of_motion_and_a_busy_wristband_write_the_file_a_few_times_not_hundreds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PIR says "motion" then "no motion" all day and a wristband is heard every few
    seconds: neither is a state anyone decides on after a restart, so neither is written
    on its own more than every 6 h; the door's openings are, each within a minute."""
    path = tmp_path / "devices.json"
    clock = FakeClock()
    reg = Registry(path, clock)
    pair_door(reg)
    pir = "rflink:eurodomest:000111"
    band = "c0:ff:ee:00:00:01"
    reg.pair(pir, protocol="rflink", address="000111", kind="motion", room="客厅")
    reg.pair(band, protocol="ble_gatt", address=band, kind="wearable")
    writes: list[Path] = []

    def counted_write(target: Path, data: bytes) -> None:
        writes.append(target)
        write_atomic(target, data)

    monkeypatch.setattr(registry_module, "write_atomic", counted_write)
    door_changes = 0
    for second in range(0, 86400, 5):
        clock.advance(5)
        reg.seen(Reading(band, "ble_gatt", "heart_rate", {"bpm": 70}))
        if second % 90 == 0:
            moved = (second // 90) % 2 == 0
            reg.seen(
                Reading(pir, "rflink", "motion", {}, state=State.ALARM if moved else State.CLEAR)
            )
        if second % 2160 == 0:  # the door opened and closed 40 times a day
            opened = (second // 2160) % 2 == 0
            reg.seen(
                Reading(
                    DOOR_KEY, "rflink", "switch", {}, state=State.ALARM if opened else State.CLEAR
                )
            )
            door_changes += 1
        if reg.flush_due():  # as the hub's supervision loop does
            reg.flush()
    assert door_changes == 40
    assert len(writes) <= door_changes + 4  # each door change, plus the 6-hourly history
    reg.close()
    after = Registry(path, clock)
    assert after.get(band).last_seen == clock.now().isoformat()  # type: ignore[union-attr]
    assert after.get(DOOR_KEY).state == "clear"  # type: ignore[union-attr]

"""When the SD card refuses a commit (failing, full, remounted read-only), what the hub
decided is held in memory and stored as soon as the disk answers again: the alarm reaches
the centre with the time it was raised and is acknowledged as usual; a power cut and a
green-button check-in are reported late rather than never. The refusal is SQLite's own
(`PRAGMA query_only=ON` on the hub's outbox connection), not a stub."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.errors import StoreError
from hub.sim.broker import Mosquitto
from hub.sos.lifecycle import AlarmState
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually
from tests.test_spine import press


async def refuse_writes(hub: Hub, refuse: bool) -> None:
    """Make SQLite refuse (or accept again) every write on the outbox's own thread."""
    db = hub.outbox.sync._db
    await hub.outbox._run(db.execute, f"PRAGMA query_only={'ON' if refuse else 'OFF'}")


def ts_of(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))


def logged(caplog: pytest.LogCaptureFixture, *words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if all(w in r.getMessage() for w in words)]


async def test_an_sos_the_disk_refused_reaches_the_centre_with_its_own_time_and_is_acknowledged(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = await make_hub(broker.port, sos={"ack_timeout_s": 60.0, "resend_s": 30.0})
    await eventually(hub.uplink.connected.is_set)
    await refuse_writes(hub, True)
    pressed_at = datetime.now(UTC)

    await press(hub)
    alarm = await eventually(hub.alarms.book.open_sos)
    assert alarm.state is AlarmState.RAISED  # not stored, not dropped
    assert logged(caplog, "ALARM", alarm.id, "could not be stored")
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", "status", "--socket", str(hub.cfg.control_socket)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1 refused by the disk, held in memory: sos" in shown.stdout
    await asyncio.sleep(1.5)  # the card stays refused a while: past a retry or two
    assert collector.events("sos") == []
    recovered_at = datetime.now(UTC)
    await refuse_writes(hub, False)

    [sos] = await collector.wait_event("sos")
    assert sos["id"] == alarm.id and sos["priority"] == 0 and sos["hub"] == HUB_ID
    assert pressed_at <= ts_of(sos) < recovered_at  # when the elder pressed, not when stored
    assert sos["source"]["device"] == "gpio:sos"
    [landed] = logged(caplog, alarm.id, "stored", "late")
    assert landed.levelno == logging.WARNING

    await collector.publish(
        f"pingan/v1/{HUB_ID}/ack",
        json.dumps({"id": alarm.id, "state": "received", "operator": "坐席 07", "note": ""}),
    )
    await eventually(lambda: alarm.state is AlarmState.ACKNOWLEDGED)
    assert [state for state, _ in alarm.history] == [
        "raised",
        "committed",
        "sent",
        "acknowledged",
    ]
    assert alarm.operator == "坐席 07" and alarm.seq == sos["seq"]
    await eventually(lambda: hub.indicators.pattern == "acknowledged")
    assert {e["id"] for e in collector.events("sos")} == {alarm.id}


async def test_a_refused_alarm_is_stored_before_the_next_event_so_its_seq_comes_first(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, sos={"ack_timeout_s": 60.0})
    await eventually(hub.uplink.connected.is_set)
    await refuse_writes(hub, True)
    await press(hub)
    alarm = await eventually(hub.alarms.book.open_sos)
    await refuse_writes(hub, False)

    await press(hub, "ok")  # the next thing the hub stores: the held alarm goes first

    [checkin] = await collector.wait_event("checkin")
    [sos] = await collector.wait_event("sos")
    assert sos["id"] == alarm.id
    assert sos["seq"] < checkin["seq"]
    assert sorted({e["seq"] for e in collector.events()}) == [sos["seq"], checkin["seq"]]


async def test_an_alarm_still_refused_at_its_timeout_escalates_locally_and_reaches_the_centre_later(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, sos={"ack_timeout_s": 1.0, "resend_s": 1.0})
    escalated: list[tuple[str, str]] = []

    async def family(alarm: Any, reason: str) -> None:
        escalated.append((alarm.id, reason))

    hub.alarms.escalation = family
    await eventually(hub.uplink.connected.is_set)
    await refuse_writes(hub, True)
    await press(hub)
    alarm = await eventually(hub.alarms.book.open_sos)

    # The disk still refuses: the escalate record cannot be stored, the family is reached.
    await eventually(lambda: escalated)
    assert escalated == [(alarm.id, "not_delivered")]
    assert collector.events() == []
    await refuse_writes(hub, False)

    [sos] = await collector.wait_event("sos")
    [escalate] = await collector.wait_event("escalate")
    assert sos["id"] == alarm.id and escalate["data"]["alarm_id"] == alarm.id
    assert escalate["data"]["reason"] == "not_delivered"
    assert sos["seq"] < escalate["seq"] and ts_of(sos) <= ts_of(escalate)


async def test_a_refused_sos_still_texts_the_family_and_the_centre_later_gets_it_all(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    from hub.sos.sms import decode_submit

    hub = await make_hub(
        broker.port,
        sos={"ack_timeout_s": 1.0, "resend_s": 1.0},
        escalation={
            "modem_port": "sim",
            "calls": False,
            "centre_numbers": ["+862012345678"],
            "contacts": [{"name": "王小红", "number": "+8613800138000", "relation": "女儿"}],
        },
    )
    assert hub.family.sim_modem is not None
    await eventually(hub.uplink.connected.is_set)
    await refuse_writes(hub, True)
    await press(hub)
    alarm = await eventually(hub.alarms.book.open_sos)

    # The disk refuses every record of it; the daughter is texted all the same.
    await eventually(
        lambda: hub.family.sim_modem is not None and hub.family.sim_modem.sms, timeout=15
    )
    assert decode_submit(hub.family.sim_modem.sms[0].pdu).number == "+8613800138000"
    hub.family.sim_modem.incoming_call("+862012345678", 145)  # the centre calls back: answered
    await eventually(lambda: "ATA" in hub.family.sim_modem.commands)
    await eventually(lambda: "incoming_call" in hub.events.held.kinds())
    assert collector.events() == []
    await refuse_writes(hub, False)

    [sos] = await collector.wait_event("sos")
    [sms] = await collector.wait_event("escalation_sms")
    [call] = await collector.wait_event("incoming_call")
    assert sos["id"] == alarm.id and sms["data"]["alarm_id"] == alarm.id
    assert sms["data"]["ok"] is True and call["data"]["answered"] is True
    assert sos["seq"] < sms["seq"]


async def test_after_a_restart_that_lost_a_refused_sos_the_next_red_press_still_raises_one(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port, sos={"ack_timeout_s": 1.0, "resend_s": 1.0})
    escalated: list[str] = []

    async def family(alarm: Any, reason: str) -> None:
        escalated.append(alarm.id)

    hub.alarms.escalation = family
    await eventually(hub.uplink.connected.is_set)
    # The card refuses new events (SQLite aborts the insert) but still takes alarm records.
    db = hub.outbox.sync._db
    refuse = "CREATE TEMP TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    await hub.outbox._run(db.execute, refuse)
    await press(hub)
    lost = await eventually(hub.alarms.book.open_sos)
    await eventually(lambda: escalated == [lost.id])  # the family is called; the record kept
    await asyncio.sleep(0.3)
    await hub.stop()  # restarted before the card answered: the held SOS is gone

    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)
    assert lost.id not in hub.alarms.book.alarms  # no open alarm without an event behind it
    await press(hub)
    [sos] = await collector.wait_event("sos")
    assert sos["id"] != lost.id and hub.alarms.book.alarms[sos["id"]].is_open


@pytest.mark.parametrize(
    "care",
    [{}, {"checkin_devices": []}],
    ids=["care-checks-record-the-checkin", "the-button-path-records-it"],
)
async def test_a_refused_green_press_keeps_the_buttons_working_and_its_checkin_arrives_once(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    caplog: pytest.LogCaptureFixture,
    care: dict[str, Any],
) -> None:
    hub = await make_hub(broker.port, care=care)
    await eventually(hub.uplink.connected.is_set)
    await refuse_writes(hub, True)
    pressed_at = datetime.now(UTC)

    await press(hub, "ok")
    await eventually(lambda: logged(caplog, "checkin", "held"))
    await asyncio.sleep(1.2)  # longer than the restart delay of a crashed part
    assert not logged(caplog, "buttons", "restarting")
    recovered_at = datetime.now(UTC)
    await refuse_writes(hub, False)

    [checkin] = await collector.wait_event("checkin")
    assert pressed_at <= ts_of(checkin) < recovered_at
    assert checkin["source"]["device"] == "gpio:ok"
    await press(hub)  # the same buttons part still reads the red button
    [sos] = await collector.wait_event("sos")
    assert checkin["seq"] < sos["seq"]
    assert len(collector.events("checkin")) == 1  # held once, stored once
    assert not logged(caplog, "buttons", "restarting")


async def test_a_green_press_whose_care_state_the_card_cannot_save_still_checks_in(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)

    def refused() -> None:  # the state's own transaction fails as on a card gone bad
        raise StoreError("cannot write marks and state: disk I/O error")

    hub.outbox.sync.write_riders = refused  # type: ignore[method-assign]
    await press(hub, "ok")
    [checkin] = await collector.wait_event("checkin")
    assert checkin["source"]["device"] == "gpio:ok"
    await hub.care.save()  # as an all-clear would: at once, in its own transaction
    [error] = logged(caplog, "care state not saved")
    assert error.levelno == logging.ERROR
    await press(hub)  # the buttons part never stopped: the red button still alarms
    await collector.wait_event("sos")
    assert not logged(caplog, "buttons", "restarting")


async def test_a_false_alarm_cancelled_while_the_disk_refused_reaches_the_centre_as_cancelled(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)  # cancel_hold_s = 0.5 in tests
    await eventually(hub.uplink.connected.is_set)
    await refuse_writes(hub, True)
    await press(hub, hold=0.1)
    alarm = await eventually(hub.alarms.book.open_sos)
    await press(hub, hold=0.9)  # the elder holds the red button: a false alarm
    await eventually(lambda: alarm.state is AlarmState.CANCELLED)
    await eventually(lambda: hub.events.held.kinds() == ["sos", "sos_cancelled"])
    await refuse_writes(hub, False)

    [sos] = await collector.wait_event("sos")
    [cancelled] = await collector.wait_event("sos_cancelled")
    assert sos["id"] == alarm.id and cancelled["data"] == {"alarm_id": alarm.id}
    assert sos["seq"] < cancelled["seq"]
    assert alarm.state is AlarmState.CANCELLED  # storing it late does not reopen it
    assert hub.indicators.pattern == "off"


async def test_a_power_cut_the_disk_refused_is_reported_once_it_answers(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "power_supply"
    (root / "ACAD").mkdir(parents=True)
    (root / "ACAD" / "type").write_text("Mains\n")
    (root / "ACAD" / "online").write_text("1\n")
    hub = await make_hub(
        broker.port,
        power={"source": "sysfs", "sysfs_root": str(root), "ride_through_s": 0.3, "poll_s": 0.1},
    )
    await eventually(hub.uplink.connected.is_set)
    state = hub.cfg.data_path / "power.json"
    await refuse_writes(hub, True)
    cut_at = datetime.now(UTC)
    (root / "ACAD" / "online").write_text("0\n")

    await eventually(lambda: logged(caplog, "power_lost", "held"))
    await asyncio.sleep(1.2)
    assert not logged(caplog, "power", "restarting")
    assert not state.exists()  # not "reported" before the centre can be told
    recovered_at = datetime.now(UTC)
    await refuse_writes(hub, False)

    [lost] = await collector.wait_event("power_lost")
    assert cut_at <= ts_of(lost) < recovered_at
    assert lost["data"]["ride_through_s"] == 0.3
    await eventually(lambda: state.exists() and json.loads(state.read_text())["lost"] is True)
    (root / "ACAD" / "online").write_text("1\n")
    [restored] = await collector.wait_event("power_restored")
    assert restored["seq"] > lost["seq"]
    assert [e["kind"] for e in collector.events() if e["kind"].startswith("power_")] == [
        "power_lost",
        "power_restored",
    ]


async def test_held_events_are_stored_most_urgent_first_and_only_the_least_urgent_are_shed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.clock import SystemClock
    from hub.errors import StoreError
    from hub.event import Draft
    from hub.store.held import HeldEvents
    from hub.store.outbox import AsyncOutbox

    outbox = await AsyncOutbox.open(tmp_path / "hub.db", HUB_ID, 1_000_000, 100)
    clock = SystemClock()

    async def store(draft: Draft) -> Any:
        return (await outbox.commit(draft)).event

    held = HeldEvents(store, monotonic=clock.monotonic, limit=3)
    await outbox._run(outbox.sync._db.execute, "PRAGMA query_only=ON")
    drafts = [Draft.create(k, clock) for k in ("door", "checkin", "door", "sos", "motion", "fall")]
    for draft in drafts:
        try:
            await store(draft)
        except StoreError as exc:
            held.hold(draft, exc)
    assert not await held.flush()  # still refused: nothing lost, nothing stored
    # Over the limit of 3: the telemetry went, oldest first; the alarms stay regardless.
    assert held.kinds() == ["sos", "fall", "checkin"]
    assert len(logged(caplog, "shed (never stored)")) == 3
    await outbox._run(outbox.sync._db.execute, "PRAGMA query_only=OFF")

    assert await held.flush()
    stored = [row.event for row in reversed(await outbox.recent(10))]
    assert [(e.kind, e.seq) for e in stored] == [("sos", 1), ("fall", 2), ("checkin", 3)]
    assert [e.ts for e in stored] == [drafts[3].ts, drafts[5].ts, drafts[1].ts]
    await outbox.close()


async def test_a_held_draft_whose_flush_is_cancelled_mid_commit_is_stored_once(
    tmp_path: Path,
) -> None:
    import threading

    from hub.clock import SystemClock
    from hub.errors import StoreError
    from hub.event import Draft
    from hub.store.held import HeldEvents
    from hub.store.outbox import AsyncOutbox

    outbox = await AsyncOutbox.open(tmp_path / "hub.db", HUB_ID, 1_000_000, 100)
    clock = SystemClock()
    writing, go_on = threading.Event(), threading.Event()

    def slow_commit(draft: Draft) -> Any:  # a slow SD card: the write is under way
        writing.set()
        go_on.wait(5)
        return outbox.sync.commit(draft)

    async def store(draft: Draft) -> Any:
        return (await outbox._run(slow_commit, draft)).event

    held = HeldEvents(store, monotonic=clock.monotonic)
    alarm = Draft.create("sos", clock)
    held.hold(alarm, StoreError("refused"))
    # A page request that commits is dropped by its client while the held alarm is
    # being written on the outbox thread.
    request = asyncio.create_task(held.flush())
    await asyncio.to_thread(writing.wait, 5)
    request.cancel()
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await request

    assert await held.flush()
    assert len(held) == 0
    assert [(r.event.id, r.event.seq) for r in await outbox.recent(10)] == [(alarm.id, 1)]
    await outbox.close()

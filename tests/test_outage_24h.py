"""A whole day without the broker: the hub keeps living on a fake clock (telemetry,
vitals, a check-in, warnings, three alarms with their escalation to the family by SMS),
and when the link comes back every event arrives, alarms first, with no gap in seq.

The hub's own loops (alarm timers, care checks, supervision, health archive) run as in
production; only their real-time pauses are shortened and the hub reads an injected
fake clock that the test moves a minute at a time, so 24 h take a few seconds. Each step
waits until every loop has looked at the new time before the next minute is produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

import hub.app
import hub.services.archive
import hub.services.care
import hub.services.readings
from hub.app import Hub
from hub.clock import FakeClock
from hub.config import parse_config
from hub.event import Draft, Event, Priority, Source
from hub.reading import Reading, State
from hub.sim.broker import Mosquitto
from tests.conftest import hub_raw
from tests.helpers import Collector, eventually
from tests.test_spine import press

DAY_S = 24 * 3600
STEP_S = 60.0
# 00:00 UTC is 08:00 in Guangzhou (hub.timezone defaults to Asia/Shanghai).
MIDNIGHT_UTC = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
CONTACTS = [
    {"name": "王小红", "number": "13800138000", "relation": "女儿"},
    {"name": "王小明", "number": "13900139000", "relation": "儿子"},
]
MOTION = "rflink:motion:1"
DOOR = "rflink:door:1"
SMOKE = "rflink:smoke:1"
WATCH = "ble:watch:1"
ON = State.ALARM  # what the RFLink decoder says for CMD=ON


@dataclass
class LoopWatch:
    """Knows which fake time each of the hub's periodic loops last looked at."""

    clock: FakeClock
    seen: dict[str, float] = field(default_factory=dict)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def looked(*args: Any, **kwargs: Any) -> Any:
            self.seen[name] = self.clock.mono
            return fn(*args, **kwargs)

        return looked

    async def caught_up(self) -> None:
        """Wait until every loop has run at least once at the current fake time."""
        now = self.clock.mono
        await eventually(
            lambda: all(t == now for t in self.seen.values()), timeout=20, interval=0.001
        )


@dataclass
class Day:
    """What happened during the outage."""

    committed: list[Event]
    alarms: list[Event]
    max_pending_bytes: int
    bound: int
    unsent_at_return: set[str]  # ids in the outbox when the link came back


@pytest.fixture
async def day_hub(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[int], Any]]:
    """Start a hub on a fake clock whose loops tick every few real milliseconds."""
    for module, period in (
        (hub.app, "_TICK_S"),
        (hub.services.care, "_CARE_TICK_S"),
        (hub.services.readings, "_SUPERVISION_TICK_S"),
        (hub.services.archive, "_ARCHIVE_CHECK_S"),
    ):
        monkeypatch.setattr(module, period, 0.002)
    hubs: list[Hub] = []

    async def start(max_bytes: int) -> tuple[Hub, FakeClock]:
        clock = FakeClock(wall=MIDNIGHT_UTC)
        raw = hub_raw(
            tmp_path / "data",
            broker.port,
            outbox={"max_bytes": max_bytes},
            escalation={"modem_port": "sim", "calls": False, "contacts": CONTACTS},
        )
        h = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
        await h.start()
        hubs.append(h)
        return h, clock

    yield start
    for h in hubs:
        await h.stop()


async def live_a_day_offline(h: Hub, clock: FakeClock, broker: Mosquitto) -> Day:
    """Cut the broker, live 24 simulated hours minute by minute, bring it back."""
    for key, kind, room in (
        (MOTION, "motion", "客厅"),
        (DOOR, "door", "大门"),
        (SMOKE, "smoke", "厨房"),
        (WATCH, "wearable", ""),
    ):
        await asyncio.to_thread(
            h.registry.pair, key, protocol=key.split(":")[0], address=key, kind=kind, room=room
        )
    committed: list[Event] = []
    pending_bytes: list[int] = []
    commit = h.outbox.commit

    async def recorded(draft: Draft) -> Any:
        result = await commit(draft)
        committed.append(result.event)
        pending_bytes.append(h.outbox.sync.pending_bytes)  # the bound, after every commit
        return result

    h.outbox.commit = recorded  # type: ignore[method-assign]
    watch = LoopWatch(clock)
    h.alarms.book.tick = watch.wrap("alarm timers", h.alarms.book.tick)  # type: ignore[method-assign]
    h.care.engine.tick = watch.wrap("care checks", h.care.engine.tick)  # type: ignore[method-assign]
    h.supervisor.tick = watch.wrap("supervision", h.supervisor.tick)  # type: ignore[method-assign]
    h.vitals.complete = watch.wrap("health archive", h.vitals.complete)  # type: ignore[method-assign]

    await eventually(h.uplink.connected.is_set)
    broker.stop()
    await eventually(lambda: not h.uplink.state.connected)
    committed.clear()  # the backlog under test: what is committed from here on
    pending_bytes.clear()
    for minute in range(1, DAY_S // int(STEP_S) + 1):
        clock.advance(STEP_S)
        local_hour = (8 + minute // 60) % 24
        awake = 7 <= local_hour < 23
        if minute % (3 if awake else 20) == 0:
            await h.readings.handle_reading(
                Reading(MOTION, "rflink", "switch", {"command": "on"}, state=ON)
            )
        await h.readings.handle_reading(
            Reading(WATCH, "ble", "heart_rate", {"bpm": 60 + minute % 25})
        )
        if minute % 240 == 0:  # the front door, a few times a day; its battery runs low
            battery = 9 if minute >= 720 else 80
            await h.readings.handle_reading(
                Reading(DOOR, "rflink", "switch", {"command": "on"}, battery=battery, state=ON)
            )
        if minute == 125:  # 10:05: the elder presses the green button
            await press(h, "ok")
            await eventually(lambda: any(e.kind == "checkin" for e in committed))
        if minute == 180:  # 11:00: red button
            await press(h, "sos")
            await eventually(lambda: any(e.kind == "sos" for e in committed))
        if minute == 450:  # 15:30: the kitchen smoke detector
            await h.readings.handle_reading(
                Reading(SMOKE, "rflink", "switch", {"command": "on"}, state=ON)
            )
        if minute == 1140:  # 03:00: a fall reported by the watch
            await h.alarms.raise_alarm("fall", source=Source(WATCH, protocol="ble"))
        await watch.caught_up()
    # Let escalations still writing to the modem finish before the link returns.
    await eventually(lambda: sum(e.kind == "escalation_sms" for e in committed) >= 6)
    assert set(watch.seen) == {"alarm timers", "care checks", "supervision", "health archive"}
    alarms = [e for e in committed if e.priority is Priority.ALARM]
    unsent = {e.id for e in await h.outbox.pending(1_000_000)}
    broker.start()
    return Day(committed, alarms, max(pending_bytes), h.outbox.sync.max_bytes, unsent)


def storage_faults(day: Day) -> list[Event]:
    """The `fault` events saying the outbox shed something."""
    return [e for e in day.committed if e.kind == "fault" and e.data["component"] == "storage"]


def arrivals(collector: Collector) -> list[dict[str, Any]]:
    """Each event's first arrival, in order (later copies are resends: same id)."""
    seen: set[str] = set()
    first = []
    for e in collector.events():
        if e["id"] not in seen:
            seen.add(e["id"])
            first.append(e)
    return first


async def test_a_day_without_the_broker_loses_nothing_and_alarms_arrive_first(
    collector: Collector, broker: Mosquitto, day_hub: Callable[[int], Any]
) -> None:
    h, clock = await day_hub(4 * 1024 * 1024)
    day = await live_a_day_offline(h, clock, broker)
    # The day as it was lived: the hub goes on committing (the list is live) once the
    # broker is back, while this test waits for delivery.
    lived = list(day.committed)
    committed_ids = {e.id for e in lived}
    await eventually(lambda: committed_ids <= {e["id"] for e in collector.events()}, timeout=60)
    kinds = [e.kind for e in lived]
    # A realistic day: telemetry every few minutes, vitals every 5 min, one check-in.
    assert kinds.count("motion") > 300
    assert kinds.count("vital") >= 280
    assert kinds.count("checkin") == 1
    assert "battery_low" in kinds
    assert sorted(e.kind for e in day.alarms) == ["fall", "smoke", "sos"]

    # Zero loss, seq without gaps or reuse.
    got = [e for e in arrivals(collector) if e["id"] in committed_ids]
    seqs = sorted(e["seq"] for e in got)
    assert seqs == list(range(seqs[0], seqs[0] + len(lived)))
    assert len(
        {(e["seq"], e["id"]) for e in collector.events() if e["id"] in committed_ids}
    ) == len(committed_ids)  # a resend repeats the same id and seq; no seq was given to two events

    # The three alarms overtook the whole day's backlog.
    assert [e["priority"] for e in got[:3]] == [0, 0, 0]
    assert all(e["priority"] > 0 for e in got[3:])

    # The bound was respected (and never needed: a day is far below it).
    assert day.max_pending_bytes <= day.bound
    assert not storage_faults(day)

    # Every alarm was escalated because the uplink was down, and the family got SMS.
    escalated = {e.data["alarm_id"]: e.data["reason"] for e in lived if e.kind == "escalate"}
    assert escalated == {a.id: "uplink_down" for a in day.alarms}
    sms = [e.data for e in lived if e.kind == "escalation_sms"]
    assert sorted((d["alarm_id"], d["contact"], d["ok"]) for d in sms) == sorted(
        (a.id, c, True) for a in day.alarms for c in (0, 1)
    )
    assert h.family.sim_modem is not None
    assert sum(s.accepted for s in h.family.sim_modem.sms) == 6


async def test_a_day_offline_with_a_small_outbox_sheds_only_old_telemetry(
    collector: Collector, broker: Mosquitto, day_hub: Callable[[int], Any]
) -> None:
    bound = 64 * 1024  # the smallest bound config allows: a day does not fit in it
    h, clock = await day_hub(bound)
    day = await live_a_day_offline(h, clock, broker)
    committed_before_return = {e.id for e in day.committed}
    assert day.max_pending_bytes <= bound
    must_arrive = {e.id for e in day.committed if e.priority < Priority.TELEMETRY}
    await eventually(lambda: must_arrive <= {e["id"] for e in collector.events()}, timeout=60)
    await eventually(lambda: h.outbox.sync.pending_bytes == 0, timeout=60)  # all drained
    await eventually(lambda: len(storage_faults(day)) >= 2)  # the second one follows the first
    await eventually(lambda: h.outbox.sync.pending_bytes == 0, timeout=60)
    committed_ids = {e.id for e in day.committed}
    got = [e for e in arrivals(collector) if e["id"] in committed_ids]
    assert [e["kind"] for e in got[:3]] == [a.kind for a in day.alarms]
    assert sorted(e["kind"] for e in got if e["priority"] == 0) == ["fall", "smoke", "sos"]
    faults = storage_faults(day)
    # One fault queued for the whole outage (not one every 10 min crowding the outbox),
    # then one more once it was delivered, with what was shed meanwhile.
    assert len(faults) == 2
    assert all(f.data["shed"].get("1", 0) == 0 for f in faults)  # warnings kept
    # During the outage the oldest telemetry went first: a run of shed events, then
    # a run of kept ones, the newest kept.
    telemetry = [e for e in day.committed if e.priority is Priority.TELEMETRY]
    kept = [e.id in day.unsent_at_return for e in telemetry if e.id in committed_before_return]
    assert kept[-1] and not kept[0]
    assert kept == sorted(kept)
    # Every telemetry event that never arrived was counted as shed (the last few, shed
    # by the second fault itself, wait in memory for the next report; an event being
    # published as it is shed is counted and still arrives).
    delivered = {e["id"] for e in collector.events()}
    reported = sum(f.data["shed"]["2"] for f in faults) + h.events._shed_since_fault.get(2, 0)
    assert sum(e.id not in delivered for e in telemetry) <= reported
    seqs = [e["seq"] for e in got]
    assert len(seqs) == len(set(seqs))

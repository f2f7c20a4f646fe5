"""Telemetry written in groups (issue 23): one forced commit per group, alarms and
warnings at once as before, and a cut loses only what was queued (no seq, never sent)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.app import Hub
from hub.clock import FakeClock
from hub.config import parse_config
from hub.event import Draft, Priority
from hub.reading import Reading
from hub.sensors.gpio import OK_BUTTON
from hub.services import committer as committer_module
from hub.services.committer import EventCommitter
from hub.sim.broker import Mosquitto
from hub.store.outbox import AsyncOutbox, Outbox
from hub.tasks import Tasks
from tests.conftest import hub_raw
from tests.fuzzing import examples
from tests.helpers import Collector

GROUP_S = 300.0
STRAP = "A4:C1:38:0D:2E:11"  # a heart-rate strap (GATT)


def draft(kind: str, clock: FakeClock, pad: int = 0) -> Draft:
    return Draft.create(kind, clock, data={"pad": "x" * pad} if pad else {})


def statements(box: Outbox) -> list[str]:
    """Every statement the outbox's connection runs from now on."""
    seen: list[str] = []
    box._db.set_trace_callback(seen.append)
    return seen


def test_a_group_is_one_forced_transaction_with_consecutive_seqs(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "hub.db", "H1", 10**9, 1000)
    box.commit(draft("sos", clock))
    seen = statements(box)
    result = box.commit_group([draft(k, clock) for k in ("motion", "door", "vital")])
    assert [r.event.seq for r in result.stored] == [2, 3, 4]
    assert result.refused == []
    assert seen.count("BEGIN IMMEDIATE") == 1 and seen.count("COMMIT") == 1
    assert not any("synchronous" in s for s in seen)
    assert box._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL: on disk
    assert [e.kind for e in box.pending()] == ["sos", "motion", "door", "vital"]


def test_a_draft_the_bound_refuses_is_left_out_and_its_seq_is_not_used(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "hub.db", "H1", max_bytes=2400, log_keep=1000)
    for _ in range(4):
        box.commit(draft("battery_low", clock, pad=300))  # warnings: telemetry cannot shed them
    result = box.commit_group(
        [draft("motion", clock), draft("door", clock, pad=900), draft("motion", clock)]
    )
    assert [r.event.kind for r in result.stored] == ["motion", "motion"]
    assert [d.kind for d, _ in result.refused] == ["door"]
    assert "outbox full" in str(result.refused[0][1])
    assert [r.event.seq for r in result.stored] == [5, 6]  # the refused one's seq undone
    assert box.pending_bytes == sum(
        int(n) for (n,) in box._db.execute("SELECT size FROM events WHERE sent_at IS NULL")
    )


def test_a_group_shares_the_bound_with_itself(tmp_path: Path) -> None:
    # The bytes of drafts earlier in the same group count: a group cannot overfill it.
    clock = FakeClock()
    box = Outbox(tmp_path / "hub.db", "H1", max_bytes=3000, log_keep=1000)
    result = box.commit_group([draft("motion", clock, pad=500) for _ in range(10)])
    kept = box.depth()[2]
    assert len(result.stored) == 10 and 0 < kept < 10
    assert sum(sum(r.shed.values()) for r in result.stored) == 10 - kept
    on_disk = box._db.execute("SELECT SUM(size) FROM events WHERE sent_at IS NULL").fetchone()[0]
    assert box.pending_bytes == on_disk <= 3000


def test_a_group_is_in_the_file_as_soon_as_commit_group_returns(tmp_path: Path) -> None:
    # Committed, printed, killed with SIGKILL without closing: the next process has it all.
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from hub.clock import FakeClock
        from tests.test_telemetry_groups import draft
        from hub.store.outbox import Outbox
        clock = FakeClock()
        box = Outbox(Path({str(tmp_path)!r}) / "hub.db", "H1", 10**9, 1000)
        result = box.commit_group([draft("motion", clock) for _ in range(5)])
        print(" ".join(f"{{r.event.seq}}:{{r.event.id}}" for r in result.stored), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    printed = dict(pair.split(":") for pair in proc.stdout.split())
    other = sqlite3.connect(tmp_path / "hub.db")
    stored = {str(seq): i for seq, i in other.execute("SELECT seq, id FROM events")}
    other.close()
    assert stored == printed and len(stored) == 5


async def test_telemetry_waits_for_its_group_and_alarms_do_not(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = AsyncOutbox(Outbox(tmp_path / "hub.db", "H1", 10**9, 1000))
    events = EventCommitter(outbox, clock, Tasks(), group_s=GROUP_S)
    told: list[str] = []
    events.when_committed.append(lambda e: told.append(e.kind))
    try:
        await events.commit_unless_full(draft("motion", clock))
        clock.advance(100)
        await events.commit_unless_full(draft("door", clock))
        assert await outbox.pending() == [] and events.queued == 2  # nothing written yet
        sos = await events.commit(draft("sos", clock))  # at once, alone, forced
        checkin = await events.commit_or_hold(draft("checkin", clock))
        await events.commit_unless_full(draft("battery_low", clock))  # a warning: at once
        assert checkin is not None and checkin.priority is Priority.WARNING
        assert [e.kind for e in await outbox.pending()] == ["sos", "checkin", "battery_low"]
        assert told == ["sos", "checkin", "battery_low"] and events.queued == 2
        assert not events.group_due(clock.monotonic())  # 100 s after the first
        clock.advance(GROUP_S - 100 - 1)
        assert not events.group_due(clock.monotonic())
        clock.advance(1)
        assert events.group_due(clock.monotonic())  # group_s after the first: due
        await events.write_group()
        pending = await outbox.pending()
        assert [e.kind for e in pending] == ["sos", "checkin", "battery_low", "motion", "door"]
        assert [e.seq for e in pending] == [sos.seq, sos.seq + 1, sos.seq + 2, 4, 5]
        assert told[-2:] == ["motion", "door"] and events.queued == 0
        assert not events.group_due(clock.monotonic())
        fresh, _ = outbox.take_fresh()  # the uplink's fast path sees the group
        assert [e.kind for e in fresh][-2:] == ["motion", "door"]
    finally:
        await outbox.close()


async def test_a_full_queue_is_due_at_once_and_a_clean_stop_writes_the_queue(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    outbox = AsyncOutbox(Outbox(tmp_path / "hub.db", "H1", 10**9, 1000))
    events = EventCommitter(outbox, clock, Tasks(), group_s=GROUP_S)
    try:
        for _ in range(committer_module._GROUP_LIMIT - 1):
            events.queue(draft("motion", clock))
        assert not events.group_due(clock.monotonic())
        events.queue(draft("motion", clock))
        assert events.group_due(clock.monotonic())
        await events.write_group()
        assert (await outbox.depth())[2] == committer_module._GROUP_LIMIT
        door = draft("door", clock)
        await events.commit_unless_full(door)
        assert await outbox.get(door.id) is None
        await events.close()  # the hub stopping
        stored = await outbox.get(door.id)
        assert stored is not None and stored.seq == committer_module._GROUP_LIMIT + 1
    finally:
        await outbox.close()


async def test_group_s_zero_writes_telemetry_at_once(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = AsyncOutbox(Outbox(tmp_path / "hub.db", "H1", 10**9, 1000))
    events = EventCommitter(outbox, clock, Tasks(), group_s=0.0)
    try:
        await events.commit_unless_full(draft("motion", clock))
        assert [e.kind for e in await outbox.pending()] == ["motion"] and events.queued == 0
    finally:
        await outbox.close()


# -- the contract under any interleaving, with power cuts --------------------------------

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("telemetry"), st.integers(0, 0)),
        st.tuples(st.sampled_from(["alarm", "warning"]), st.integers(0, 0)),
        st.tuples(st.just("wait"), st.integers(1, 400)),  # seconds on the fake clock
        st.tuples(st.just("cut"), st.integers(0, 0)),  # power cut: memory gone
    ),
    max_size=40,
)


@settings(max_examples=examples(60), deadline=None)
@given(plan=steps)
async def test_a_cut_anywhere_loses_only_queued_telemetry_and_reuses_no_seq(
    plan: list[Step],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hub.db"
        clock = FakeClock()
        outbox = AsyncOutbox(Outbox(path, "H1", 10**9, 1000))
        events = EventCommitter(outbox, clock, Tasks(), group_s=GROUP_S)
        stored: dict[str, int] = {}  # id -> seq of everything a commit returned
        queued: list[str] = []  # ids queued and not written yet
        lost: set[str] = set()
        try:
            for op, arg in plan:
                if op == "telemetry":
                    d = draft("motion", clock)
                    await events.commit_unless_full(d)
                    queued.append(d.id)
                elif op in ("alarm", "warning"):
                    kind = "sos" if op == "alarm" else "checkin"
                    event = await events.commit(draft(kind, clock))
                    # On disk when commit returns, in its own forced commit: the queue is
                    # not taken along (an alarm never waits on telemetry).
                    assert outbox.sync._db.execute("PRAGMA synchronous").fetchone() == (2,)
                    stored[event.id] = event.seq
                    assert len(queued) == events.queued
                elif op == "wait":
                    # The group writer looks every second: simulate its looks.
                    for _ in range(arg):
                        clock.advance(1)
                        if events.group_due(clock.monotonic()):
                            before = {e.event.id for e in await outbox.recent(10**6)}
                            await events.write_group()
                            for e in await outbox.recent(10**6):
                                if e.event.id not in before:
                                    stored[e.event.id] = e.event.seq
                            queued.clear()
                        # Never a draft older than the group period left in memory.
                        assert events._queued_since is None or (
                            clock.monotonic() - events._queued_since <= GROUP_S
                        )
                else:  # the cut: whatever was queued is gone, the file stays
                    lost.update(queued)
                    queued.clear()
                    outbox.sync._db.close()  # no clean stop: no group written
                    outbox._pool.shutdown()
                    outbox = AsyncOutbox(Outbox(path, "H1", 10**9, 1000))
                    events = EventCommitter(outbox, clock, Tasks(), group_s=GROUP_S)
                on_disk = {e.event.id: e.event.seq for e in await outbox.recent(10**6)}
                # Everything a commit returned is still there with its seq, whatever the cuts;
                # the queued telemetry is not (no seq yet: nothing the uplink could send).
                assert on_disk == stored
                assert not (set(on_disk) & (lost | set(queued)))
                assert len(set(on_disk.values())) == len(on_disk)  # no seq given twice
        finally:
            await outbox.close()


# -- in a running hub --------------------------------------------------------------------


async def test_a_hubs_vitals_and_their_events_wait_for_the_group_and_then_reach_the_centre(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    clock = FakeClock()
    raw = hub_raw(tmp_path / "data", broker.port, outbox={"telemetry_group_s": GROUP_S})
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw, clock=clock)
    await hub.start()
    try:
        await hub.devices.pair(STRAP, "wearable")
        for bpm in (68, 70, 72):
            await hub.readings.handle_reading(Reading(STRAP, "gatt", "heart_rate", {"bpm": bpm}))
        clock.advance(600)
        await hub.archive.archive_now()  # the bucket is finished: queued with its event
        await hub.readings.handle_button(Reading(OK_BUTTON, "gpio", "button", {"action": "press"}))
        [checkin] = await collector.wait_event("checkin")  # a warning: at once
        assert (await hub.archive.query(1))["vitals"] == []  # not on the card yet
        assert await hub.archive.hourly(1) == []  # the family page's view, now cached
        assert collector.events("vital") == []
        assert (await hub.report.status())["outbox"]["queued_telemetry"] == 1
        clock.advance(GROUP_S)  # the group writer (every second) finds it due
        [vital] = await collector.wait_event("vital")
        assert vital["data"]["mean"] == 70.0 and vital["seq"] == checkin["seq"] + 1
        [row] = (await hub.archive.query(1))["vitals"]
        assert (row["n"], row["mean"]) == (3, 70.0)
        assert len(await hub.archive.hourly(1)) == 1  # the cached view was dropped
    finally:
        await hub.stop()

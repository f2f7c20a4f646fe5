"""The outbox on real SQLite files: order, durability of seq, bounded size."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.clock import FakeClock
from hub.errors import StoreError
from hub.event import Draft, Priority
from hub.store.outbox import Outbox

CLOCK = FakeClock()


def draft(kind: str, pad: int = 0) -> Draft:
    return Draft.create(kind, CLOCK, data={"pad": "x" * pad} if pad else {})


def open_outbox(path: Path, max_bytes: int = 10**9, log_keep: int = 1000) -> Outbox:
    return Outbox(path / "hub.db", "H1", max_bytes, log_keep)


def test_alarms_are_sent_before_warnings_before_telemetry_oldest_first(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    kinds = ["motion", "battery_low", "sos", "door", "smoke", "fault"]
    for kind in kinds:
        box.commit(draft(kind))
    assert [e.kind for e in box.pending()] == [
        "sos",
        "smoke",
        "battery_low",
        "fault",
        "motion",
        "door",
    ]
    assert box.depth() == {0: 2, 1: 2, 2: 2}


def test_seq_is_never_reused_after_sending_and_reopening(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    first = [box.commit(draft("door")).event for _ in range(3)]
    for event in first:
        assert box.mark_sent([event.id]) == 1
    box.trim_log()
    box.close()
    box = open_outbox(tmp_path)
    assert box.commit(draft("door")).event.seq == 4
    assert box.last_seq() == 4


def test_a_committed_event_is_in_the_file_as_soon_as_commit_returns(tmp_path: Path) -> None:
    # The hub process commits, prints what it committed and is killed (kill -9) at once,
    # without closing anything: the next process to open the file has the event.
    script = textwrap.dedent(
        f"""
        import os, signal
        from tests.test_outbox import draft, open_outbox
        from pathlib import Path
        box = open_outbox(Path({str(tmp_path)!r}))
        event = box.commit(draft("sos")).event
        print(event.id, event.seq, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL
    event_id, seq = proc.stdout.split()
    other = sqlite3.connect(tmp_path / "hub.db")
    assert other.execute("SELECT id FROM events WHERE seq = ?", (int(seq),)).fetchone() == (
        event_id,
    )
    other.close()


def test_the_outbox_is_durable_and_keeps_its_wal_index_in_memory(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    box.commit(draft("sos"))
    assert box._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert box._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    # No mmap'd hub.db-shm beside it for the kernel to write back to the SD card; the
    # price: no other process reads the file while the hub has it open.
    assert not (tmp_path / "hub.db-shm").exists()
    other = sqlite3.connect(tmp_path / "hub.db", timeout=0.1)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("SELECT COUNT(*) FROM events").fetchone()
    other.close()
    box.close()


def test_mark_sent_takes_an_event_out_of_the_outbox_but_keeps_it_in_the_log(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    event = box.commit(draft("sos")).event
    assert box.mark_sent([event.id]) == 1
    assert box.mark_sent([event.id]) == 0  # a second PUBACK changes nothing
    assert box.pending() == []
    [logged] = box.recent(5)
    assert logged.event == event and logged.sent_at is not None


def test_the_log_keeps_only_the_newest_sent_events_and_never_unsent_ones(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, log_keep=10)
    unsent = box.commit(draft("sos")).event
    for _ in range(150):
        box.mark_sent([box.commit(draft("door")).event.id])
    box.trim_log()
    rows = box.recent(1000)
    assert len(rows) == 11
    assert unsent.id in {r.event.id for r in rows}


def test_when_full_telemetry_goes_first_then_warnings_and_alarms_never(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, max_bytes=4000)
    for _ in range(5):
        box.commit(draft("motion", pad=300))
    for _ in range(3):
        box.commit(draft("battery_low", pad=300))
    assert box.depth() == {0: 0, 1: 3, 2: 5}
    result = box.commit(draft("sos", pad=300))
    assert result.shed == {2: 1}
    for _ in range(12):
        box.commit(draft("smoke", pad=300))
    depth = box.depth()
    assert depth[0] == 13 and depth[2] == 0 and depth[1] < 3
    assert box.pending_bytes > box.max_bytes  # alarms are kept even over the bound
    with pytest.raises(StoreError, match="outbox full"):
        box.commit(draft("door", pad=300))
    assert box.depth()[0] == 13


def test_pending_bytes_are_recounted_from_disk_on_reopen(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    for _ in range(4):
        box.commit(draft("motion", pad=100))
    box.mark_sent([box.pending()[0].id])
    expected = box.pending_bytes
    box.close()
    assert open_outbox(tmp_path).pending_bytes == expected


def test_an_alarm_event_round_trips_through_json_whole(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    stored = box.commit(Draft.create("sos", CLOCK, data={"test": True, "说明": "测试"})).event
    assert box.get(stored.id) == stored
    assert stored.priority is Priority.ALARM
    assert stored.is_test


def test_puback_marks_are_not_forced_but_every_event_commit_still_is(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    first = box.commit(draft("sos")).event
    synced: list[str] = []
    box._db.set_trace_callback(synced.append)
    assert box.mark_sent([first.id]) == 1
    assert "PRAGMA synchronous=NORMAL" in synced  # the mark alone waits for the next sync
    assert box._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL again
    with pytest.raises(StoreError):
        box.mark_sent([first.id, object()])  # type: ignore[list-item]  # a bad id fails it
    assert box._db.execute("PRAGMA synchronous").fetchone() == (2,)
    second = box.commit(draft("sos")).event
    assert [e.id for e in box.pending()] == [second.id]

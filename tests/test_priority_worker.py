"""The outbox's worker thread runs an alarm's commit before the work already waiting."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.clock import FakeClock
from hub.event import Draft
from hub.store.outbox import AsyncOutbox
from hub.store.worker import PriorityWorker


def test_an_urgent_job_goes_before_everything_still_waiting() -> None:
    worker = PriorityWorker("test")
    running = threading.Event()
    release = threading.Event()
    done: list[str] = []

    def busy() -> None:  # a transaction in progress: it finishes first
        running.set()
        release.wait(5)
        done.append("running")

    first = worker.submit(busy)
    assert running.wait(5)
    ordinary = [worker.submit(done.append, f"mark {n}") for n in range(3)]
    sos = worker.submit(done.append, "sos", urgent=True)
    release.set()
    for future in (first, *ordinary, sos):
        future.result(5)
    assert done == ["running", "sos", "mark 0", "mark 1", "mark 2"]
    worker.shutdown()


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_each_class_keeps_its_arrival_order_and_urgent_ones_come_first(
    urgent: list[bool],
) -> None:
    worker = PriorityWorker("test")
    gate = threading.Event()
    done: list[int] = []
    worker.submit(gate.wait, 5)  # hold the worker while everything is queued
    futures = [worker.submit(done.append, n, urgent=u) for n, u in enumerate(urgent)]
    gate.set()
    for future in futures:
        future.result(5)
    worker.shutdown()
    first = [n for n, u in enumerate(urgent) if u]
    rest = [n for n, u in enumerate(urgent) if not u]
    assert done == first + rest


def test_errors_reach_the_caller_and_shutdown_finishes_the_queue_then_refuses() -> None:
    worker = PriorityWorker("test")
    failing = worker.submit(lambda: 1 // 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(5)
    done: list[int] = []
    futures = [worker.submit(done.append, n) for n in range(5)]
    worker.shutdown(wait=True)
    assert done == [0, 1, 2, 3, 4] and all(f.done() for f in futures)
    with pytest.raises(RuntimeError):
        worker.submit(done.append, 5)


async def test_an_sos_is_stored_before_the_outbox_work_queued_ahead_of_it(tmp_path: Path) -> None:
    """Marks, records and warnings waiting for the outbox's thread do not hold an alarm."""
    clock = FakeClock()
    outbox = await AsyncOutbox.open(tmp_path / "hub.db", "H1", 10**9, 1000)
    busy = threading.Event()
    release = threading.Event()

    def transaction_in_progress() -> None:
        busy.set()
        release.wait(5)

    try:
        running = outbox._pool.submit(transaction_in_progress)
        assert await asyncio.to_thread(busy.wait, 5)
        waiting = [
            asyncio.ensure_future(outbox.commit(Draft.create("battery_low", clock)))
            for _ in range(3)
        ]
        await asyncio.sleep(0.05)  # queued, in this order, behind the transaction
        sos = asyncio.ensure_future(outbox.commit(Draft.create("sos", clock)))
        await asyncio.sleep(0.05)
        release.set()
        running.result(5)
        stored = await asyncio.gather(sos, *waiting)
        assert [r.event.seq for r in stored] == [1, 2, 3, 4]  # the SOS first
    finally:
        await outbox.close()

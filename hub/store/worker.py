"""One thread for a database's work, alarms first.

SQLite wants one connection used from one thread, so the outbox runs every call on one
worker. With a plain ThreadPoolExecutor the calls wait in arrival order: an SOS commit
queued behind a PUBACK-mark batch, an alarm record, a health-archive write and a page's
query waited for each of their fsyncs (on an SD card 5-20 ms apiece). Here a call marked
urgent goes before everything still waiting; the one already running finishes first (a
transaction cannot be interrupted). Within each class the order is arrival order.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_URGENT, _ORDINARY, _STOP = 0, 1, 2


class PriorityWorker:
    """A single worker thread; `submit(..., urgent=True)` jumps the queue."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> Future[T]:
        """Run `fn(*args)` on the worker; its result (or exception) in the future."""
        future: Future[T] = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the worker has been shut down")
            job = (future, fn, args)
            self._jobs.put((_URGENT if urgent else _ORDINARY, next(self._order), job))
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Run what was submitted, then stop; new submissions are refused."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._jobs.put((_STOP, next(self._order), None))
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()

    def _work(self) -> None:
        while True:
            kind, _order, job = self._jobs.get()
            if kind == _STOP:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, as an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)

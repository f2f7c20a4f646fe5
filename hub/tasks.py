"""Keeping the hub's parts running: each part is a task, restarted when it fails, and
all of them are cancelled together when the hub stops.

A part never ends the hub (STYLE: a task never calls sys.exit()): an exception is
logged and the part restarted after a short delay, so a bug in one part (the pages, a
radio) cannot take the alarm path down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

_LOGGER = logging.getLogger(__name__)

# Delay before a crashed part is restarted (it is logged each time).
_RESTART_DELAY_S = 1.0
# How long stopping waits for a cancelled part before cancelling it again.
_STOP_GRACE_S = 2.0
_STOP_TRIES = 5  # then the stop goes on without the part that will not end

Part = Callable[[], Coroutine[Any, Any, None]]


class Tasks:
    """The running parts of one hub, and the short-lived tasks they start."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False  # cancel_all has begun: a part that ends stays ended

    def supervise(self, name: str, part: Part) -> None:
        """Run `part` until the hub stops, restarting it whenever it ends or fails."""

        async def keep_running() -> None:
            task = asyncio.current_task()
            while True:
                try:
                    await part()
                    if self._stopping or (task is not None and task.cancelling()):
                        return  # asked to stop: a part that turned that into a return
                    _LOGGER.error("%s ended unexpectedly; restarting", name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A library may turn a cancellation into its own error (aiomqtt's
                    # MqttError); restarting the part then would undo the stop, forever.
                    if self._stopping or (task is not None and task.cancelling()):
                        return
                    _LOGGER.exception("%s failed; restarting in %.0f s", name, _RESTART_DELAY_S)
                await asyncio.sleep(_RESTART_DELAY_S)

        self.spawn(keep_running(), name)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> None:
        """Run `coro` once, in the background; a failure is logged, not raised."""
        task = asyncio.create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_all(self) -> None:
        """Cancel every task and wait until each has ended (a part that will not end is
        cancelled again, _STOP_TRIES times, then left)."""
        self._stopping = True
        # The rest of the stop (storage closed, last records written) matters more than a
        # part that will not end: systemd would kill the whole hub instead.
        await cancel_and_wait(set(self._tasks))


async def cancel_and_wait(
    tasks: set[asyncio.Task[Any]], grace_s: float = _STOP_GRACE_S, tries: int = _STOP_TRIES
) -> None:
    """Cancel the tasks and wait until each has ended. One that missed its cancellation
    (a library's wait can swallow one: hub/timeouts.py) is cancelled again after
    `grace_s`, `tries` times, then left with an error logged, never waited on for ever."""
    for task in tasks:
        task.cancel()
    pending = {t for t in tasks if not t.done()}
    for _ in range(tries):
        if not pending:
            return
        _, pending = await asyncio.wait(pending, timeout=grace_s)
        for task in pending:
            where = "; ".join(
                f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}"
                for f in task.get_stack(limit=4)
            )
            _LOGGER.warning("%s did not stop (at %s); cancelling it again", task.get_name(), where)
            task.cancel()
    for task in pending:
        _LOGGER.error("%s did not stop after %d cancellations; left", task.get_name(), tries)


async def first_to_end(*coros: Coroutine[Any, Any, None], grace_s: float = _STOP_GRACE_S) -> None:
    """Run the coroutines as tasks until the first of them ends or fails; then cancel the
    others and wait for them (again and again if one misses its cancellation), and raise
    the first failure. Unlike a TaskGroup, whose exit waits for ever on a task that
    swallowed its cancellation, this always ends: the uplink's session must, or a hub
    stays "connected" with its heartbeat and the centre's acks stopped (issue 21).
    A cancellation of the caller cancels every task and propagates."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(set(tasks), grace_s)
    failures = [
        (task, exc)
        for task in tasks
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None
    ]
    first = next((exc for task, exc in failures if task in done), None)
    for task, exc in failures:
        if exc is not first:  # failed while being cancelled: said, not lost
            _LOGGER.warning("%s also failed: %r", task.get_name(), exc)
    if first is not None:
        raise first

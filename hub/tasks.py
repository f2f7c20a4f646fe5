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
        for task in list(self._tasks):
            task.cancel()
        pending = set(self._tasks)
        for _ in range(_STOP_TRIES):
            # A part that missed its cancellation (Python 3.11's wait_for can swallow one)
            # is cancelled again, not waited on forever.
            _, pending = await asyncio.wait(pending, timeout=_STOP_GRACE_S)
            if not pending:
                break
            for task in pending:
                where = "; ".join(
                    f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}"
                    for f in task.get_stack(limit=4)
                )
                _LOGGER.warning(
                    "%s did not stop (at %s); cancelling it again", task.get_name(), where
                )
                task.cancel()
        else:
            # The rest of the stop (storage closed, last records written) matters more
            # than a part that will not end: systemd would kill the whole hub instead.
            for task in pending:
                _LOGGER.error(
                    "%s did not stop after %d cancellations; left", task.get_name(), _STOP_TRIES
                )

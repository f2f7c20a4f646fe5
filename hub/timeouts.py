"""A timeout that never eats a cancellation.

Python 3.11's `asyncio.wait_for` (the hub's Python on Debian bookworm) returns the
result when the task is cancelled in the same loop turn as the awaited thing completes:
the cancellation is lost and the task goes on. A task that goes on after its TaskGroup
aborted keeps the group's `async with` waiting forever. That is how two hubs of the
5,000-hub node kill (issue 21) kept a session open for 15 minutes with their heartbeat
and their message intake cancelled: the outbox drain's PUBACK wait swallowed the cancel
and went on publishing the SOS, the centre's acks piled up unread. 3.12 rewrote
`wait_for` on top of `asyncio.timeout`; `wait_within` is that, for 3.11.
tests/test_timeouts.py holds every module of the hub to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_within(aw: Awaitable[T], seconds: float | None) -> T:
    """Await `aw` for at most `seconds` (None: no limit); TimeoutError after that, and
    `aw` is cancelled. A cancellation of the caller always propagates."""
    async with asyncio.timeout(seconds):
        return await aw

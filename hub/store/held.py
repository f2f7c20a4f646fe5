"""Events the outbox refused, held in memory until it takes them.

An SD card that fails, fills up or is remounted read-only refuses commits. What the hub
decided at that moment (an alarm, a check-in, a power cut) must still reach the centre:
the draft is held here, keeping its id, time and priority, and stored again

- before anything else is committed: once the disk answers, it is stored ahead of the
  events that came after it (an `escalate` gets a higher seq than its alarm), and
- by `run()`, every few seconds with backoff, when nothing else is committed.

A draft gets its seq only when it is finally stored, so no seq is skipped or reused.
Held drafts live in memory only: a restart or power cut before the disk answers loses
them (a held alarm escalates locally meanwhile, as any unanswered alarm; `close()` logs
what was lost).

Bounded: beyond `limit` drafts, the oldest of the least urgent are shed (telemetry, then
warnings), as the outbox sheds; an alarm is never shed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hub.errors import StoreError
from hub.event import Draft, Event, Priority

_LOGGER = logging.getLogger(__name__)

# Held drafts beyond which the least urgent are shed. A refusing disk refuses everything,
# so a long outage would otherwise grow without end on a 512 MB Pi; 64 drafts are a few
# tens of kilobytes and far more than the warnings and alarms of an hour.
HELD_LIMIT = 64
# Retry backoff while nothing else is committed. A failed attempt costs one refused
# transaction; a read-only or failing card rarely comes back by itself, so after a
# minute of refusals the card is tried twice a minute at most. An alarm still reaches
# the centre within 30 s of the disk answering (sooner if anything else is committed).
RETRY_MIN_S = 2.0
RETRY_MAX_S = 30.0

Store = Callable[[Draft], Awaitable[Event]]
Landed = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True)
class _Held:
    draft: Draft
    then: Landed | None  # what the caller would have done once it was stored
    since: float  # monotonic: when it was first refused


class HeldEvents:
    """Drafts the outbox refused, stored again (in priority, then arrival order) later."""

    def __init__(
        self,
        store: Store,
        *,
        monotonic: Callable[[], float],
        limit: int = HELD_LIMIT,
    ) -> None:
        self._store = store
        self._monotonic = monotonic
        self.limit = limit
        self._held: list[_Held] = []
        self._lock = asyncio.Lock()  # one flush at a time: a draft is stored once
        self._wanted = asyncio.Event()

    def __len__(self) -> int:
        return len(self._held)

    def kinds(self) -> list[str]:
        """The kinds held, in the order they will be stored."""
        return [h.draft.kind for h in self._held]

    def get(self, event_id: str) -> Draft | None:
        """A held draft by id."""
        return next((h.draft for h in self._held if h.draft.id == event_id), None)

    def hold(self, draft: Draft, reason: StoreError, then: Landed | None = None) -> None:
        """Keep a refused draft to store later; `then(event)` runs once it is stored."""
        held = _Held(draft, then, self._monotonic())
        # Most urgent first; arrival order within a priority.
        at = next((i for i, h in enumerate(self._held) if h.draft.priority > draft.priority), None)
        self._held.insert(len(self._held) if at is None else at, held)
        _LOGGER.error(
            "%s %s refused by storage (%s); held to store again (%d held)",
            draft.kind,
            draft.id,
            reason,
            len(self._held),
        )
        self._shed()
        self._wanted.set()

    def _shed(self) -> None:
        while len(self._held) > self.limit:
            # The oldest of the least urgent: the last priority group's first entry.
            worst = self._held[-1].draft.priority
            if worst is Priority.ALARM:
                return  # alarms are never shed; they are few
            victim = next(h for h in self._held if h.draft.priority == worst)
            self._held.remove(victim)
            _LOGGER.error(
                "%d refused events held: %s %s shed (never stored)",
                len(self._held),
                victim.draft.kind,
                victim.draft.id,
            )

    async def flush(self) -> bool:
        """Store held drafts in order until the outbox refuses one; True when none is left."""
        if not self._held:
            return True
        # Shielded: a caller cancelled while a draft is being committed (a page request
        # dropped, the hub stopping) must not leave it both stored and held (stored twice).
        return await asyncio.shield(self._flush())

    async def _flush(self) -> bool:
        landed: list[tuple[_Held, Event]] = []
        async with self._lock:
            while self._held:
                held = self._held[0]
                try:
                    event = await self._store(held.draft)
                except StoreError as exc:
                    _LOGGER.debug("held %s still refused: %s", held.draft.kind, exc)
                    break
                except Exception:  # kept, and the events after it still go on
                    _LOGGER.exception("held %s %s not stored", held.draft.kind, held.draft.id)
                    break
                self._held.remove(held)
                landed.append((held, event))
                _LOGGER.warning(
                    "%s %s stored %.0f s late (storage refused it before) seq=%d; sending it",
                    "ALARM" if event.priority is Priority.ALARM else event.kind,
                    event.id,
                    self._monotonic() - held.since,
                    event.seq,
                )
        for held, event in landed:  # outside the lock: it may commit in turn
            if held.then is not None:
                await held.then(event)
        return not self._held

    async def run(self) -> None:
        """Store held drafts again, backing off while the disk keeps refusing."""
        delay = RETRY_MIN_S
        while True:
            await self._wanted.wait()
            await asyncio.sleep(delay)
            if await self.flush():
                self._wanted.clear()
                delay = RETRY_MIN_S
            else:
                delay = min(delay * 2, RETRY_MAX_S)

    def close(self) -> None:
        """Say what is lost: held drafts do not survive the hub stopping."""
        if self._held:
            _LOGGER.critical(
                "stopping with %d refused events never stored (lost): %s",
                len(self._held),
                ", ".join(f"{h.draft.kind} {h.draft.id}" for h in self._held),
            )

"""The care checks at work: readings fed to the pure checks of hub/care, and what they
decide carried out (events committed or alarms raised, siren, prompts, LED).

The checks' state (windows, hazard episodes, the last sign of life) is a row of the
outbox's SQLite file, so a restart never resets a window nor brings a detector back "in
alarm". It is never written by itself on a timer: when it changed it rides in the next
transaction the hub makes anyway (hub/store/riders.py: a telemetry group, a warning's
commit, the alarm records); a decision's state rides in the commit of the decision's own
event, and a decision that commits no event (an all-clear, a prompt, an alarm, whose
commit takes nothing along) is written at once in a transaction of its own. Before
issue 23 it was `care-state.json`, rewritten atomically: that file is read once at
start, moved into the database and renamed `care-state.json.migrated` (an older hub
after a software rollback then starts its checks afresh rather than from a state that
has gone stale). The checks know the registry's devices (kind and room);
`devices_changed` tells them again after a pair, remove or rename.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from hub.care.base import Led, Siren, Speak
from hub.care.base import Output as CareOutput
from hub.care.engine import CareEngine
from hub.care.rooms import Paired
from hub.clock import Clock
from hub.config import Config, RunningConfig
from hub.errors import StoreError
from hub.event import Draft, Event, Priority, Source
from hub.reading import Reading
from hub.sensors.gpio import Indicators
from hub.services.alarms import AlarmService
from hub.services.committer import EventCommitter
from hub.services.speech import SpeechService
from hub.store.atomic import read_json
from hub.store.registry import Registry

_LOGGER = logging.getLogger(__name__)

# Care checks are ticked this often (their windows are in minutes). After a power cut
# her last sign of life may be as old as the last transaction (one telemetry group, 5
# min, while her sensors report), so a check can call that much early, never late.
_CARE_TICK_S = 15.0
# The outbox's row the state is kept in (hub/store/riders.py).
_STATE_NAME = "care"
# The care checks' prompt ids, as the voice module names them.
_CARE_PROMPTS = {
    "prealarm_press_green": "prealarm",
    "checkin_reminder": "checkin_reminder",
    "checkin_thanks": "checkin_thanks",
    "hazard_gas_no_switches_open_windows_leave": "gas_guidance",
    "hazard_smoke_leave": "smoke_guidance",
    "hazard_co_open_windows_leave": "co_guidance",
    "hazard_water_turn_off_tap": "water_guidance",
}


class CareService:
    """Feeds the care checks (`engine`) and carries out what they decide."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        *,
        registry: Registry,
        alarms: AlarmService,
        events: EventCommitter,
        indicators: Indicators,
        speech: SpeechService,
    ) -> None:
        self.running = running
        self.clock = clock
        self.registry = registry
        self.alarms = alarms
        self.events = events
        self.indicators = indicators
        self.speech = speech
        self._saved = ""  # the state as last handed to the outbox (JSON)
        self.engine: CareEngine

    async def start(self) -> None:
        """Load the checks' saved state (a fresh start without one) and the devices."""
        cfg = self.running.cfg
        saved = await self._load()
        self.engine = (
            CareEngine.from_dict(cfg.care, self.clock, saved)
            if isinstance(saved, dict)
            else CareEngine(cfg.care, self.clock)
        )
        self._reconcile_hazards()
        self.devices_changed()

    async def _load(self) -> Any:
        """The saved state: care-state.json if there is one (written before issue 23, or
        by an older hub after a rollback: newer than the row), moved into the outbox's
        file once; else the row."""
        legacy = self._care_state_path
        saved = await asyncio.to_thread(read_json, legacy)
        if isinstance(saved, dict):
            outbox = self.events.outbox
            outbox.ride_state(_STATE_NAME, json.dumps(saved, ensure_ascii=False))
            try:
                await outbox.write_riders()
                await asyncio.to_thread(_retire, legacy)
            except (StoreError, OSError) as exc:  # read again at the next start
                _LOGGER.error("care state not moved from %s: %s", legacy, exc)
            return saved
        text = await self.events.outbox.load_state(_STATE_NAME)
        try:
            return None if text is None else json.loads(text)
        except ValueError:
            _LOGGER.error("the saved care state is unreadable: the checks start afresh")
            return None

    def committed(self, event: Event) -> None:
        """An event is on disk: an alarm (not a test, not an update of an open case) is a
        mark on the family page's week, kept with the care state."""
        update = event.data.get("update", 0)
        if event.priority is Priority.ALARM and not event.data.get("test") and not update:
            self.engine.mark_alarm(event.ts)

    def reconfigure(self, cfg: Config) -> None:
        """New [care] options: the checks are made again, keeping their state."""
        self.engine = CareEngine.from_dict(cfg.care, self.clock, self.engine.to_dict())
        self.devices_changed()

    @property
    def _care_state_path(self) -> Path:
        return self.running.cfg.data_path / "care-state.json"

    async def run(self) -> None:
        """Tick the care checks; their state, when it changed, rides in the next write."""
        while True:
            await asyncio.sleep(_CARE_TICK_S)
            await self.apply(self.engine.tick(), save=True)
            self.keep()

    def keep(self) -> bool:
        """Hand the checks' state to the outbox when it changed (no I/O: it is written
        with the next transaction); whether it changed."""
        state = json.dumps(self.engine.to_dict(), ensure_ascii=False, separators=(",", ":"))
        if state == self._saved:
            return False
        self.events.outbox.ride_state(_STATE_NAME, state)
        self._saved = state
        return True

    async def save(self) -> None:
        """Write the checks' state now, in a transaction of its own, if it is not on disk
        yet (a failing card: written with a later transaction)."""
        self.keep()
        try:
            # Nothing waiting: returns at once, after any transaction that took it along.
            await self.events.outbox.write_riders()
        except StoreError as exc:
            _LOGGER.error("care state not saved: %s", exc)

    def _care_devices(self) -> dict[str, Paired]:
        """The registry's devices as the care checks know them: kind and room."""
        return {d.key: Paired(d.kind, d.room) for d in self.registry.devices()}

    def devices_changed(self) -> None:
        """Tell the checks the registry's devices again (after a pair, remove or rename)."""
        self.engine.know(self._care_devices())

    async def feed(self, reading: Reading, where: Paired | None = None) -> list[Event | Draft]:
        """Give a reading (with its paired kind and room) to the care checks and act on
        what they decide: the events stored, or the drafts held to store when the disk
        answers again."""
        episodes = set(self.engine.hazards.active)
        output = self.engine.feed(reading, where)
        events = await self.apply(output, save=True)
        if self.engine.hazards.active != episodes and not (output.drafts or output.actions):
            # An all-clear decides nothing to do, yet it must reach the disk at once: a
            # power cut before the next save would bring the detector back "in alarm",
            # deaf to its next alarm.
            await self.save()
        return events

    async def apply(self, output: CareOutput, *, save: bool = False) -> list[Event | Draft]:
        """Commit (or raise, for alarms) the care checks' events; carry out their actions.
        Returns the events stored and the drafts the disk refused (held, stored later).
        With `save`, a decision's state is on disk when this returns: in its first
        warning's commit, or in a transaction of its own."""
        decided = save and bool(output.drafts or output.actions)
        if decided:
            self.keep()  # before the commits: it rides in the first non-alarm one
        rode = False
        events: list[Event | Draft] = []
        for draft in map(self._named, output.drafts):
            if draft.priority is Priority.ALARM:
                event = await self.alarms.raise_alarm_draft(draft)
            else:  # refused: held; the alarms, siren and speech after it still count
                event = await self.events.commit_or_hold(draft)
                rode = rode or event is not None
            events.append(draft if event is None else event)
        for action in output.actions:
            if isinstance(action, Siren):
                if action.on:
                    self.indicators.show("siren")
            elif isinstance(action, Speak):
                if action.prompt_id in _CARE_PROMPTS:
                    self.speech.say(_CARE_PROMPTS[action.prompt_id])
                else:
                    _LOGGER.info("care prompt %s has no spoken text", action.prompt_id)
            elif isinstance(action, Led) and not self.alarms.any_open():
                # An open alarm's pattern always wins: the elder must see where help is.
                self.indicators.show("raised" if action.pattern == "alarm" else action.pattern)
        if decided and (not rode or self.keep()):
            await self.save()
        return events

    def _named(self, draft: Draft) -> Draft:
        """The draft with its device's name and room from the registry (the care checks
        know only the device key; the centre must know *which* detector alarms, and where)."""
        src = draft.source
        device = self.registry.get(src.device) if src is not None and not src.name else None
        if device is None:
            return draft
        named = Source(device.key, name=device.name, room=device.room, protocol=device.protocol)
        return replace(draft, source=named)

    def _reconcile_hazards(self) -> None:
        """Drop saved hazard episodes of devices no longer paired as that detector (a
        removed detector must not stay "in alarm", deaf to its next alarm, for ever)."""
        paired = {d.key: d.kind for d in self.registry.devices()}
        for episode in self.engine.hazards.reconcile(paired):
            _LOGGER.warning("hazard episode %s dropped: not paired as that detector now", episode)

    async def forget_hazards(self, key: str) -> None:
        """End the hazard episodes of a device removed or paired again (saved at once)."""
        ended = self.engine.hazards.forget(key)
        if ended:
            _LOGGER.warning(
                "hazard episodes %s ended: the device was removed or paired again", ended
            )
            await self.save()


def _retire(legacy: Path) -> None:
    """care-state.json, now in the outbox's file, renamed out of the way (durably)."""
    os.replace(legacy, legacy.with_name(f"{legacy.name}.migrated"))
    dir_fd = os.open(legacy.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

"""The care checks at work: readings fed to the pure checks of hub/care, and what they
decide carried out (events committed or alarms raised, siren, prompts, LED).

The checks' state (windows, hazard episodes, the last sign of life) is saved to the data
directory at every decision and at least every _CARE_SAVE_S, so a restart never resets a
window nor brings a detector back "in alarm". The checks know the registry's devices
(kind and room); `devices_changed` tells them again after a pair, remove or rename.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

from hub.care.base import Led, Siren, Speak
from hub.care.base import Output as CareOutput
from hub.care.engine import CareEngine
from hub.care.rooms import Paired
from hub.clock import Clock
from hub.config import Config, RunningConfig
from hub.event import Draft, Event, Priority, Source
from hub.reading import Reading
from hub.sensors.gpio import Indicators
from hub.services.alarms import AlarmService
from hub.services.committer import EventCommitter
from hub.services.speech import SpeechService
from hub.store.atomic import read_json, write_atomic
from hub.store.registry import Registry

_LOGGER = logging.getLogger(__name__)

# Care checks are ticked this often (their windows are in minutes). Their state is saved
# at once whenever they decide something, and otherwise (her last sign of life moving on)
# at most this often and only when it changed: the SD card sees a few dozen writes a day,
# not 288. After a power cut the last sign of life may be up to this much older than it
# was, so a check can call up to 15 minutes early, never late.
_CARE_TICK_S = 15.0
_CARE_SAVE_S = 900.0
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
        self._saved = ""  # the state as last written (JSON), "" before the first save
        # One save at a time: two writes in flight could rename in either order and leave
        # the older state on disk (an all-clear's hazard episode end lost to a power cut).
        self._save_lock = asyncio.Lock()
        self.engine: CareEngine

    async def start(self) -> None:
        """Load the checks' saved state (a fresh start without one) and the devices."""
        cfg = self.running.cfg
        saved = await asyncio.to_thread(read_json, self._care_state_path)
        self.engine = (
            CareEngine.from_dict(cfg.care, self.clock, saved)
            if isinstance(saved, dict)
            else CareEngine(cfg.care, self.clock)
        )
        self._reconcile_hazards()
        self.devices_changed()

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
        """Tick the care checks; save their state so a restart never resets a window."""
        last_save = self.clock.monotonic()
        while True:
            await asyncio.sleep(_CARE_TICK_S)
            changed = await self.apply(self.engine.tick())
            if changed or self.clock.monotonic() - last_save >= _CARE_SAVE_S:
                await self.save()
                last_save = self.clock.monotonic()

    async def save(self) -> None:
        """Write the checks' state unless it is what was last written (a failing card:
        saved at the next change)."""
        async with self._save_lock:  # the state is taken inside: the newest is written last
            state = json.dumps(self.engine.to_dict(), ensure_ascii=False, separators=(",", ":"))
            if state == self._saved:
                return
            try:
                await asyncio.to_thread(write_atomic, self._care_state_path, state.encode())
            except OSError as exc:  # a failing card: saved at the next change or in 15 min
                _LOGGER.error("care state not saved to %s: %s", self._care_state_path, exc)
                return
            self._saved = state

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
        Returns the events stored and the drafts the disk refused (held, stored later)."""
        events: list[Event | Draft] = []
        for draft in map(self._named, output.drafts):
            if draft.priority is Priority.ALARM:
                event = await self.alarms.raise_alarm_draft(draft)
            else:  # refused: held; the alarms, siren and speech after it still count
                event = await self.events.commit_or_hold(draft)
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
        if save and (output.drafts or output.actions):
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

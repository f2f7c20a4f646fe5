"""The reading pipeline: every reading of every source, one way through the rooms.

    source -> registry (attributed to its paired device, or left in the pairing inbox)
           -> listeners (the pages: permit join, walk test)
           -> the kind the installer paired it as (hub/sensors/attribute.py)
           -> health archive buckets (what is worn on the body)
           -> a pendant's press: SOS (hub/services/alarms.py)
           -> supervision (offline, restored, battery, tamper: events committed)
           -> care checks (hub/services/care.py: their events and alarms)

The hub's own buttons take a shorter way: red press raises the SOS (or shows the open
one), a hold of it within the cancel window cancels, green press is a check-in; every
press is a sign of life for the care checks and an answer to the voice question.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from hub.care.rooms import Paired
from hub.clock import Clock
from hub.event import Draft, Source
from hub.reading import Reading
from hub.sensors.attribute import HAZARD_KINDS, attribute
from hub.sensors.gpio import OK_BUTTON, SOS_BUTTON, HubButtons
from hub.sensors.supervision import Notice, Supervisor
from hub.services.alarms import AlarmService
from hub.services.care import CareService
from hub.services.committer import EventCommitter
from hub.services.voice import VoiceService
from hub.store.health import VitalBuckets
from hub.store.registry import Device, Registry
from hub.voice.confirm import Answer as VoiceAnswer

_LOGGER = logging.getLogger(__name__)

# Device supervision (offline detection, storm summaries) is evaluated this often.
_SUPERVISION_TICK_S = 5.0

ReadingListener = Callable[[Reading, Device | None], None]


class ReadingPipeline:
    """Takes each reading through registry, supervision and care; the buttons too."""

    def __init__(
        self,
        clock: Clock,
        *,
        registry: Registry,
        supervisor: Supervisor,
        vitals: VitalBuckets,
        alarms: AlarmService,
        care: CareService,
        events: EventCommitter,
        voice: VoiceService,
        buttons: HubButtons,
    ) -> None:
        self.clock = clock
        self.registry = registry
        self.supervisor = supervisor
        self.vitals = vitals
        self.alarms = alarms
        self.care = care
        self.events = events
        self.voice = voice
        self.buttons = buttons
        # The installer and family pages (hub/web) follow every radio reading (paired or
        # not) and the hub's button presses.
        self.listeners: list[ReadingListener] = []

    async def consume(self, readings: AsyncIterator[Reading]) -> None:
        """Handle a source's readings one by one, for as long as it gives them."""
        async for reading in readings:
            try:
                await self.handle_reading(reading)
            except Exception:
                # One reading the hub fails to handle must not restart the source: that
                # reopens the port and loses the lines already read (the next may be an
                # alarm). An alarm the outbox refuses never lands here: raise_alarm_draft
                # keeps it open in memory and it escalates locally.
                _LOGGER.exception(
                    "%s reading from %s not handled; going on with the next reading",
                    reading.kind,
                    reading.device,
                )

    async def handle_reading(self, reading: Reading) -> None:
        """A reading from a radio source: attributed to its paired device, supervised,
        given to the care checks; a pendant press raises SOS. Unpaired: pairing inbox only."""
        device = self.registry.seen(reading)  # memory only: no thread hop before an SOS
        self._tell_reading_listeners(reading, device)
        if device is None:
            return  # heard, not paired: it waits in the inbox for the installer
        # From here on the reading carries the registry's (canonical) key.
        reading = replace(attribute(reading, device.kind), device=device.key)
        if device.body_worn or device.kind == "wearable":
            # Only what is worn on the body is a vital sign: a room thermometer's
            # temperature never enters the elder's health record.
            self.vitals.add(reading, self.clock.now().timestamp())
        source = Source(device.key, name=device.name, room=device.room, protocol=device.protocol)
        # A pendant, or a wristband's SOS key (a wearable paired as such), raises the SOS.
        pressed = device.kind in ("button", "wearable") and reading.values.get("action") == "press"
        if pressed and self.alarms.open_sos() is None:
            await self.alarms.raise_alarm("sos", source=source)
        notices = self.supervisor.observe(reading, self.clock.monotonic(), kind=device.kind)
        await self.commit_notices(notices)
        await self.care.feed(reading, Paired(device.kind, device.room))

    def _tell_reading_listeners(self, reading: Reading, device: Device | None) -> None:
        for listener in self.listeners:
            try:
                listener(reading, device)
            except Exception:  # the pages must never cost the hub a reading (or an alarm)
                _LOGGER.exception("reading listener failed; the reading goes on")

    async def consume_buttons(self) -> None:
        """Handle the hub's own buttons, press by press."""
        async for reading in self.buttons.readings():
            await self.handle_button(reading)

    async def handle_button(self, reading: Reading) -> None:
        """Red press raises SOS; a later hold of it cancels; green press is a check-in."""
        press = f"press:{reading.values.get('press', 0)}"
        action = reading.values.get("action")
        self._tell_reading_listeners(reading, None)  # the walk test ticks the hub's buttons
        source = Source(
            reading.device,
            protocol=reading.protocol,
            name="红色求助按钮" if reading.device == SOS_BUTTON else "绿色平安按钮",
        )
        if action == "press":
            await self.voice.answer(
                VoiceAnswer.BUTTON_SOS
                if reading.device == SOS_BUTTON
                else VoiceAnswer.BUTTON_CANCEL
            )
        if reading.device == SOS_BUTTON and action == "press":
            existing = self.alarms.open_sos()
            if existing is not None:
                # The centre already has it; show where it is rather than raise twice.
                _LOGGER.info(
                    "red button pressed again while alarm %s is %s",
                    existing.id,
                    existing.state.value,
                )
                self.alarms.show(existing)
            else:
                await self.alarms.raise_alarm("sos", source=source, raised_by=press)
        elif reading.device == SOS_BUTTON and action == "hold":
            await self.alarms.cancel_held(press, source)
        events = await self.care.feed(reading)  # every press is a sign of life
        if (
            reading.device == OK_BUTTON
            and action == "press"
            and not any(e.kind == "checkin" for e in events)  # stored or held, not twice
        ):
            await self.events.commit_or_hold(Draft.create("checkin", self.clock, source=source))

    # -- supervision ------------------------------------------------------------------

    async def supervise_forever(self) -> None:
        """Look for devices gone silent; write the registry's last-seen times in time."""
        while True:
            await asyncio.sleep(_SUPERVISION_TICK_S)
            await self.commit_notices(self.supervisor.tick(self.clock.monotonic()))
            if self.registry.flush_due():  # a door's new state reaches the disk within a minute
                await asyncio.to_thread(self.registry.flush)

    async def polled_device_silent(self, _detector: Any, key: str, reason: str) -> None:
        """A polled detector stopped answering: sensor_offline now (once), if it is paired."""
        device = self.registry.get(key)
        if device is None:
            return
        now = self.clock.monotonic()
        await self.commit_notices(self.supervisor.silent(key, device.kind, now, {"reason": reason}))

    async def flush(self) -> None:
        """Readings held in a coalescing window (a chattering door's count and last state)
        are stored now, not lost with the process."""
        await self.commit_notices(self.supervisor.flush(self.clock.monotonic()))

    async def commit_notices(self, notices: list[Notice]) -> None:
        """Supervision's notices as events (alarms and worn devices' readings excepted)."""
        for notice in notices:
            if notice.kind in ("sensor_offline", "sensor_restored"):
                # The care checks say which of their rules went blind (simulate --explain).
                self.care.engine.device_health(
                    notice.device, online=notice.kind == "sensor_restored"
                )
            if notice.kind in (*HAZARD_KINDS, "button"):
                continue  # alarms: raised by the care checks / the SOS path, not twice
            if notice.kind in ("wearable", "radar"):
                # Its vital signs reach the centre as 5-minute health-archive buckets
                # (`vital`); one event per pulse reading would be 1,440 a day over cellular.
                # A radar reports all day: what it means reaches the centre as the care
                # checks' alarms (fall, fall_suspected) and as offline/restored.
                continue
            device = self.registry.get(notice.device)
            data = notice.data
            if notice.kind == "sensor_offline" and self.care.engine.hazards.in_alarm(notice.device):
                # Gone quiet in the middle of an alarm (burnt, or its battery gone): the
                # centre must know the hazard was never reported over.
                data = {**data, "in_alarm": True}
            source = Source(
                notice.device,
                name=device.name if device else "",
                room=device.room if device else "",
                protocol=device.protocol if device else "",
            )
            await self.events.commit_unless_full(
                Draft.create(notice.kind, self.clock, data=data, source=source)
            )

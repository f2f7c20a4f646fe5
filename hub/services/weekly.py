"""The weekly summary (周报) at work: once a week, the words of hub/care/weekly.py about
the week before, committed as `weekly_summary` telemetry (the centre forwards it) and,
when the family opted in (`escalation.weekly_sms`) and a modem and contacts are
configured, sent to each contact as one SMS.

Which week was last sent is kept in `weekly.json` in the data directory, written once a
week (before sending: a power cut in between loses one week's SMS rather than sending
it twice); the check itself every `_CHECK_S` reads nothing and writes nothing. A hub
started without that file (a new one) claims the last whole week as done, so its first
summary is of its first whole week, not of days it never saw.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hub.care.routine import SLOT_MIN
from hub.care.weekly import (
    WeekFacts,
    WeekMarks,
    checkin_deadline,
    due_week,
    week_facts,
    weekly_sms,
    weekly_text,
)
from hub.clock import Clock
from hub.config import RunningConfig
from hub.event import Draft
from hub.services.archive import HealthArchive
from hub.services.care import CareService
from hub.services.committer import EventCommitter
from hub.services.family import FamilyEscalation
from hub.sos.escalation import FINISHED
from hub.sos.modem import ModemError
from hub.sos.sms import mask_number
from hub.store.atomic import read_json, write_json_atomic

_LOGGER = logging.getLogger(__name__)

# Whether a week's summary is due is looked at this often (pure arithmetic on the clock).
_CHECK_S = 600.0
# The archive is read this many days back: a whole week from its Monday, seen as late as
# the Sunday after (a hub off for days sends the week when it is back, within a week).
_ARCHIVE_DAYS = 15


class WeeklySummary:
    """Composes and sends the weekly summary; answers the family page's week."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        *,
        care: CareService,
        archive: HealthArchive,
        family: FamilyEscalation,
        events: EventCommitter,
    ) -> None:
        self.running = running
        self.clock = clock
        self.care = care
        self.archive = archive
        self.family = family
        self.events = events
        self.last_sent: date | None = None
        self._sending = asyncio.Lock()  # the schedule's check and a caller's, never both

    @property
    def _state_path(self) -> Path:
        return self.running.cfg.data_path / "weekly.json"

    async def start(self) -> None:
        """Read which week was last sent; a new hub claims the last whole week as done."""
        raw = await asyncio.to_thread(read_json, self._state_path)
        try:
            self.last_sent = date.fromisoformat(raw["week"]) if isinstance(raw, dict) else None
        except (KeyError, TypeError, ValueError):
            self.last_sent = None
        if self.last_sent is None and self.clock.synced():
            week = due_week(self._local_now(), None)
            if week is not None:
                await self._claim(week)

    def _local_now(self) -> Any:
        return self.clock.now().astimezone(self.care.engine.tz)

    async def _claim(self, week: date) -> bool:
        """Write that `week` is sent (once a week); False when the card refuses."""
        try:
            await asyncio.to_thread(write_json_atomic, self._state_path, {"week": str(week)})
        except OSError as exc:
            _LOGGER.error("weekly summary state not saved to %s: %s", self._state_path, exc)
            return False
        self.last_sent = week
        return True

    async def run(self) -> None:
        """Send each week's summary when it is due."""
        while True:
            await self.send_due()
            await asyncio.sleep(_CHECK_S)

    async def facts(self, start: date, archive_days: int = _ARCHIVE_DAYS) -> WeekFacts:
        """The facts of the 7 days from `start` (the routine in memory, the archive's hourly
        rows of the last `archive_days`: one query, cached by the archive until its next
        write)."""
        engine = self.care.engine
        rows = await self.archive.hourly(archive_days)
        begin, now = datetime.combine(start, time(0), engine.tz), self.clock.now()
        marks = engine.marks
        week = WeekMarks(
            night_visits=(
                marks.since_start("night_visit", begin, now) if engine.sees_night_visits else None
            ),
            checkins=marks.since_start("checkin", begin, now),
            alarms=marks.since_start("alarm", begin, now),
            checkin_by=checkin_deadline(self.running.cfg.care),
            now=now,
        )
        return week_facts(
            start, engine.routine.days, rows, engine.tz, slot_min=SLOT_MIN, marks=week
        )

    async def page_text(self) -> str:
        """The family page's card: the last 7 days, today included."""
        today = self._local_now().date()
        # The 7 days the page's charts read too: the same cached query.
        return weekly_text(await self.facts(today - timedelta(days=6), 7), today)

    async def send_due(self) -> bool:
        """When a week's summary is due: claim it, SMS the family (opted in, a modem and
        contacts, no alarm cascade using the modem), commit `weekly_summary`."""
        async with self._sending:
            return await self._send_due()

    async def _send_due(self) -> bool:
        if not self.clock.synced():
            return False  # a Pi without RTC before NTP: no calendar week to speak of yet
        if self.last_sent is None:  # started before the clock was set: a new hub's claim
            week = due_week(self._local_now(), None)
            if week is not None:
                await self._claim(week)
            return False
        week = due_week(self._local_now(), self.last_sent)
        if week is None:
            return False
        esc = self.running.cfg.escalation
        modem = self.family.modem
        texting = esc.weekly_sms and bool(esc.contacts) and modem is not None
        busy = any(c.state not in FINISHED for c in self.family.escalator.cascades.values())
        if texting and busy:
            return False  # an alarm has the modem: next check
        if not await self._claim(week):
            return False
        facts = await self.facts(week)
        text, sms = weekly_text(facts), weekly_sms(facts)
        sent: list[str] = []
        failed: list[str] = []
        if texting and modem is not None:
            for contact in esc.contacts:
                try:
                    await modem.send_sms(contact.number, sms)
                    sent.append(mask_number(contact.number))
                except ModemError as exc:
                    _LOGGER.warning("weekly summary SMS not sent: %s", exc)
                    failed.append(mask_number(contact.number))
        data: dict[str, Any] = {
            "week_start": facts.start.isoformat(),
            "week_end": facts.end.isoformat(),
            "text": text,
            "sms_text": sms,
            "sms_sent": sent,
            "sms_failed": failed,
            "facts": facts.to_dict(),
        }
        await self.events.commit_unless_full(Draft.create("weekly_summary", self.clock, data=data))
        _LOGGER.info("weekly summary of %s committed, %d SMS sent", week, len(sent))
        return True

"""The installer's walk test: every paired device (and the hub's two buttons) ticked as
it is heard, a test alarm through the real path to the centre, and the report stored and
sent as a `walk_test` event when it is finished, runs out, or the hub stops. While it
runs, an alarm from a device on its checklist is flagged as a test (hub/web/join.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hub.event import Draft, Event, new_event_id
from hub.sensors.gpio import OK_BUTTON, SOS_BUTTON
from hub.web.access import Role
from hub.web.join import CheckItem, WalkTest
from hub.web.kit import BadInput, HubParts, PageKit
from hub.web.radar import RadarWalk
from hub.web.text import t

if TYPE_CHECKING:
    from aiohttp import web

    from hub.web import pages
else:
    from hub.web.kit import pages, web

_LOGGER = logging.getLogger(__name__)

# The hub's own buttons on the walk-test checklist (names as the alarms carry them).
HUB_BUTTONS = (
    (SOS_BUTTON, "红色求助按钮", "hub_sos"),
    (OK_BUTTON, "绿色平安按钮", "hub_ok"),
)


class WalkPages:
    """/installer/walk and its forms; `walk` is the walk test running, if any."""

    def __init__(self, kit: PageKit, hub: HubParts) -> None:
        self.kit = kit
        self.hub = hub
        self.walk: WalkTest | None = None
        self.radar_walk = RadarWalk()  # a radar ticks when walked in to and lain down in
        self.timer: asyncio.Task[None] | None = None
        self.last_report: dict[str, Any] | None = None

    def add_routes(self, app: web.Application) -> None:
        """Route this family's paths to it."""
        r = app.router
        r.add_get("/installer/walk", self._walk_page)
        r.add_post("/installer/walk/start", self._walk_start)
        r.add_post("/installer/walk/test-alarm", self._walk_alarm)
        r.add_post("/installer/walk/finish", self._walk_finish)

    def mark_alarm(self, draft: Draft) -> Draft:
        """During the walk test an alarm from a device on its checklist is the installer's:
        still raised, stored and sent the real way, but flagged `test` with the walk
        test's id so the centre knows (the lifecycle treats it as any test alarm)."""
        walk = self.walk
        device = draft.source.device if draft.source is not None else None
        if walk is None or not walk.flags(
            device, bool(draft.data.get("test")), self.kit.monotonic()
        ):
            return draft
        walk.flagged(draft.id)
        _LOGGER.info("alarm %s (%s) flagged as a walk-test alarm", draft.id, draft.kind)
        return replace(draft, data={**draft.data, "test": True, "walk_test": walk.id})

    def _walk_alarm_state(self) -> None:
        walk = self.walk
        if walk is None or walk.alarm_id is None:
            return
        alarm = self.hub.alarms.book.alarms.get(walk.alarm_id)
        if alarm is not None:
            walk.alarm_state = alarm.state.value

    def fragments(self, lang: str, csrf: str) -> dict[str, str]:
        """The page's live part: the checklist (or the last report)."""
        self._walk_alarm_state()
        remaining = self.walk.remaining(self.kit.monotonic()) if self.walk is not None else 0.0
        return {"walk": pages.walk_fragment(lang, self.walk, csrf, self.last_report, remaining)}

    async def _walk_page(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        lang = self.kit.lang_of(request)
        body = pages.walk_body(lang, self.fragments(lang, session.csrf)["walk"])
        return self.kit.page(request, session, "tab_walk", body, tab="walk", live="/live/walk")

    async def _walk_start(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        await self.kit.form(request, session)
        if self.walk is not None:  # a second phone, or a resubmitted form: keep the ticks
            raise web.HTTPSeeOther("/installer/walk")
        walk = WalkTest(
            started=self.kit.wall(),
            id=new_event_id(),
            deadline=self.kit.monotonic() + self.kit.cfg.walk_test_s,
        )
        for d in self.hub.devices.paired():
            walk.items[d.key] = CheckItem(d.key, d.name, d.room, d.kind)
        for key, name, kind in HUB_BUTTONS:
            walk.items[key] = CheckItem(key, name, "", kind)
        self.walk = walk
        self.radar_walk = RadarWalk()
        self.timer = asyncio.create_task(self._end_walk_in_time(walk), name="walk-timeout")
        _LOGGER.info(
            "walk test %s started with %d devices; it ends by itself in %d s",
            walk.id,
            len(walk.items),
            self.kit.cfg.walk_test_s,
        )
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/walk")

    async def _end_walk_in_time(self, walk: WalkTest) -> None:
        """End a forgotten walk test at its deadline: its report is stored and sent."""
        # Ending the walk test cancels this task; the loop only guards a clock that lags.
        while True:
            left = walk.remaining(self.kit.monotonic())
            if left <= 0:
                break
            await asyncio.sleep(left + 0.01)
        if self.walk is walk:
            _LOGGER.warning(
                "walk test %s ended by itself after %d s; alarms are no longer flagged as tests",
                walk.id,
                self.kit.cfg.walk_test_s,
            )
            self.timer = None  # this task: not cancelled by ending the walk
            await self.end_walk("timeout")

    async def end_walk(self, ended: str) -> tuple[Event, dict[str, Any]]:
        """Store and send the walk test's report; the walk test is over."""
        walk = self.walk
        assert walk is not None
        self.walk = None  # from here on, alarms are real again
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.last_report = None
        alarm = self.hub.alarms.book.alarms.get(walk.alarm_id) if walk.alarm_id else None
        if alarm is not None:
            walk.alarm_state = alarm.state.value
        report = walk.report(self.kit.wall(), ended)
        self.last_report = report
        event = await self.hub.events.commit(Draft.create("walk_test", self.hub.clock, data=report))
        self.kit.notify()
        return event, report

    async def _walk_alarm(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        await self.kit.form(request, session)
        if self.walk is None:
            raise BadInput("walk_not_started", 409)
        walk = self.walk
        raised = await self.hub.alarms.test_alarm()  # data.test = true, the real path to the centre
        # The walk may have timed out (or been finished) while the alarm was stored: the
        # alarm went out all the same; it belongs to the walk that asked for it.
        walk.alarm_id = raised["id"]
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/walk")

    async def _walk_finish(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        await self.kit.form(request, session)
        if self.walk is None:
            raise BadInput("walk_not_started", 409)
        event, report = await self.end_walk("finished")
        session.flash = t(
            self.kit.lang_of(request),
            "walk_saved",
            seq=event.seq,
            done=report["passed"],
            total=report["total"],
        )
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/walk")

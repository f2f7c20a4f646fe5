"""The installer's devices page: permit join, the candidates heard, pairing (or replacing
a device), renaming, removing; the paired devices as the pages show them (also on the
family page). Every change goes through device administration (hub/services/devices.py),
the same checked operations as the CLI's control socket."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from hub.sensors import ld2410
from hub.sensors.supervision import Health
from hub.web.access import Role
from hub.web.join import PermitJoin
from hub.web.kit import BadInput, HubParts, PageKit, clean, text_field
from hub.web.radar import live_of, radar_fragment, settings_commands
from hub.web.text import t

if TYPE_CHECKING:
    from aiohttp import web

    from hub.web import pages
else:
    from hub.web.kit import pages, web

_LOGGER = logging.getLogger(__name__)


class PairingPages:
    """/installer/devices and its forms; `rssi` is the last signal of each device heard."""

    def __init__(
        self,
        kit: PageKit,
        hub: HubParts,
        *,
        join: PermitJoin,
        rssi: dict[str, int],
    ) -> None:
        self.kit = kit
        self.hub = hub
        self.join = join
        self.rssi = rssi

    def add_routes(self, app: web.Application) -> None:
        """Route this family's paths to it."""
        r = app.router
        r.add_get("/installer/devices", self._devices_page)
        r.add_post("/installer/permit-join", self._permit_join)
        r.add_post("/installer/permit-stop", self._permit_stop)
        r.add_post("/installer/pair", self._pair)
        r.add_post("/installer/rename", self._rename)
        r.add_post("/installer/remove", self._remove)
        r.add_post("/installer/radar", self._radar_settings)

    def device_views(self) -> list[pages.DeviceView]:
        """The paired devices with their health, battery, last seen and signal."""
        now = self.hub.clock.now()
        views = []
        for d in self.hub.devices.paired():
            health = self.hub.devices.health_of(d.key)
            seen = None
            if d.last_seen:
                with contextlib.suppress(ValueError):
                    seen = max(0.0, (now - datetime.fromisoformat(d.last_seen)).total_seconds())
            views.append(
                pages.DeviceView(
                    d.key,
                    d.name,
                    d.room,
                    d.kind,
                    None if health is None else health is Health.ONLINE,
                    d.battery,
                    d.battery_low,
                    seen,
                    self.rssi.get(d.key),
                )
            )
        return views

    def fragments(self, lang: str, csrf: str) -> dict[str, str]:
        """The page's live parts: permit join, the candidates, the paired devices."""
        now = self.kit.monotonic()
        paired = self.hub.devices.paired()
        candidates = sorted(self.join.candidates.values(), key=lambda c: -c.last_heard)
        return {
            "join": pages.join_fragment(
                lang, self.join.remaining(now), self.kit.cfg.permit_join_s, csrf
            ),
            "candidates": pages.candidates_fragment(lang, candidates, paired, csrf),
            "paired": pages.paired_fragment(lang, self.device_views(), csrf)
            + radar_fragment(
                lang,
                live_of(self.hub.radars),
                {d.key: d.name for d in paired},
                settable=frozenset(
                    key for key, r in self.hub.radars.items() if r.model.name == ld2410.MODEL
                ),
                csrf=csrf,
            ),
        }

    async def _devices_page(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        parts = self.fragments(self.kit.lang_of(request), session.csrf)
        body = pages.devices_body(self.kit.lang_of(request), **parts)
        return self.kit.page(
            request, session, "tab_devices", body, tab="devices", live="/live/devices"
        )

    async def _permit_join(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        await self.kit.form(request, session)
        self.join.open(self.kit.monotonic())
        _LOGGER.info("permit join open for %d s", self.kit.cfg.permit_join_s)
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _permit_stop(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        await self.kit.form(request, session)
        self.join.close()
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _pair(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        form = await self.kit.form(request, session)
        key, kind = form.get("key"), form.get("kind")
        name, room = clean(text_field(form, "name")), clean(text_field(form, "room"))
        replaces = text_field(form, "replaces")
        if not isinstance(key, str) or key not in self.join.candidates:
            raise BadInput("not_candidate")
        if kind not in pages.KINDS:
            raise BadInput("bad_kind")
        old = self.hub.devices.get(replaces) if replaces else None
        if replaces and old is None:
            raise BadInput("no_device")
        await self.hub.devices.pair(key, str(kind), name, room)
        if old is not None:
            await self.hub.devices.remove(old.key)
            _LOGGER.info("device replaced by a new one")
        self.join.paired(key)
        lang = self.kit.lang_of(request)
        shown = name or key
        session.flash = (
            t(lang, "ok_replaced", name=old.name or old.key)
            if old is not None
            else t(lang, "ok_paired", name=shown)
        )
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _rename(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        form = await self.kit.form(request, session)
        key = text_field(form, "key")
        name, room = clean(text_field(form, "name")), clean(text_field(form, "room"))
        if self.hub.devices.get(key) is None:
            raise BadInput("no_device")
        await self.hub.devices.rename(key, name, room)
        session.flash = t(self.kit.lang_of(request), "ok_saved")
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _remove(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        form = await self.kit.form(request, session)
        key = text_field(form, "key")
        if self.hub.devices.get(key) is None:
            raise BadInput("no_device")
        await self.hub.devices.remove(key)
        session.flash = t(self.kit.lang_of(request), "ok_removed")
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _radar_settings(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        form = await self.kit.form(request, session)
        source = self.hub.radars.get(text_field(form, "key"))
        if source is None:
            raise BadInput("no_device")
        if source.model.name != ld2410.MODEL:
            raise BadInput("radar_not_settable")
        fields = {name: text_field(form, name) for name in ("max_m", "moving", "still")}
        try:
            frames = settings_commands(fields, source.tracker.live.settings)
        except ValueError as exc:
            raise BadInput(
                "bad_radar_max_m" if str(exc).startswith("max_m") else "bad_radar_threshold"
            ) from None
        if not source.send(frames):
            raise BadInput("radar_offline")
        _LOGGER.info(
            "radar %s: settings sent (farthest %s m, thresholds %s/%s %%)",
            source.key,
            fields["max_m"][:8],
            fields["moving"][:4],
            fields["still"][:4],
        )
        session.flash = t(self.kit.lang_of(request), "ok_radar_sent")
        self.kit.notify()
        raise web.HTTPSeeOther("/installer/devices")

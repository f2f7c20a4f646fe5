"""What the pages measure and show of the home: the installer's survey (Wi-Fi, the broker's
round trip, cellular, each BLE device's signal) and the family page (the last sign of
life, the connection, the alarms, the devices), read from memory only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.sensors.signal import good_ble, good_cell, good_round_trip, good_wifi, read_link
from hub.timeouts import wait_within
from hub.web.access import Role
from hub.web.kit import HubParts, PageKit
from hub.web.text import t

if TYPE_CHECKING:
    from aiohttp import web

    from hub.web import pages
    from hub.web.pictures import Span
else:
    from hub.web.kit import pages, web

# A survey waits this long for the broker's PUBACK.
_ROUND_TRIP_TIMEOUT_S = 5.0
# The family page reads the presence history (her outings) at most this often: one
# indexed, bounded query a minute however many phones look.
_PRESENCE_EVERY_S = 60.0
# At most this many transitions (a few dozen a day are usual).
_PRESENCE_ROWS = 500
# Sources whose devices report a received signal strength (hub/sensors: bthome, gatt).
BLE_PROTOCOLS = ("bthome", "ble_gatt", "ble")


class SurveyPages:
    """/installer/survey and /family."""

    def __init__(
        self,
        kit: PageKit,
        hub: HubParts,
        *,
        rssi: dict[str, int],
        device_views: Callable[[], list[pages.DeviceView]],
    ) -> None:
        self.kit = kit
        self.hub = hub
        self.rssi = rssi
        self.device_views = device_views
        self._presence: tuple[float, list[dict[str, Any]]] | None = None  # (read at, rows)

    def add_routes(self, app: web.Application) -> None:
        """Route this family's paths to it."""
        app.router.add_get("/installer/survey", self._survey_page)
        app.router.add_get("/family", self._family_page)

    async def survey(self) -> dict[str, Any]:
        """Measure now: Wi-Fi, broker round trip, cellular, BLE per paired device."""
        link = await asyncio.to_thread(read_link, Path(self.kit.cfg.wireless_path))
        try:
            rtt = await wait_within(self.hub.uplink.round_trip(), _ROUND_TRIP_TIMEOUT_S)
        except TimeoutError:
            rtt = None
        quality = await self.hub.family.signal()
        ble = {
            d.key: self.rssi.get(d.key)
            for d in self.hub.devices.paired()
            if d.protocol in BLE_PROTOCOLS or d.key in self.rssi
        }
        return {
            "uplink": link.uplink,
            "wifi_dbm": link.wifi.level_dbm if link.wifi else None,
            "wifi_interface": link.wifi.interface if link.wifi else None,
            "round_trip_s": rtt,
            "modem": self.hub.family.modem is not None,
            "cell_dbm": quality.rssi_dbm if quality else None,
            "ble_dbm": ble,
        }

    async def _survey_page(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, Role.INSTALLER)
        lang = self.kit.lang_of(request)
        s = await self.survey()
        measures = [
            pages.Measure(
                t(lang, "wifi"),
                f"{s['wifi_dbm']} dBm" if s["wifi_dbm"] is not None else t(lang, "no_wifi"),
                good_wifi(s["wifi_dbm"]),
                "advice_wifi",
            ),
            pages.Measure(
                t(lang, "broker"),
                f"{s['round_trip_s'] * 1000:.0f} ms"
                if s["round_trip_s"] is not None
                else t(lang, "no_broker"),
                good_round_trip(s["round_trip_s"]) if s["round_trip_s"] is not None else False,
                "advice_broker",
            ),
            pages.Measure(
                t(lang, "cell"),
                f"{s['cell_dbm']} dBm"
                if s["cell_dbm"] is not None
                else t(lang, "no_modem" if not s["modem"] else "unknown"),
                good_cell(s["cell_dbm"]) if s["modem"] else None,
                "advice_cell",
            ),
        ]
        names = {d.key: d for d in self.hub.devices.paired()}
        for key, dbm in s["ble_dbm"].items():
            d = names[key]
            measures.append(
                pages.Measure(
                    f"{t(lang, 'ble')}: {d.name or key} {d.room}",
                    f"{dbm} dBm" if dbm is not None else t(lang, "no_ble"),
                    good_ble(dbm),
                    "advice_ble",
                )
            )
        body = pages.survey_body(lang, measures, session.csrf)
        return self.kit.page(request, session, "tab_survey", body, tab="survey")

    async def family_fragments(self, lang: str, _csrf: str) -> dict[str, str]:
        """The family page's live part."""
        # From memory only (no database query): every family phone re-renders this.
        now = self.kit.monotonic()
        alarms = [
            {"kind": a.kind, "state": a.state.value, "test": a.test, "age_s": now - a.raised_at}
            for a in sorted(self.hub.alarms.book.alarms.values(), key=lambda a: a.raised_at)
        ]
        care = getattr(self.hub, "care", None)
        last = care.engine.last_sign.elapsed(self.hub.clock) if care is not None else 0.0
        fragment = pages.family_fragment(
            lang,
            last_sign_ago_s=last,
            connected=self.hub.uplink.state.connected,
            alarms=alarms,
            devices=self.device_views(),
        )
        return {"family": fragment}

    async def outings(self, start: datetime) -> list[Span]:
        """Her outings since `start` from the presence history (SQLite, on the outbox's
        thread; read at most once a minute), as the strip's spans. Only with one wearable
        in the history: two would mix one's outings with the other's."""
        from hub.web.pictures import away_spans

        now = self.kit.monotonic()
        if self._presence is None or now - self._presence[0] >= _PRESENCE_EVERY_S:
            # From a day earlier: an outing that began before the week is drawn from its start.
            since = int(start.timestamp()) - 86400
            rows = await self.hub.outbox.presence_since(since, _PRESENCE_ROWS)
            self._presence = (now, rows)
        rows = self._presence[1]
        if len({row["device"] for row in rows}) != 1:
            return []
        return away_spans(rows, self.hub.clock.now())

    async def family_pictures(self, lang: str) -> list[str]:
        """The family page's pictures: the week's activity strip from the care engine's
        learned routine (memory), the 30-day trend from the routine's profile and history
        (memory), the vital-sign charts from the health archive (one hourly
        range query of the last 7 days on the outbox's database thread, kept in memory
        until the archive's next write). Nothing is written per view."""
        care = getattr(self.hub, "care", None)
        if care is None:
            return []
        # Imported here, as the pages are: the hub loads it at the first family view.
        from hub.care.routine import ROUTINE_DAYS, SLOT_MIN
        from hub.care.weekly import checkin_deadline
        from hub.web.pictures import (
            VITAL_DAYS,
            day_routines,
            routine_strip,
            routine_trend,
            strip_start,
            vital_pictures,
        )

        engine = care.engine
        clock, tz, routine = self.hub.clock, engine.tz, engine.routine
        start, now = strip_start(clock, tz), clock.now()
        strip = routine_strip(
            routine.days,
            SLOT_MIN,
            clock,
            tz,
            lang=lang,
            night_visits=(
                engine.marks.since_start("night_visit", start, now)
                if engine.sees_night_visits
                else None
            ),
            checkins=engine.marks.since_start("checkin", start, now),
            alarms=engine.marks.since_start("alarm", start, now),
            checkin_by=checkin_deadline(self.hub.cfg.care),
            away=await self.outings(start),
        )
        learned_from = clock.now().astimezone(tz).date() - timedelta(days=ROUTINE_DAYS)
        kept = day_routines(routine.days, routine.history, SLOT_MIN)
        trend = routine_trend(kept, learned_from, clock, tz, lang=lang)
        rows = await self.hub.archive.hourly(VITAL_DAYS)
        vitals = vital_pictures(rows, self.hub.cfg.care.vitals, clock, tz, lang=lang)
        return [strip.svg, trend.svg, *(p.svg for p in vitals)]

    async def _family_page(self, request: web.Request) -> web.StreamResponse:
        session = self.kit.need(request, None)
        lang = self.kit.lang_of(request)
        parts = await self.family_fragments(lang, session.csrf)
        pictures = await self.family_pictures(lang)
        weekly = await self.hub.weekly.page_text() if getattr(self.hub, "care", None) else ""
        body = pages.family_body(parts["family"], pictures, lang=lang, weekly=weekly)
        return self.kit.page(
            request, session, "family_title", body, tab="family", live="/live/family"
        )

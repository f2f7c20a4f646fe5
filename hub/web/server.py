"""The installer and family pages on aiohttp: routes, sessions, CSRF, live updates (SSE).

aiohttp costs ~12 MiB resident (its package imports its HTTP client too), a quarter of
the idle hub's budget, and the pages are opened a few times in a hub's life. So the hub
listens on a plain socket and imports aiohttp (in a thread) when the first phone
connects; aiohttp then serves that socket, the waiting connection included. PINs, the
both-buttons gesture, permit join and the walk test need no aiohttp.

Every change goes through the Hub's own functions (the ones the CLI's control socket
calls: pair, remove, rename, test alarm) and every event through hub.commit /
hub.raise_alarm. Bad input gets a page that says what is wrong and that nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import json
import logging
import socket
import struct
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import HubError, StoreError
from hub.event import Draft, new_event_id
from hub.reading import Reading
from hub.sensors.gpio import OK_BUTTON, SOS_BUTTON
from hub.sensors.signal import good_ble, good_cell, good_round_trip, good_wifi, read_link
from hub.sensors.supervision import Health
from hub.store.atomic import read_json, write_json_atomic
from hub.store.registry import Device
from hub.web.access import Access, BothHeld, Role, Session, allowed_host
from hub.web.join import CheckItem, PermitJoin, WalkTest
from hub.web.limits import (
    BODY_TIMEOUT_S,
    HEAD_TIMEOUT_S,
    MAX_PER_ADDRESS,
    REQUEST_TIMEOUT_S,
    ConnectionLimits,
    GuardedListener,
    connection_cap,
    descriptor_limit,
)
from hub.web.radar import RadarWalk, live_of, radar_fragment
from hub.web.text import LANGS, t

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import MultiDictProxy

    from hub.app import Hub
    from hub.web import pages
else:

    class _Lazy:
        """A module imported on first use (by the first phone to connect)."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    web = _Lazy("aiohttp.web")
    pages = _Lazy("hub.web.pages")  # the HTML (and html.entities, ~0.7 MiB)

_LOGGER = logging.getLogger(__name__)

SESSION_COOKIE = "pingan_session"
PRE_COOKIE = "pingan_pre"  # the login form's CSRF token (double submit: cookie + field)
LANG_COOKIE = "lang"
# Forms are a few short fields: anything bigger is refused before it is parsed.
MAX_BODY = 16 * 1024
# Names and rooms as the CLI caps them.
MAX_TEXT = 40
# How often the buttons are looked at for the both-held PIN gesture.
_BUTTON_POLL_S = 0.2
# Live pages are re-rendered when something changes (a reading, an alarm), at most every
# _LIVE_MIN_S (a chatty BLE sensor must not cost a render per advert on a Pi Zero), and at
# least every _LIVE_TICK_S for what time alone changes ("5 min ago", the permit-join
# window; the countdown itself runs in the page). A comment keeps idle connections open.
_LIVE_MIN_S = 0.25
_LIVE_TICK_S = 5.0
_KEEPALIVE_S = 15.0
# Each live page holds a connection and a task: a phone with a few tabs needs a few, but a
# script (or a browser gone wrong) must not open them without end on a 512 MB hub.
MAX_LIVE_PER_SESSION = 4
MAX_LIVE = 16
# A survey waits this long for the broker's PUBACK.
_ROUND_TRIP_TIMEOUT_S = 5.0
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Sources whose devices report a received signal strength (hub/sensors: bthome, gatt).
BLE_PROTOCOLS = ("bthome", "ble_gatt", "ble")
# Without an address on web.interface (Wi-Fi joining at boot), binding is retried this often;
# as often, the interface's address is compared with the one served (a DHCP renewal may
# give a new lease) and the pages move to a new one.
_BIND_RETRY_S = 30.0
# The hub's own buttons on the walk-test checklist (names as the alarms carry them).
HUB_BUTTONS = (
    (SOS_BUTTON, "红色求助按钮", "hub_sos"),
    (OK_BUTTON, "绿色平安按钮", "hub_ok"),
)
# The SIOCGIFADDR ioctl: an interface's IPv4 address (Linux).
_SIOCGIFADDR = 0x8915


class BadInput(HubError):
    """A form that cannot be acted on; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _import_pages() -> None:
    importlib.import_module("aiohttp.web")
    importlib.import_module("hub.web.pages")


def _listen(address: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on address:port (as aiohttp's own sites do)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def interface_address(name: str) -> str | None:
    """The IPv4 address of a network interface, or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode())
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def _clean(value: str | None) -> str:
    """Strip; refuse control characters and overlong text."""
    text = (value or "").strip()
    if len(text) > MAX_TEXT or any(unicodedata.category(ch).startswith("C") for ch in text):
        raise BadInput("bad_text")
    return text


class WebServer:
    """The pages of one hub: state (PINs, sessions, permit join, walk test) and the app."""

    def __init__(
        self, hub: Hub, *, address_of: Callable[[str], str | None] = interface_address
    ) -> None:
        """`address_of` gives an interface's IPv4 address (tests inject their own)."""
        self.hub = hub
        self.cfg = hub.cfg.web
        self.monotonic = hub.clock.monotonic
        self.access = Access(
            installer_pin_s=self.cfg.installer_pin_s,
            installer_session_s=self.cfg.installer_session_s,
            family_session_s=self.cfg.family_session_s,
            max_attempts=self.cfg.max_attempts,
            lockout_s=self.cfg.lockout_s,
        )
        self.join = PermitJoin(self.cfg.permit_join_s)
        self.walk: WalkTest | None = None
        self.radar_walk = RadarWalk()  # a radar ticks when walked in to and lain down in
        self._walk_timer: asyncio.Task[None] | None = None
        self.last_report: dict[str, Any] | None = None
        self.rssi: dict[str, int] = {}  # last signal of paired devices and candidates
        self._waiters: set[asyncio.Event] = set()
        self._live_open: dict[str, int] = {}  # live connections per session token
        self._both = BothHeld(self.cfg.pin_hold_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None  # the listening socket of `address`
        # Accepting its connections (within hub/web/limits.py) for aiohttp, once loaded.
        self.listener: GuardedListener | None = None
        self._loading: asyncio.Task[None] | None = None
        self._binder: asyncio.Task[None] | None = None
        self._bind_problem = ""
        self._address_of = address_of
        self._refused_hosts: set[str | None] = set()
        self._prepared = False
        self.address: str | None = None  # where the pages are served, once they are

    @property
    def app(self) -> web.Application:
        """The aiohttp application (importing aiohttp when it is first asked for)."""
        if self._app is None:
            self._app = self._build_app()
        return self._app

    def _build_app(self) -> web.Application:
        @web.middleware
        async def check_host(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            return await self._check_host(request, handler)

        @web.middleware
        async def guard(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            return await self._guard(request, handler)

        app = web.Application(client_max_size=MAX_BODY, middlewares=[check_host, guard])
        app.on_startup.append(self._on_startup)
        app.on_response_prepare.append(self._headers)
        app.on_cleanup.append(self._on_cleanup)
        self._routes(app)
        return app

    @property
    def _secrets_path(self) -> Path:
        return self.hub.cfg.data_path / "web.json"

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the LAN address (web.listen, else web.interface's address); when the
        interface has no address yet (Wi-Fi still joining at boot), keep trying, and when
        its address changes (a DHCP renewal with a new lease), move to the new one."""
        await self.prepare()  # PINs and the buttons work even before the pages can be served
        if not await self._bind():
            _LOGGER.error(
                "web pages not started yet: interface %s has no IPv4 address; retrying every "
                "%.0f s (set web.interface to the LAN interface, or web.listen to the hub's "
                "LAN address)",
                self.cfg.interface,
                _BIND_RETRY_S,
            )
        if self.address is None or not self.cfg.listen:
            self._binder = asyncio.create_task(self._follow_address(), name="web-bind")

    async def _follow_address(self) -> None:
        """Bind once the interface has an address; re-bind when it changes. One ioctl
        every _BIND_RETRY_S: no netlink listener kept in memory for a rare event."""
        while True:
            await asyncio.sleep(_BIND_RETRY_S)
            wanted = self.cfg.listen or self._address_of(self.cfg.interface)
            if wanted is None or wanted == self.address:
                continue  # no address (Wi-Fi down a moment: keep what we have), or the same
            if self.address is not None:
                _LOGGER.warning(
                    "LAN address of %s changed from %s to %s: the pages move to it",
                    self.cfg.interface,
                    self.address,
                    wanted,
                )
            await self._bind()

    async def _bind(self) -> bool:
        """Listen on the current address (instead of the old one, if any); False when
        there is no address to listen on yet."""
        address = self.cfg.listen or self._address_of(self.cfg.interface)
        if address is None:
            return False
        try:
            sock = _listen(address, self.cfg.port)
        except OSError as exc:
            problem = f"web pages not started on {address}:{self.cfg.port}: {exc}"
            if problem != self._bind_problem:  # a taken port: said once, retried quietly
                _LOGGER.error("%s", problem)
                self._bind_problem = problem
            return True
        self._bind_problem = ""
        old, self._sock = self._sock, sock
        loop = asyncio.get_running_loop()
        if self._runner is not None:
            await self._serve(sock)  # aiohttp is loaded: it takes the new socket at once
        else:
            loop.add_reader(sock.fileno(), self._first_visit)
            if old is not None:  # the old address is gone: nobody can reach it any more
                loop.remove_reader(old.fileno())
                old.close()
        _LOGGER.info("installer and family pages on http://%s:%s/", address, self.cfg.port)
        self.address = address
        return True

    def _first_visit(self) -> None:
        """A phone connects: load aiohttp, which then accepts it."""
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        if self._loading is None:
            self._loading = asyncio.create_task(self._load(), name="web-load")

    async def _load(self) -> None:
        # In a thread: on a Pi Zero the import takes a second or two, and the loop
        # must keep carrying alarms meanwhile.
        try:
            await asyncio.to_thread(_import_pages)
            runner = web.AppRunner(
                self.app,
                access_log=None,
                handle_signals=False,
                shutdown_timeout=1.0,
                # aiohttp's own guard against a connection that never sends a request:
                # the same as ours (its default is an hour).
                keepalive_timeout=HEAD_TIMEOUT_S,
                # After answering a request whose body never came (a 408), aiohttp reads
                # what is left of it for this long before closing (its default: 10 s).
                lingering_time=1.0,
            )
            await runner.setup()
        except Exception:  # a broken install: the hub goes on, the log says why
            _LOGGER.exception(
                "the pages could not be loaded, so they are off until the hub restarts "
                "(reinstall pingan-hub with its [web] extra)"
            )
            self._close_listener()
            return
        _LOGGER.info("first visit to the pages: aiohttp loaded")
        self._runner = runner
        if self._sock is not None:
            await self._serve(self._sock)

    def _close_listener(self) -> None:
        """Stop listening for good: a phone is refused at once rather than left waiting
        on a socket nobody reads, and no new address is bound."""
        if self._binder is not None:
            self._binder.cancel()
            self._binder = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())  # if re-bound since
            self._sock.close()
            self._sock = None
        self.address = None

    async def _serve(self, sock: socket.socket) -> None:
        """Have aiohttp serve `sock`, within the connection limits (then stop serving the
        previous address)."""
        assert self._runner is not None and self._runner.server is not None
        nofile = descriptor_limit()
        limits = ConnectionLimits(connection_cap(nofile), MAX_PER_ADDRESS)
        listener = GuardedListener(sock, self._runner.server, limits=limits)
        listener.start()
        _LOGGER.info(
            "pages: at most %d connections (%d per address) of the hub's %d file descriptors",
            limits.max_total,
            limits.max_per_address,
            nofile,
        )
        old, self.listener = self.listener, listener
        if old is not None:
            await old.stop()

    async def stop(self) -> None:
        """End a walk test still running (its report is committed), stop listening and
        end live connections."""
        if self.walk is not None:
            _LOGGER.warning("walk test %s ended by the hub stopping", self.walk.id)
            try:
                await self._end_walk("hub_stopped")
            except StoreError as exc:  # the hub must still stop (and close storage)
                _LOGGER.error("walk test report not stored: %s", exc)
        for task in (self._binder, self._loading):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._binder = self._loading = None
        if self.listener is not None:
            await self.listener.stop()  # closes the socket and every connection
            self.listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        elif self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        await self._unprepare()

    async def _on_startup(self, _app: web.Application) -> None:
        await self.prepare()

    async def prepare(self) -> None:
        """Load the family PIN (made on first use), follow readings and alarms, watch the
        buttons; idempotent."""
        if self._prepared:
            return
        self._prepared = True
        saved = await asyncio.to_thread(read_json, self._secrets_path)
        if isinstance(saved, dict) and isinstance(saved.get("family_pin"), str):
            self.access.family_pin = saved["family_pin"]
        else:
            try:
                await self._new_family_pin()
            except OSError as exc:  # a full SD card must not keep the hub from starting
                _LOGGER.error(
                    "family PIN not saved to %s (%s): it changes when the hub restarts",
                    self._secrets_path,
                    exc,
                )
        self.hub.readings.listeners.append(self._on_reading)
        self.hub.alarms.listeners.append(self._on_alarm)
        self.hub.alarms.marks.append(self._mark_walk_alarm)
        self._tasks.append(asyncio.create_task(self._watch_buttons(), name="web-buttons"))

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self._unprepare()

    async def _unprepare(self) -> None:
        self._prepared = False
        tasks, self._tasks = self._tasks, []
        if self._walk_timer is not None:
            tasks.append(self._walk_timer)
            self._walk_timer = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(ValueError):
            self.hub.readings.listeners.remove(self._on_reading)
        with contextlib.suppress(ValueError):
            self.hub.alarms.listeners.remove(self._on_alarm)
        with contextlib.suppress(ValueError):
            self.hub.alarms.marks.remove(self._mark_walk_alarm)

    async def _new_family_pin(self) -> str:
        pin = self.access.new_family_pin()
        await asyncio.to_thread(
            write_json_atomic, self._secrets_path, {"family_pin": pin}
        )  # mode 0600, like every atomic write
        return pin

    # -- what the hub tells us ------------------------------------------------------

    def notify(self) -> None:
        """Something the live pages show changed."""
        for waiter in self._waiters:
            waiter.set()

    def _on_alarm(self, _alarm: Any) -> None:
        self.notify()

    def _on_reading(self, reading: Reading, device: Device | None) -> None:
        """Every radio reading: offered during permit join, ticked in the walk test; and
        the hub's own button presses (ticked only)."""
        if reading.device in (SOS_BUTTON, OK_BUTTON):
            if self.walk is not None and reading.values.get("action") == "press":
                self.walk.heard(reading.device, self._wall())
                self.notify()
            return
        if device is None:
            now = self.monotonic()
            if not self.join.heard(
                reading.device, reading.protocol, reading.kind, reading.rssi, now
            ):
                return  # a neighbour's device, not offered: nothing to show, nothing kept
        elif self.walk is not None and self.radar_walk.ticks(device.kind, reading):
            self.walk.heard(device.key, self._wall())
        if reading.rssi is not None:
            if reading.device not in self.rssi:
                self._prune_rssi()  # a new key: so at most one per device offered or paired
            self.rssi[reading.device] = reading.rssi
        self.notify()  # a candidate, a tick, or a paired device's last seen / battery

    def _prune_rssi(self) -> None:
        """Forget the signal of devices no longer offered (pushed off the candidate list,
        or paired and since removed): a neighbour's chatty gear must not grow it forever."""
        devices = self.hub.devices
        for key in [k for k in self.rssi if k not in self.join.candidates and not devices.get(k)]:
            del self.rssi[key]

    def _wall(self) -> str:
        return self.hub.clock.now().isoformat()

    def _mark_walk_alarm(self, draft: Draft) -> Draft:
        """During the walk test an alarm from a device on its checklist is the installer's:
        still raised, stored and sent the real way, but flagged `test` with the walk
        test's id so the centre knows (the lifecycle treats it as any test alarm)."""
        walk = self.walk
        device = draft.source.device if draft.source is not None else None
        if walk is None or not walk.flags(device, bool(draft.data.get("test")), self.monotonic()):
            return draft
        walk.flagged(draft.id)
        _LOGGER.info("alarm %s (%s) flagged as a walk-test alarm", draft.id, draft.kind)
        return replace(draft, data={**draft.data, "test": True, "walk_test": walk.id})

    async def _watch_buttons(self) -> None:
        """Both buttons held for pin_hold_s: speak the installer PIN to the room."""
        while True:
            await asyncio.sleep(_BUTTON_POLL_S)
            buttons = getattr(self.hub, "buttons", None)
            if buttons is None:
                continue
            both = bool(buttons.sos.is_pressed and buttons.ok.is_pressed)
            if self._both.update(both, self.monotonic()):
                pin, _ = self.access.installer_pin(self.monotonic())
                _LOGGER.info("both buttons held: installer PIN spoken")
                self.hub.speech.say_text(spoken_pin(pin, self.hub.cfg.hub.language))

    async def pin_op(self, *, family: bool, new: bool) -> dict[str, Any]:
        """The `pin` control op: the installer PIN, or the family PIN (optionally new)."""
        if family:
            pin = await self._new_family_pin() if new else self.access.family_pin
            return {"pin": pin, "role": "family", "expires_in_s": None}
        pin, left = self.access.installer_pin(self.monotonic())
        return {"pin": pin, "role": "installer", "expires_in_s": round(left)}

    # -- plumbing -------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/login", self._login_page)
        r.add_post("/login", self._login)
        r.add_post("/logout", self._logout)
        r.add_get("/lang/{lang}", self._lang)
        r.add_get("/static/app.css", self._css)
        r.add_get("/static/app.js", self._js)
        r.add_get("/installer", self._index)
        r.add_get("/installer/devices", self._devices_page)
        r.add_post("/installer/permit-join", self._permit_join)
        r.add_post("/installer/permit-stop", self._permit_stop)
        r.add_post("/installer/pair", self._pair)
        r.add_post("/installer/rename", self._rename)
        r.add_post("/installer/remove", self._remove)
        r.add_get("/installer/walk", self._walk_page)
        r.add_post("/installer/walk/start", self._walk_start)
        r.add_post("/installer/walk/test-alarm", self._walk_alarm)
        r.add_post("/installer/walk/finish", self._walk_finish)
        r.add_get("/installer/survey", self._survey_page)
        r.add_get("/family", self._family_page)
        r.add_get("/live/{page}", self._live)

    async def _check_host(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Answer only requests addressed to this hub by address, `localhost` or a
        configured name: a web page whose name was re-pointed at the hub (DNS rebinding)
        gets a 421 and nothing is done."""
        host = request.headers.get("Host")
        own, port = self._own_address(request)
        names = {n.strip().lower().rstrip(".") for n in self.cfg.host_names.split(",")}
        if allowed_host(host, own=own, port=port, names=names - {""}):
            return await handler(request)
        if host not in self._refused_hosts and len(self._refused_hosts) < 32:
            # Once per name: a hostile page in a loop must not fill the SD card with logs.
            self._refused_hosts.add(host)
            _LOGGER.warning("request for another host refused: %r", (host or "")[:100])
        address = self.address or next(iter(sorted(own)), "")
        shown = f"[{address}]" if ":" in address else address
        url = f"http://{shown}:{port}/"
        lang = self.lang_of(request)
        message = t(lang, "wrong_host", host=(host or "")[:100], url=url)
        html = pages.layout(lang, t(lang, "error"), pages.error_body(lang, message, url), path="/")
        return web.Response(text=html, status=421 if host else 400, content_type="text/html")

    def _own_address(self, request: web.Request) -> tuple[set[str], int]:
        """The addresses the hub is reached on (the one this request arrived on, and the
        one it listens on) and the port."""
        own = {self.address} if self.address else set()
        port = self.cfg.port
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            own.add(str(sockname[0]).lower())
            port = int(sockname[1])
        return own, port

    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Bad input becomes a clear error page (and nothing was changed); a body that
        does not arrive within BODY_TIMEOUT_S is a 408."""
        try:
            if request.can_read_body and (request.content_length or 0) <= MAX_BODY:
                # Wait for the whole body (a form is at most 16 KiB) without reading it:
                # the handler parses it. A larger one is refused (413) as it is read.
                try:
                    async with asyncio.timeout(BODY_TIMEOUT_S):
                        await request.content.wait_eof()
                except TimeoutError:
                    return self._error(request, 408, "too_slow")
            response = await handler(request)
        except BadInput as exc:
            response = self._error(request, exc.status, str(exc))
        except web.HTTPRequestEntityTooLarge:
            response = self._error(request, 413, "too_big")
        except HubError as exc:  # the hub refused (unknown device, ...): say why
            response = self._error(request, 400, "", detail=str(exc))
        return response

    @staticmethod
    async def _headers(_request: web.Request, response: web.StreamResponse) -> None:
        """Security headers on every response, redirects and errors included; one
        request per connection, so hub/web/limits.py's deadlines cover its whole life."""
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # aiohttp has written its Connection header by the time this hook runs: say it.
        response.headers["Connection"] = "close"
        response.force_close()

    async def _lang(self, request: web.Request) -> web.StreamResponse:
        lang = request.match_info["lang"]
        target = request.query.get("next", "/")
        # Not printable: a tab or line break is dropped from a URL, so "/<tab>/x" is "//x".
        if not target.startswith("/") or target.startswith("//") or not target.isprintable():
            target = "/"
        response = web.HTTPSeeOther(target)
        if lang in LANGS:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Strict")
        raise response

    @staticmethod
    def lang_of(request: web.Request) -> str:
        """The page language: the cookie, else Mandarin."""
        lang = request.cookies.get(LANG_COOKIE, "zh")
        return lang if lang in LANGS else "zh"

    def _error(self, request: web.Request, status: int, key: str, detail: str = "") -> web.Response:
        lang = self.lang_of(request)
        message = t(lang, key) if key else detail
        back = request.path if request.method == "GET" else _back(request)
        html = pages.layout(
            lang, t(lang, "error"), pages.error_body(lang, message, back), path=request.path
        )
        return web.Response(text=html, status=status, content_type="text/html")

    def _session(self, request: web.Request) -> Session | None:
        return self.access.session(request.cookies.get(SESSION_COOKIE), self.monotonic())

    def _need(self, request: web.Request, role: Role | None) -> Session:
        """The caller's session (installer when `role` is INSTALLER); else redirect/403."""
        session = self._session(request)
        if session is None:
            if request.method == "GET":
                raise web.HTTPSeeOther("/login")
            raise BadInput("not_logged_in", 403)
        if role is Role.INSTALLER and session.role is not Role.INSTALLER:
            raise BadInput("installer_only", 403)
        return session

    async def _form(self, request: web.Request, session: Session) -> MultiDictProxy[Any]:
        """The posted form, once its CSRF token matches the session's."""
        form = await request.post()
        token = form.get("csrf")
        if not isinstance(token, str) or not _same(token, session.csrf):
            _LOGGER.warning("form without a valid CSRF token refused: %s", request.path)
            raise BadInput("csrf", 403)
        return form

    def _page(
        self,
        request: web.Request,
        session: Session,
        title_key: str,
        body: str,
        *,
        tab: str,
        live: str = "",
    ) -> web.Response:
        lang = self.lang_of(request)
        flash, session.flash = session.flash, ""
        html = pages.layout(
            lang,
            t(lang, title_key),
            body,
            path=request.path,
            csrf=session.csrf,
            nav=pages.Nav(tab, session.role is Role.INSTALLER),
            live=live,
            flash=flash,
        )
        return web.Response(text=html, content_type="text/html")

    # -- login ----------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/login")
        raise web.HTTPSeeOther(
            "/installer/devices" if session.role is Role.INSTALLER else "/family"
        )

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return self._login_form(request)

    def _login_form(self, request: web.Request, status: int = 200, error: str = "") -> web.Response:
        """The PIN form, with what went wrong on the last try (the form stays to try again)."""
        lang = self.lang_of(request)
        token = request.cookies.get(PRE_COOKIE) or _token()
        html = pages.layout(
            lang, t(lang, "login_title"), pages.login_body(lang, token), path="/login", error=error
        )
        response = web.Response(text=html, status=status, content_type="text/html")
        response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="Strict", path="/login")
        return response

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token, pin = form.get("csrf"), form.get("pin")
        cookie = request.cookies.get(PRE_COOKIE, "")
        lang = self.lang_of(request)
        if not isinstance(token, str) or not cookie or not _same(token, cookie):
            return self._login_form(request, 403, t(lang, "csrf"))
        now = self.monotonic()
        locked = self.access.locked_for(now)
        if locked > 0:
            return self._login_form(request, 429, t(lang, "locked", s=int(locked) + 1))
        if (
            not isinstance(pin, str)
            or not pin.isascii()
            or not pin.isdigit()
            or not 6 <= len(pin) <= 8
        ):
            return self._login_form(request, 400, t(lang, "pin_format"))
        result = self.access.login(pin, now)
        if result.session is None:
            _LOGGER.warning("wrong PIN on the pages (%s)", result.reason)
            if result.reason == "locked":
                return self._login_form(request, 429, t(lang, "locked", s=result.retry_after_s))
            return self._login_form(request, 403, t(lang, "wrong_pin", left=result.attempts_left))
        _LOGGER.info("pages unlocked (%s)", result.session.role.value)
        response = web.HTTPSeeOther(
            "/installer/devices" if result.session.role is Role.INSTALLER else "/family"
        )
        response.set_cookie(
            SESSION_COOKIE,
            result.session.token,
            httponly=True,
            samesite="Strict",
            path="/",
            max_age=int(result.session.lifetime),  # the family's phone stays logged in
        )
        response.del_cookie(PRE_COOKIE, path="/login")
        raise response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, None)
        await self._form(request, session)
        self.access.logout(session.token)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def _css(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text=pages.STYLE, content_type="text/css")

    async def _js(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text=pages.SCRIPT, content_type="application/javascript")

    # -- pairing --------------------------------------------------------------------

    def _device_views(self) -> list[pages.DeviceView]:
        now = self.hub.clock.now()
        views = []
        for d in self.hub.devices.paired():
            health = self.hub.devices.health_of(d.key)
            seen = None
            if d.last_seen:
                with contextlib.suppress(ValueError):
                    from datetime import datetime

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

    def _devices_fragments(self, lang: str, csrf: str) -> dict[str, str]:
        now = self.monotonic()
        paired = self.hub.devices.paired()
        candidates = sorted(self.join.candidates.values(), key=lambda c: -c.last_heard)
        return {
            "join": pages.join_fragment(
                lang, self.join.remaining(now), self.cfg.permit_join_s, csrf
            ),
            "candidates": pages.candidates_fragment(lang, candidates, paired, csrf),
            "paired": pages.paired_fragment(lang, self._device_views(), csrf)
            + radar_fragment(lang, live_of(self.hub.radars), {d.key: d.name for d in paired}),
        }

    async def _devices_page(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        parts = self._devices_fragments(self.lang_of(request), session.csrf)
        body = pages.devices_body(self.lang_of(request), **parts)
        return self._page(
            request, session, "tab_devices", body, tab="devices", live="/live/devices"
        )

    async def _permit_join(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        await self._form(request, session)
        self.join.open(self.monotonic())
        _LOGGER.info("permit join open for %d s", self.cfg.permit_join_s)
        self.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _permit_stop(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        await self._form(request, session)
        self.join.close()
        self.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _pair(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        form = await self._form(request, session)
        key, kind = form.get("key"), form.get("kind")
        name, room = _clean(_text(form, "name")), _clean(_text(form, "room"))
        replaces = _text(form, "replaces")
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
        lang = self.lang_of(request)
        shown = name or key
        session.flash = (
            t(lang, "ok_replaced", name=old.name or old.key)
            if old is not None
            else t(lang, "ok_paired", name=shown)
        )
        self.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _rename(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        form = await self._form(request, session)
        key = _text(form, "key")
        name, room = _clean(_text(form, "name")), _clean(_text(form, "room"))
        if self.hub.devices.get(key) is None:
            raise BadInput("no_device")
        await self.hub.devices.rename(key, name, room)
        session.flash = t(self.lang_of(request), "ok_saved")
        self.notify()
        raise web.HTTPSeeOther("/installer/devices")

    async def _remove(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        form = await self._form(request, session)
        key = _text(form, "key")
        if self.hub.devices.get(key) is None:
            raise BadInput("no_device")
        await self.hub.devices.remove(key)
        session.flash = t(self.lang_of(request), "ok_removed")
        self.notify()
        raise web.HTTPSeeOther("/installer/devices")

    # -- walk test ------------------------------------------------------------------

    def _walk_alarm_state(self) -> None:
        walk = self.walk
        if walk is None or walk.alarm_id is None:
            return
        alarm = self.hub.alarms.book.alarms.get(walk.alarm_id)
        if alarm is not None:
            walk.alarm_state = alarm.state.value

    def _walk_fragments(self, lang: str, csrf: str) -> dict[str, str]:
        self._walk_alarm_state()
        remaining = self.walk.remaining(self.monotonic()) if self.walk is not None else 0.0
        return {"walk": pages.walk_fragment(lang, self.walk, csrf, self.last_report, remaining)}

    async def _walk_page(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        lang = self.lang_of(request)
        body = pages.walk_body(lang, self._walk_fragments(lang, session.csrf)["walk"])
        return self._page(request, session, "tab_walk", body, tab="walk", live="/live/walk")

    async def _walk_start(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        await self._form(request, session)
        if self.walk is not None:  # a second phone, or a resubmitted form: keep the ticks
            raise web.HTTPSeeOther("/installer/walk")
        walk = WalkTest(
            started=self._wall(),
            id=new_event_id(),
            deadline=self.monotonic() + self.cfg.walk_test_s,
        )
        for d in self.hub.devices.paired():
            walk.items[d.key] = CheckItem(d.key, d.name, d.room, d.kind)
        for key, name, kind in HUB_BUTTONS:
            walk.items[key] = CheckItem(key, name, "", kind)
        self.walk = walk
        self.radar_walk = RadarWalk()
        self._walk_timer = asyncio.create_task(self._end_walk_in_time(walk), name="walk-timeout")
        _LOGGER.info(
            "walk test %s started with %d devices; it ends by itself in %d s",
            walk.id,
            len(walk.items),
            self.cfg.walk_test_s,
        )
        self.notify()
        raise web.HTTPSeeOther("/installer/walk")

    async def _end_walk_in_time(self, walk: WalkTest) -> None:
        """End a forgotten walk test at its deadline: its report is stored and sent."""
        # Ending the walk test cancels this task; the loop only guards a clock that lags.
        while True:
            left = walk.remaining(self.monotonic())
            if left <= 0:
                break
            await asyncio.sleep(left + 0.01)
        if self.walk is walk:
            _LOGGER.warning(
                "walk test %s ended by itself after %d s; alarms are no longer flagged as tests",
                walk.id,
                self.cfg.walk_test_s,
            )
            self._walk_timer = None  # this task: not cancelled by ending the walk
            await self._end_walk("timeout")

    async def _end_walk(self, ended: str) -> tuple[Any, dict[str, Any]]:
        """Store and send the walk test's report; the walk test is over."""
        walk = self.walk
        assert walk is not None
        self.walk = None  # from here on, alarms are real again
        if self._walk_timer is not None:
            self._walk_timer.cancel()
            self._walk_timer = None
        self.last_report = None
        alarm = self.hub.alarms.book.alarms.get(walk.alarm_id) if walk.alarm_id else None
        if alarm is not None:
            walk.alarm_state = alarm.state.value
        report = walk.report(self._wall(), ended)
        self.last_report = report
        event = await self.hub.events.commit(Draft.create("walk_test", self.hub.clock, data=report))
        self.notify()
        return event, report

    async def _walk_alarm(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        await self._form(request, session)
        if self.walk is None:
            raise BadInput("walk_not_started", 409)
        walk = self.walk
        raised = await self.hub.alarms.test_alarm()  # data.test = true, the real path to the centre
        # The walk may have timed out (or been finished) while the alarm was stored: the
        # alarm went out all the same; it belongs to the walk that asked for it.
        walk.alarm_id = raised["id"]
        self.notify()
        raise web.HTTPSeeOther("/installer/walk")

    async def _walk_finish(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, Role.INSTALLER)
        await self._form(request, session)
        if self.walk is None:
            raise BadInput("walk_not_started", 409)
        event, report = await self._end_walk("finished")
        session.flash = t(
            self.lang_of(request),
            "walk_saved",
            seq=event.seq,
            done=report["passed"],
            total=report["total"],
        )
        self.notify()
        raise web.HTTPSeeOther("/installer/walk")

    # -- survey ---------------------------------------------------------------------

    async def survey(self) -> dict[str, Any]:
        """Measure now: Wi-Fi, broker round trip, cellular, BLE per paired device."""
        link = await asyncio.to_thread(read_link, Path(self.cfg.wireless_path))
        try:
            rtt = await asyncio.wait_for(self.hub.uplink.round_trip(), _ROUND_TRIP_TIMEOUT_S)
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
        session = self._need(request, Role.INSTALLER)
        lang = self.lang_of(request)
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
        return self._page(request, session, "tab_survey", body, tab="survey")

    # -- family ---------------------------------------------------------------------

    async def _family_fragments(self, lang: str, _csrf: str) -> dict[str, str]:
        # From memory only (no database query): every family phone re-renders this.
        now = self.monotonic()
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
            devices=self._device_views(),
        )
        return {"family": fragment}

    async def _family_page(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request, None)
        lang = self.lang_of(request)
        parts = await self._family_fragments(lang, session.csrf)
        body = pages.family_body(parts["family"])
        return self._page(request, session, "family_title", body, tab="family", live="/live/family")

    # -- live updates (Server-Sent Events) ------------------------------------------

    async def _live(self, request: web.Request) -> web.StreamResponse:
        page = request.match_info["page"]
        session = self._need(request, None if page == "family" else Role.INSTALLER)
        lang = self.lang_of(request)

        async def render() -> dict[str, str]:
            if page == "devices":
                return self._devices_fragments(lang, session.csrf)
            if page == "walk":
                return self._walk_fragments(lang, session.csrf)
            if page == "family":
                return await self._family_fragments(lang, session.csrf)
            raise web.HTTPNotFound()

        await render()  # an unknown page is a 404 before the stream starts
        here, total = self._live_open.get(session.token, 0), sum(self._live_open.values())
        if here >= MAX_LIVE_PER_SESSION or total >= MAX_LIVE:
            _LOGGER.warning(
                "live page refused: %d open for this %s session, %d in all (at most %d, %d)",
                here,
                session.role.value,
                total,
                MAX_LIVE_PER_SESSION,
                MAX_LIVE,
            )
            return self._error(request, 429, "too_many_live")
        self._live_open[session.token] = here + 1
        if self.listener is not None:  # a stream: capped in number, not in time
            self.listener.long_lived(request.transport)
        try:
            return await self._stream(request, session, render)
        finally:
            left = self._live_open.pop(session.token) - 1
            if left:
                self._live_open[session.token] = left

    async def _stream(
        self,
        request: web.Request,
        session: Session,
        render: Callable[[], Awaitable[dict[str, str]]],
    ) -> web.StreamResponse:
        """Send the page's changed fragments until the phone leaves or the session ends."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        # The first message is the whole state: anything that changed between the page's
        # rendering and this connection is shown at once.
        sent: dict[str, str] = {}
        waiter = asyncio.Event()
        waiter.set()
        self._waiters.add(waiter)
        last_write = time.monotonic()
        try:
            while self.access.session(session.token, self.monotonic(), touch=False):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), _LIVE_TICK_S)
                await asyncio.sleep(_LIVE_MIN_S)
                waiter.clear()
                if request.transport is None or request.transport.is_closing():
                    break  # the phone went to another page
                parts = await render()
                fresh = {k: v for k, v in parts.items() if sent.get(k) != v}
                if fresh:
                    sent.update(fresh)
                    data = json.dumps(fresh, ensure_ascii=False)
                    chunk = f"event: fragments\ndata: {data}\n\n".encode()
                elif time.monotonic() - last_write > _KEEPALIVE_S:
                    chunk = b": keepalive\n\n"
                else:
                    continue
                # A phone that stops reading must not hold the stream (and its task)
                # for ever: a write that cannot be sent in REQUEST_TIMEOUT_S ends it.
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        await response.write(chunk)
                except TimeoutError:
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                last_write = time.monotonic()
            await response.write(b"event: reload\ndata: {}\n\n")  # logged out: show login
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._waiters.discard(waiter)
        return response


def spoken_pin(pin: str, language: str) -> str:
    """The PIN as a sentence, digit by digit, said twice."""
    # Mandarin reads 1 as 幺 in codes and phone numbers, so it is never taken for 7 (七).
    digits = {
        "cmn": "零幺二三四五六七八九",
        "yue": "零一二三四五六七八九",
    }.get(language)
    if digits is None:
        said = ", ".join(pin)
        return f"Installer PIN: {said}. Again: {said}."
    said = "，".join(digits[int(d)] for d in pin)
    intro = "安装密码" if language == "cmn" else "安裝密碼"
    again = "再说一次" if language == "cmn" else "再講一次"
    return f"{intro}：{said}。{again}：{said}。"


def _token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def _same(a: str, b: str) -> bool:
    from hub.web.access import same

    return same(a, b)


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):  # a file upload where text belongs
        raise BadInput("bad_text")
    return value


def _back(request: web.Request) -> str:
    path = request.path
    if path.startswith("/installer/walk"):
        return "/installer/walk"
    if path.startswith("/installer"):
        return "/installer/devices"
    return "/login" if path == "/login" else "/"


__all__ = ["BadInput", "WebServer", "interface_address", "spoken_pin"]

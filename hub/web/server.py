"""The installer and family pages on aiohttp: listening, the app and its routes,
sessions and CSRF, live updates (SSE); the page families are hub/web/login.py,
pairing.py, walk.py and survey.py, each given the request plumbing (hub/web/kit.py) and
the narrow view of the hub it uses (HubParts), never the Hub itself.

aiohttp costs ~12 MiB resident (its package imports its HTTP client too), a quarter of
the idle hub's budget, and the pages are opened a few times in a hub's life. So the hub
listens on a plain socket and imports aiohttp (in a thread) when the first phone
connects; aiohttp then serves that socket, the waiting connection included. PINs, the
both-buttons gesture, permit join and the walk test need no aiohttp.

Every change goes through the rooms the CLI's control socket uses too (device
administration: pair, remove, rename; the alarm service: test alarm) and every event
through the committer. Bad input gets a page that says what is wrong and that nothing
changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import HubError, StoreError
from hub.reading import Reading
from hub.sensors.gpio import OK_BUTTON, SOS_BUTTON
from hub.store.atomic import read_json, write_json_atomic
from hub.store.registry import Device
from hub.timeouts import wait_within
from hub.web.access import Access, BothHeld, Role, Session, allowed_host, same
from hub.web.address import interface_address, listen
from hub.web.join import PermitJoin, WalkTest
from hub.web.kit import BadInput, HubParts, back_of, import_pages
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
from hub.web.login import SESSION_COOKIE, LoginPages, lang_of
from hub.web.pairing import PairingPages
from hub.web.survey import SurveyPages
from hub.web.text import t
from hub.web.walk import WalkPages

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import MultiDictProxy

    from hub.web import pages
else:
    from hub.web.kit import pages, web

_LOGGER = logging.getLogger(__name__)

# Forms are a few short fields: anything bigger is refused before it is parsed.
MAX_BODY = 16 * 1024
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
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Without an address on web.interface (Wi-Fi joining at boot), binding is retried this often;
# as often, the interface's address is compared with the one served (a DHCP renewal may
# give a new lease) and the pages move to a new one.
_BIND_RETRY_S = 30.0


class WebServer:
    """The pages of one hub: state (PINs, sessions, permit join), the page families and
    the app; it is the PageKit each family is given."""

    def __init__(
        self, hub: HubParts, *, address_of: Callable[[str], str | None] = interface_address
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
        self.rssi: dict[str, int] = {}  # last signal of paired devices and candidates
        self.login = LoginPages(self, self.access)
        self.pairing = PairingPages(self, hub, join=self.join, rssi=self.rssi)
        self.walks = WalkPages(self, hub)
        self.survey = SurveyPages(self, hub, rssi=self.rssi, device_views=self.pairing.device_views)
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
    def walk(self) -> WalkTest | None:
        """The walk test running, if any."""
        return self.walks.walk

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
            sock = listen(address, self.cfg.port)
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
            await asyncio.to_thread(import_pages)
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
                await self.walks.end_walk("hub_stopped")
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
        self.hub.alarms.marks.append(self.walks.mark_alarm)
        self._tasks.append(asyncio.create_task(self._watch_buttons(), name="web-buttons"))

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self._unprepare()

    async def _unprepare(self) -> None:
        self._prepared = False
        tasks, self._tasks = self._tasks, []
        if self.walks.timer is not None:
            tasks.append(self.walks.timer)
            self.walks.timer = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(ValueError):
            self.hub.readings.listeners.remove(self._on_reading)
        with contextlib.suppress(ValueError):
            self.hub.alarms.listeners.remove(self._on_alarm)
        with contextlib.suppress(ValueError):
            self.hub.alarms.marks.remove(self.walks.mark_alarm)

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
                self.walk.heard(reading.device, self.wall())
                self.notify()
            return
        if device is None:
            now = self.monotonic()
            if not self.join.heard(
                reading.device, reading.protocol, reading.kind, reading.rssi, now
            ):
                return  # a neighbour's device, not offered: nothing to show, nothing kept
        elif self.walk is not None and self.walks.radar_walk.ticks(device.kind, reading):
            self.walk.heard(device.key, self.wall())
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

    def wall(self) -> str:
        """The wall time now, as the walk test's report carries it."""
        return self.hub.clock.now().isoformat()

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
        for family in (self.login, self.pairing, self.walks, self.survey):
            family.add_routes(app)
        app.router.add_get("/live/{page}", self._live)

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

    @staticmethod
    def lang_of(request: web.Request) -> str:
        """The page language: the cookie, else Mandarin."""
        return lang_of(request)

    def _error(self, request: web.Request, status: int, key: str, detail: str = "") -> web.Response:
        lang = self.lang_of(request)
        message = t(lang, key) if key else detail
        back = request.path if request.method == "GET" else back_of(request)
        html = pages.layout(
            lang, t(lang, "error"), pages.error_body(lang, message, back), path=request.path
        )
        return web.Response(text=html, status=status, content_type="text/html")

    def session(self, request: web.Request) -> Session | None:
        return self.access.session(request.cookies.get(SESSION_COOKIE), self.monotonic())

    def need(self, request: web.Request, role: Role | None) -> Session:
        """The caller's session (installer when `role` is INSTALLER); else redirect/403."""
        session = self.session(request)
        if session is None:
            if request.method == "GET":
                raise web.HTTPSeeOther("/login")
            raise BadInput("not_logged_in", 403)
        if role is Role.INSTALLER and session.role is not Role.INSTALLER:
            raise BadInput("installer_only", 403)
        return session

    async def form(self, request: web.Request, session: Session) -> MultiDictProxy[Any]:
        """The posted form, once its CSRF token matches the session's."""
        form = await request.post()
        token = form.get("csrf")
        if not isinstance(token, str) or not same(token, session.csrf):
            _LOGGER.warning("form without a valid CSRF token refused: %s", request.path)
            raise BadInput("csrf", 403)
        return form

    def page(
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

    # -- live updates (Server-Sent Events) ------------------------------------------

    async def _live(self, request: web.Request) -> web.StreamResponse:
        page = request.match_info["page"]
        session = self.need(request, None if page == "family" else Role.INSTALLER)
        lang = self.lang_of(request)

        async def render() -> dict[str, str]:
            if page == "devices":
                return self.pairing.fragments(lang, session.csrf)
            if page == "walk":
                return self.walks.fragments(lang, session.csrf)
            if page == "family":
                return await self.survey.family_fragments(lang, session.csrf)
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
                    await wait_within(waiter.wait(), _LIVE_TICK_S)
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

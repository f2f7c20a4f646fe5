"""The pages' door: the PIN form, logging in and out, the language cookie, the start page
and the static files. What a PIN unlocks (installer or family) is hub/web/access.py's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hub.web.access import Access, Role, same
from hub.web.kit import PageKit, new_token
from hub.web.text import LANGS, t

if TYPE_CHECKING:
    from aiohttp import web

    from hub.web import pages
else:
    from hub.web.kit import pages, web

_LOGGER = logging.getLogger(__name__)

SESSION_COOKIE = "pingan_session"
PRE_COOKIE = "pingan_pre"  # the login form's CSRF token (double submit: cookie + field)
LANG_COOKIE = "lang"


def lang_of(request: web.Request) -> str:
    """The page language: the cookie, else Mandarin."""
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


class LoginPages:
    """/, /login, /logout, /lang/<lang> and /static/*."""

    def __init__(self, kit: PageKit, access: Access) -> None:
        self.kit = kit
        self.access = access

    def add_routes(self, app: web.Application) -> None:
        """Route this family's paths to it."""
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/login", self._login_page)
        r.add_post("/login", self._login)
        r.add_post("/logout", self._logout)
        r.add_get("/lang/{lang}", self._lang)
        r.add_get("/static/app.css", self._css)
        r.add_get("/static/app.js", self._js)
        r.add_get("/installer", self.index)

    async def index(self, request: web.Request) -> web.StreamResponse:
        """The start page of whoever is logged in (the login form for anyone else)."""
        session = self.kit.session(request)
        if session is None:
            raise web.HTTPSeeOther("/login")
        raise web.HTTPSeeOther(
            "/installer/devices" if session.role is Role.INSTALLER else "/family"
        )

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

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return self._login_form(request)

    def _login_form(self, request: web.Request, status: int = 200, error: str = "") -> web.Response:
        """The PIN form, with what went wrong on the last try (the form stays to try again)."""
        lang = lang_of(request)
        token = request.cookies.get(PRE_COOKIE) or new_token()
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
        lang = lang_of(request)
        if not isinstance(token, str) or not cookie or not same(token, cookie):
            return self._login_form(request, 403, t(lang, "csrf"))
        now = self.kit.monotonic()
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
        session = self.kit.need(request, None)
        await self.kit.form(request, session)
        self.access.logout(session.token)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def _css(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text=pages.STYLE, content_type="text/css")

    async def _js(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text=pages.SCRIPT, content_type="application/javascript")

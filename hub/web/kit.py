"""What every page family of the installer and family pages shares: the narrow view of
the hub they are given (HubParts), the request plumbing the server lends them (PageKit:
sessions, CSRF-checked forms, the page layout, live-update notices), bad input, and the
lazily imported aiohttp and HTML modules.

The page families (login, pairing, walk test, survey and family page) import this
module, never the server nor the hub's wiring: the server builds them and routes to them.
"""

from __future__ import annotations

import importlib
import unicodedata
from typing import TYPE_CHECKING, Any, Protocol

from hub.clock import Clock
from hub.config import Config, WebSection
from hub.errors import HubError
from hub.sensors.radar_source import RadarSource
from hub.services.alarms import AlarmService
from hub.services.archive import HealthArchive
from hub.services.committer import EventCommitter
from hub.services.devices import DeviceAdmin
from hub.services.family import FamilyEscalation
from hub.services.readings import ReadingPipeline
from hub.services.speech import SpeechService
from hub.services.weekly import WeeklySummary
from hub.store.outbox import AsyncOutbox
from hub.sync.uplink import Uplink
from hub.web.access import Role, Session

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import MultiDictProxy
else:

    class _Lazy:
        """A module imported on first use (by the first phone to connect)."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    web = _Lazy("aiohttp.web")
    pages = _Lazy("hub.web.pages")  # the HTML (and html.entities, ~0.7 MiB)

# Names and rooms as the CLI caps them.
MAX_TEXT = 40


class HubParts(Protocol):
    """What the pages use of the running hub: the rooms they read and act through (the
    same device administration and alarm service as the CLI's control socket)."""

    @property
    def cfg(self) -> Config: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def devices(self) -> DeviceAdmin: ...
    @property
    def alarms(self) -> AlarmService: ...
    @property
    def archive(self) -> HealthArchive: ...
    @property
    def events(self) -> EventCommitter: ...
    @property
    def readings(self) -> ReadingPipeline: ...
    @property
    def uplink(self) -> Uplink: ...
    @property
    def family(self) -> FamilyEscalation: ...
    @property
    def speech(self) -> SpeechService: ...
    @property
    def radars(self) -> dict[str, RadarSource]: ...
    @property
    def weekly(self) -> WeeklySummary: ...
    @property
    def outbox(self) -> AsyncOutbox: ...


class PageKit(Protocol):
    """The server's request plumbing, lent to each page family."""

    @property
    def cfg(self) -> WebSection: ...
    def monotonic(self) -> float: ...
    def wall(self) -> str: ...
    def notify(self) -> None: ...
    def lang_of(self, request: web.Request) -> str: ...
    def session(self, request: web.Request) -> Session | None: ...
    def need(self, request: web.Request, role: Role | None) -> Session: ...
    async def form(self, request: web.Request, session: Session) -> MultiDictProxy[Any]: ...
    def page(
        self,
        request: web.Request,
        session: Session,
        title_key: str,
        body: str,
        *,
        tab: str,
        live: str = "",
    ) -> web.Response: ...


class BadInput(HubError):
    """A form that cannot be acted on; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def import_pages() -> None:
    """Import aiohttp and the HTML now (in a thread, at the first visit)."""
    importlib.import_module("aiohttp.web")
    importlib.import_module("hub.web.pages")


def clean(value: str | None) -> str:
    """Strip; refuse control characters and overlong text."""
    text = (value or "").strip()
    if len(text) > MAX_TEXT or any(unicodedata.category(ch).startswith("C") for ch in text):
        raise BadInput("bad_text")
    return text


def new_token() -> str:
    """A fresh random token (sessions, the login form's CSRF cookie)."""
    import secrets

    return secrets.token_urlsafe(24)


def text_field(form: MultiDictProxy[Any], name: str) -> str:
    """A text field of a posted form ("" when absent); a file where text belongs is bad."""
    value = form.get(name, "")
    if not isinstance(value, str):  # a file upload where text belongs
        raise BadInput("bad_text")
    return value


def back_of(request: web.Request) -> str:
    """Where an error page's "back" link leads for a posted form."""
    path = request.path
    if path.startswith("/installer/walk"):
        return "/installer/walk"
    if path.startswith("/installer"):
        return "/installer/devices"
    return "/login" if path == "/login" else "/"

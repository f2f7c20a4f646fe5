"""Installer and family pages on the home LAN (aiohttp; imported only when [web] is on)."""

from __future__ import annotations

from hub.web.server import WebServer

__all__ = ["WebServer"]

"""Installer and family pages on the home LAN (aiohttp; imported only when [web] is on).

`hub.web.server.WebServer` is the entry point; the other modules are pure.
"""

"""systemd's notify protocol (Type=notify): READY=1 and watchdog pings.

The protocol is one datagram on the socket named by $NOTIFY_SOCKET; a library would
add a dependency for four lines. Pings are sent from the event loop itself, so a
blocked loop stops them and systemd restarts the hub.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

_LOGGER = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send one notification; False when not running under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        _LOGGER.warning("sd_notify failed: %s", exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of WatchdogSec (systemd's advice), or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6 / 2


async def watchdog_loop(interval: float) -> None:
    """Ping the watchdog from the event loop for as long as the loop runs freely."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)

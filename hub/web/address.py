"""Where the pages listen: a network interface's IPv4 address, and the listening socket
the hub holds before aiohttp is loaded (hub/web/server.py)."""

from __future__ import annotations

import fcntl
import socket
import struct

# The SIOCGIFADDR ioctl: an interface's IPv4 address (Linux).
_SIOCGIFADDR = 0x8915


def listen(address: str, port: int) -> socket.socket:
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

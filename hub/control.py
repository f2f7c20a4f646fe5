"""The local control API for the CLI: JSON lines over a Unix socket, owner-only.

One request line `{"op": ..., ...}` gets one response line `{"ok": true, ...}` or
`{"ok": false, "error": ...}`. The socket file is mode 0600 in the data directory,
so only the hub's own user (and root) can talk to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hub.errors import ControlError, HubError

_LOGGER = logging.getLogger(__name__)
_MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    """Serves the operations in `handlers` on a Unix socket."""

    def __init__(self, path: Path, handlers: dict[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (replacing a stale socket file left by a crash)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o177)  # the socket is created 0600: owner only
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=_MAX_REQUEST
            )
        finally:
            os.umask(old)

    async def close(self) -> None:
        """Stop listening."""
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            response = await self._dispatch(line)
        except (ValueError, asyncio.LimitOverrunError):
            response = {"ok": False, "error": "request too large"}
        try:
            writer.write(json.dumps(response, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise TypeError("request must be an object")
        except (ValueError, TypeError) as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        handler = self.handlers.get(str(request.get("op")))
        if handler is None:
            return {
                "ok": False,
                "error": f"unknown op {request.get('op')!r}; "
                f"known: {', '.join(sorted(self.handlers))}",
            }
        try:
            return {"ok": True, **await handler(request)}
        except HubError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in one handler must not take the hub down
            _LOGGER.exception("control op %s failed", request.get("op"))
            return {"ok": False, "error": f"internal error: {exc}"}


def call(path: Path, op: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    """Send one request to a running hub (blocking; for the CLI)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except FileNotFoundError as exc:
        raise ControlError(
            f"no hub is running with control socket {path} "
            "(start it with `pingan-hub run --config FILE`)"
        ) from exc
    except PermissionError as exc:
        raise ControlError(f"no permission for {path}: run as the hub's user or root") from exc
    except OSError as exc:
        raise ControlError(f"cannot talk to the hub at {path}: {exc}") from exc
    try:
        response: dict[str, Any] = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise ControlError(f"the hub answered something that is not JSON: {exc}") from exc
    if not response.get("ok"):
        raise ControlError(str(response.get("error", "unknown error")))
    return response

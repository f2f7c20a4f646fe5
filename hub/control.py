"""The local control API for the CLI: JSON lines over a Unix socket, owner-only.

One request line `{"op": ..., ...}` gets one response line `{"ok": true, ...}` or
`{"ok": false, "error": ...}`. The socket file is mode 0600 in the data directory,
so only the hub's own user (and root) can talk to it.

Even so it is bounded like everything else that holds a file descriptor: a request
line of at most 64 KiB, nested at most MAX_DEPTH deep (checked before it is parsed), sent
within READ_TIMEOUT_S of connecting, and at most MAX_CLIENTS connections at once. Each
limit is answered with an error that says which; nothing a client sends gets no answer.
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
# A request is one line; the CLI's are a few hundred bytes (a pairing with a long name).
MAX_REQUEST = 64 * 1024
# Requests are flat objects ({"op": ..., "data": {...}} at most); deeper nesting is
# refused before json.loads sees it (a 30,000-deep list once ended in a RecursionError
# and an empty reply).
MAX_DEPTH = 8
# The CLI writes its line as soon as it connects; a client that says nothing for this
# long is answered with an error and dropped, so silent connections cannot pile up.
READ_TIMEOUT_S = 5.0
# The CLI uses one connection at a time, scripts and tests a few: more are refused.
MAX_CLIENTS = 8

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def json_depth(line: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep the JSON text's arrays and objects nest (strings skipped), counting no
    further than limit + 1 (pure, linear, never recursive)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


class ControlServer:
    """Serves the operations in `handlers` on a Unix socket."""

    def __init__(self, path: Path, handlers: dict[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self._server: asyncio.Server | None = None
        self._clients = 0

    async def start(self) -> None:
        """Listen (replacing a stale socket file left by a crash)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o177)  # the socket is created 0600: owner only
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST
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
        self._clients += 1
        try:
            response = await self._answer(reader)
            writer.write(json.dumps(response, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        except OSError:
            pass
        finally:
            self._clients -= 1
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        if self._clients > MAX_CLIENTS:
            return {"ok": False, "error": f"busy: at most {MAX_CLIENTS} clients at once"}
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                line = await reader.readline()
        except TimeoutError:
            return {"ok": False, "error": f"no request within {READ_TIMEOUT_S:g} s"}
        except (ValueError, asyncio.LimitOverrunError):
            return {"ok": False, "error": f"request too large: at most {MAX_REQUEST} bytes"}
        if json_depth(line) > MAX_DEPTH:
            return {"ok": False, "error": f"request nested deeper than {MAX_DEPTH}"}
        return await self._dispatch(line)

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise TypeError("request must be an object")
        except (ValueError, TypeError, RecursionError) as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        handler = self.handlers.get(str(request.get("op")))
        if handler is None:
            return {
                "ok": False,
                "error": f"unknown op {str(request.get('op'))[:40]!r}; "
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

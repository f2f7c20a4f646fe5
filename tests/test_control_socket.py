"""The control socket answers everything it is sent, within limits, and keeps the
simulation's debug operations out of a real hub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from hub import control
from hub.app import Hub
from hub.config import parse_config
from hub.control import MAX_CLIENTS, MAX_DEPTH, MAX_REQUEST, call, json_depth
from hub.errors import ControlError
from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory, hub_raw


def raw_request(path: Path, data: bytes, *, timeout: float = 10.0) -> dict[str, Any]:
    """Send bytes as they are and read the one reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        with contextlib.suppress(OSError):  # the hub may answer before all of it is sent
            sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    result: dict[str, Any] = json.loads(reply)
    return result


def test_nesting_is_measured_without_recursion_and_strings_do_not_count() -> None:
    assert json_depth(b'{"op": "status"}') == 1
    assert json_depth(b'{"op": "inject", "data": {"a": [1, {"b": 2}]}}') == 4
    assert json_depth(b'{"text": "[[[[[[[[[[[[\\"{{{{{{"}') == 1
    assert json_depth(b"[" * 30_000) == MAX_DEPTH + 1  # stops counting past the limit


async def test_a_deep_a_huge_and_a_broken_request_each_get_a_clear_error(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    sock = hub.cfg.control_socket
    deep = await asyncio.to_thread(raw_request, sock, b"[" * 30_000 + b"\n")
    assert deep == {"ok": False, "error": f"request nested deeper than {MAX_DEPTH}"}
    huge = b'{"op": "status", "pad": "' + b"x" * (2 * MAX_REQUEST) + b'"}\n'
    big = await asyncio.to_thread(raw_request, sock, huge)
    assert big == {"ok": False, "error": f"request too large: at most {MAX_REQUEST} bytes"}
    broken = await asyncio.to_thread(raw_request, sock, b'{"op": \n')
    assert broken["ok"] is False and broken["error"].startswith("bad request")
    odd = await asyncio.to_thread(raw_request, sock, b'{"op": "' + b"z" * 5000 + b'"}\n')
    assert odd["ok"] is False and len(odd["error"]) < 500
    status = await asyncio.to_thread(call, sock, "status")
    assert status["hub"] == hub.cfg.hub.id  # and the hub carries on


async def test_silent_clients_are_dropped_and_cannot_crowd_out_the_cli(
    broker: Mosquitto, make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "READ_TIMEOUT_S", 0.5)
    hub = await make_hub(broker.port)
    path = str(hub.cfg.control_socket)
    silent = []
    for _ in range(MAX_CLIENTS):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        silent.append(s)
    try:
        await asyncio.sleep(0.1)
        busy = await asyncio.to_thread(raw_request, hub.cfg.control_socket, b"")
        assert busy == {"ok": False, "error": f"busy: at most {MAX_CLIENTS} clients at once"}
        replies = []
        for s in silent:
            s.settimeout(10)
            replies.append(json.loads(await asyncio.to_thread(s.recv, 4096)))
        assert replies == [{"ok": False, "error": "no request within 0.5 s"}] * MAX_CLIENTS
    finally:
        for s in silent:
            s.close()
    status = await asyncio.to_thread(call, hub.cfg.control_socket, "status")
    assert status["hub"] == hub.cfg.hub.id


@pytest.mark.parametrize("op", ["block-loop", "inject", "press"])
async def test_a_real_hub_refuses_the_simulations_debug_operations(
    broker: Mosquitto, tmp_path: Path, op: str
) -> None:
    raw = hub_raw(tmp_path / "data", broker.port, gpio={"pin_factory": "lgpio"})
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    try:
        args: dict[str, Any] = {"seconds": 30.0, "kind": "sos", "button": "sos"}
        with pytest.raises(
            ControlError, match=r'works only in simulation \(gpio.pin_factory = "mock"\)'
        ):
            await asyncio.to_thread(call, hub.cfg.control_socket, op, **args)
        assert [a for a in hub.alarms.book.alarms.values()] == []  # nothing was raised or pressed
        status = await asyncio.to_thread(call, hub.cfg.control_socket, "status", timeout=2)
        assert status["hub"] == hub.cfg.hub.id  # the loop was never frozen
    finally:
        await hub.stop()

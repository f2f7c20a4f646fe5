"""systemd integration: READY=1 once running, watchdog pings that stop when the loop blocks,
and a unit file that passes `systemd-analyze security` at "OK" or better."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.control import call
from tests.test_power_cut import write_config

ROOT = Path(__file__).resolve().parent.parent


def test_watchdog_pings_stop_while_the_event_loop_is_blocked(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(0.2)
    received: list[tuple[float, str]] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                received.append((time.monotonic(), sock.recv(4096).decode()))
            except TimeoutError:
                continue

    listener = threading.Thread(target=listen)
    listener.start()
    config = write_config(tmp_path / "hub.toml", tmp_path / "data", 1)  # no broker needed
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "1000000"}
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not any(m == "READY=1" for _, m in received):
            assert time.monotonic() < deadline, "no READY=1"
            time.sleep(0.05)
        time.sleep(1.5)
        blocked_at = time.monotonic()
        call(tmp_path / "data" / "control.sock", "block-loop", seconds=3.0, timeout=10)
        unblocked_at = time.monotonic()
        time.sleep(1.5)
    finally:
        hub.terminate()
        hub.wait(15)
        stop.set()
        listener.join()
        sock.close()
    pings = [t for t, m in received if m == "WATCHDOG=1"]
    before = [t for t in pings if t < blocked_at]
    during = [t for t in pings if blocked_at + 0.2 < t < unblocked_at - 0.2]
    after = [t for t in pings if t > unblocked_at]
    assert len(before) >= 2  # every WatchdogSec/2 while healthy
    assert during == []  # a frozen loop sends nothing: systemd would restart the hub
    assert len(after) >= 2  # and pings resume once the loop runs again
    assert any(m == "STOPPING=1" for _, m in received)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_the_unit_scores_ok_or_better_in_systemd_analyze_security() -> None:
    result = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=yes",
            str(ROOT / "systemd" / "pingan-hub.service"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for pingan-hub.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0

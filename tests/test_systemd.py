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


def unit_values(key: str) -> list[str]:
    """Every value of `key=` in the unit file (one line may hold several, space-separated)."""
    text = (ROOT / "systemd" / "pingan-hub.service").read_text()
    return [
        v
        for line in text.splitlines()
        if line.startswith(f"{key}=")
        for v in line.split("=", 1)[1].split()
    ]


def test_the_hub_runs_as_its_own_user_with_only_its_device_groups() -> None:
    assert unit_values("User") == ["pingan-hub"]
    assert unit_values("Group") == ["pingan-hub"]
    assert sorted(unit_values("SupplementaryGroups")) == ["audio", "bluetooth", "dialout", "gpio"]
    assert unit_values("CapabilityBoundingSet") == [] and unit_values("NoNewPrivileges") == ["yes"]


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers not here")
def test_sysusers_and_tmpfiles_make_the_user_its_groups_and_a_private_data_dir(
    tmp_path: Path,
) -> None:
    # A fresh Debian root: only base-passwd's users and groups.
    etc = tmp_path / "etc"
    etc.mkdir()
    base = Path("/usr/share/base-passwd")
    if not (base / "group.master").exists():
        pytest.skip("Debian base-passwd not here")
    (etc / "group").write_text((base / "group.master").read_text())
    (etc / "passwd").write_text((base / "passwd.master").read_text())
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(ROOT / "systemd" / "pingan-hub.sysusers")],
        check=True,
        capture_output=True,
    )
    passwd = {
        line.split(":")[0]: line.split(":") for line in (etc / "passwd").read_text().splitlines()
    }
    groups = {line.split(":")[0] for line in (etc / "group").read_text().splitlines()}
    user = passwd["pingan-hub"]
    assert int(user[2]) < 1000  # a system user
    assert user[5:] == ["/var/lib/pingan-hub", "/usr/sbin/nologin"]
    assert set(unit_values("SupplementaryGroups")) | {"pingan-hub"} <= groups
    subprocess.run(
        [
            "systemd-tmpfiles",
            "--create",
            f"--root={tmp_path}",
            str(ROOT / "systemd" / "pingan-hub.tmpfiles"),
        ],
        check=True,
        capture_output=True,
    )
    data = (tmp_path / "var/lib/pingan-hub").stat()
    assert data.st_mode & 0o777 == 0o700
    assert data.st_uid == int(user[2])
    config = (tmp_path / "etc/pingan-hub").stat()
    assert config.st_mode & 0o777 == 0o750 and config.st_uid == 0

"""kill -9 right after an SOS is committed: after restart it is delivered, same id and seq."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.control import call
from hub.errors import ControlError
from hub.sim.broker import Mosquitto
from tests import test_second_broker as second_broker
from tests.helpers import Collector


def write_config(path: Path, data_dir: Path, port: int) -> Path:
    """A real config file for a hub subprocess on mock pins."""
    path.write_text(f"""
[hub]
id = "T-KILL"
data_dir = "{data_dir}"
log_level = "INFO"
[mqtt]
host = "127.0.0.1"
port = {port}
reconnect_min_s = 0.05
reconnect_max_s = 0.5
keepalive_s = 5
[gpio]
pin_factory = "mock"
bounce_s = 0.0
[voice]
prompts = false
""")
    return path


def start_hub(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m hub run --config FILE` as its own process."""
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def control(sock: Path, op: str, **args: object) -> dict[str, object]:
    """Call the hub's control socket, waiting for the hub to be up."""

    async def attempt() -> dict[str, object] | None:
        try:
            return await asyncio.to_thread(call, sock, op, **args)
        except ControlError:
            return None

    for _ in range(200):
        if (reply := await attempt()) is not None:
            return reply
        await asyncio.sleep(0.05)
    raise AssertionError(f"hub control socket {sock} never answered {op}")


async def test_sos_committed_before_kill_9_is_delivered_after_restart_with_same_id_and_seq(
    tmp_path: Path, stopped_broker: Mosquitto
) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path / "hub.toml", data, stopped_broker.port)
    sock = data / "control.sock"
    log = tmp_path / "hub.log"

    hub = start_hub(config, log)
    try:
        await control(sock, "press", button="sos", hold_s=0.1)
        events = []
        for _ in range(200):
            events = (await control(sock, "events", last=5))["events"]  # type: ignore[assignment]
            if events:
                break
            await asyncio.sleep(0.02)
        [committed] = events
        assert committed["kind"] == "sos" and committed["sent_at"] is None  # type: ignore[index]
        os.kill(hub.pid, signal.SIGKILL)  # the power cut
        hub.wait()
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()

    stopped_broker.start()
    collector = Collector(stopped_broker.port)
    await collector.start()
    hub = start_hub(config, log)
    try:
        [sos] = await collector.wait_event("sos", timeout=20)
        assert sos["id"] == committed["id"]  # type: ignore[index]
        assert sos["seq"] == committed["seq"]  # type: ignore[index]
        await control(sock, "press", button="ok", hold_s=0.1)
        [checkin] = await collector.wait_event("checkin", timeout=10)
        assert checkin["seq"] == sos["seq"] + 1  # seq continues, never reused
    finally:
        hub.terminate()
        hub.wait(10)
        await collector.stop()


@pytest.mark.timeout(600)
def test_a_hundred_power_cuts_lose_no_committed_event_and_reuse_no_seq(tmp_path: Path) -> None:
    from bench.power_cut import run_harness

    result = run_harness(kills=100, workdir=tmp_path, seed=7, say=False)
    assert len(result.committed) > 150  # the cuts landed while events were flowing
    assert result.queued_delivered > 100  # telemetry groups were written between the cuts
    assert result.lost == []
    assert result.seq_changed == []
    assert result.seq_reused == []
    assert len(set(result.committed.values())) == len(result.committed)
    assert result.integrity == "ok"


# The last will on mosquitto: the same story the second broker tells (kept in one place).
test_a_killed_hub_is_shown_offline_by_its_last_will = (
    second_broker.test_a_killed_hub_goes_offline_by_its_last_will_and_stays_so_retained
)

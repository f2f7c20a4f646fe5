"""Fleet tools for a city: a paced push that resumes, a watcher, counts and laggards first.

Against a real mosquitto with a few hundred simulated hubs' topics; the same tools
against a RabbitMQ cluster losing a node are in tests/test_rabbitmq_cluster.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from hub.fleet.broker import Broker
from hub.fleet.cli import add_fleet_commands, run_fleet_command
from hub.fleet.push import PushJournal, PushProgress, _Pusher, envelope_payload, push
from hub.fleet.watch import FleetWatch
from hub.sim.broker import Mosquitto, free_port
from tests.helpers import eventually

ENVELOPE: dict[str, Any] = {
    "version": 4,
    "issued_at": "2026-12-01T00:00:00Z",
    "group": "tianhe",
    "key": "k",
    "config": {"sos": {"ack_timeout_s": 20.0}},
    "sig": "s",
}


def cli(*argv: str) -> int:
    """`pingan-hub <argv>` for the admin commands."""
    parser = argparse.ArgumentParser(prog="pingan-hub")
    add_fleet_commands(parser.add_subparsers(dest="command"))
    return run_fleet_command(parser.parse_args(list(argv)))


def hubs(n: int) -> list[str]:
    """Hub ids GZ-00001 ... of a simulated district."""
    return [f"GZ-{i:05d}" for i in range(1, n + 1)]


class DesiredCounter:
    """Counts the envelopes delivered live (not retained) to `config/desired` topics."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.live: list[str] = []
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="counter") as client:
            await client.subscribe("pingan/v1/+/config/desired", qos=1)
            self.ready.set()
            async for message in client.messages:
                if not message.retain:
                    self.live.append(message.topic.value.split("/")[2])

    async def __aenter__(self) -> DesiredCounter:
        self.task = asyncio.create_task(self.run())
        await asyncio.wait_for(self.ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_an_interrupted_push_resumes_with_the_hubs_not_yet_done(
    broker: Mosquitto, tmp_path: Path
) -> None:
    district = hubs(300)
    journal = tmp_path / "v4.json.pushed"
    admin = Broker("127.0.0.1", broker.port)
    async with DesiredCounter(broker.port) as counter:
        first = asyncio.create_task(push(admin, ENVELOPE, district, rate=400, journal=journal))
        # The admin's laptop goes to sleep part way through.
        await eventually(lambda: journal.exists() and len(journal.read_text().splitlines()) > 100)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        done_before = set(journal.read_text().splitlines()[1:])
        assert 100 <= len(done_before) < 300

        progress: list[PushProgress] = []
        await push(admin, ENVELOPE, district, rate=400, journal=journal, progress=progress.append)
        assert progress[-1].skipped == len(done_before)
        assert progress[-1].done == 300
        await eventually(lambda: len(set(counter.live)) == 300)
    # Each hub got the envelope; the resumed run sent nothing again to a hub already done.
    resumed = counter.live[len(counter.live) - (300 - len(done_before)) :]
    assert not set(resumed) & done_before
    assert set(journal.read_text().splitlines()[1:]) == set(district)


def test_a_journal_is_never_resumed_for_another_envelope(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    PushJournal(journal, envelope_payload(ENVELOPE)).close()
    other = {**ENVELOPE, "version": 5}
    with pytest.raises(Exception, match="journal of another envelope"):
        PushJournal(journal, envelope_payload(other))


async def test_a_push_to_the_whole_city_is_spread_at_its_rate(tmp_path: Path) -> None:
    """84,000 hubs at 200/s take seven minutes, not one burst (on a fake clock)."""
    now = [0.0]
    published_at: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    class FakeClient:
        async def publish(self, topic: str, payload: bytes, **_kw: Any) -> None:
            published_at.append(now[0])

    pusher = _Pusher(
        Broker(),
        b"{}",
        rate=200.0,
        window=50,
        log=None,
        state=PushProgress(total=84_000),
        progress=None,
        clock=lambda: now[0],
        sleep=fake_sleep,
    )
    topics = [f"pingan/v1/GZ-{n:05d}/config/desired" for n in range(84_000)]
    await pusher._publish_paced(FakeClient(), topics, set())  # type: ignore[arg-type]
    assert len(published_at) == 84_000
    assert published_at[199] < 1.0 <= published_at[200]  # 200 in the first second
    assert published_at[-1] == pytest.approx(83_999 / 200)


async def test_a_lost_connection_gives_up_the_publishes_awaiting_their_puback() -> None:
    """The client leaves a publish in flight waiting out its 10 s timeout when the
    connection drops; the push moves on at the first failure instead."""
    never = asyncio.Event()
    calls: list[str] = []

    class DroppedClient:
        async def publish(self, topic: str, payload: bytes, **_kw: Any) -> None:
            calls.append(topic)
            if len(calls) <= 5:
                await never.wait()  # sent before the drop: no PUBACK will come
            raise aiomqtt.MqttError("The client is not currently connected.")

    pusher = _Pusher(
        Broker(),
        b"{}",
        rate=None,
        window=50,
        log=None,
        state=PushProgress(total=20),
        progress=None,
    )
    acked: set[str] = set()
    topics = [f"pingan/v1/GZ-{n:05d}/config/desired" for n in range(20)]
    async with asyncio.timeout(2):
        with pytest.raises(aiomqtt.MqttError, match="not currently connected"):
            await pusher._publish_paced(DroppedClient(), topics, acked)  # type: ignore[arg-type]
    assert not acked  # all 20 go again on the next node


async def test_a_push_moves_on_to_the_next_node_when_one_is_down(broker: Mosquitto) -> None:
    dead = free_port()
    admin = Broker(brokers=(f"127.0.0.1:{dead}", f"127.0.0.1:{broker.port}"))
    progress: list[PushProgress] = []
    async with DesiredCounter(broker.port) as counter:
        await push(admin, ENVELOPE, hubs(50), progress=progress.append)
        await eventually(lambda: len(counter.live) == 50)
    assert progress[-1].done == 50
    assert progress[-1].reconnects == 1
    assert progress[-1].node == f"127.0.0.1:{broker.port}"


def _status(hub_id: str, ts: datetime, config_version: int) -> bytes:
    return json.dumps(
        {
            "state": "online",
            "hub": hub_id,
            "ts": ts.isoformat().replace("+00:00", "Z"),
            "version": "0.1.0",
            "config_version": config_version,
            "uptime_s": 1,
            "outbox": {"0": 0, "1": 0, "2": 0},
            "open_alarms": 0,
        }
    ).encode()


async def _district_reports(port: int, now: datetime) -> None:
    """120 hubs: 100 applied v4, 15 still on v3, 3 offline (last will), 2 silent."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="district") as client:
        for n, hub_id in enumerate(hubs(120)):
            fresh = now - timedelta(seconds=5)
            if n < 100:
                await client.publish(f"pingan/v1/{hub_id}/status", _status(hub_id, fresh, 3), qos=1)
                report = {"version": 4, "status": "applied", "error": None, "at": "x"}
                await client.publish(
                    f"pingan/v1/{hub_id}/config/reported", json.dumps(report), qos=1
                )
            elif n < 115:
                await client.publish(f"pingan/v1/{hub_id}/status", _status(hub_id, fresh, 3), qos=1)
            elif n < 118:
                old = now - timedelta(hours=3)
                await client.publish(f"pingan/v1/{hub_id}/status", _status(hub_id, old, 3), qos=1)
                offline = {"state": "offline", "hub": hub_id}
                await client.publish(f"pingan/v1/{hub_id}/status", json.dumps(offline), qos=1)
            else:
                old = now - timedelta(minutes=30)
                await client.publish(f"pingan/v1/{hub_id}/status", _status(hub_id, old, 3), qos=1)


async def test_the_watcher_keeps_the_fleet_and_status_shows_counts_then_laggards(
    broker: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "fleet.sqlite"
    watcher = FleetWatch(Broker("127.0.0.1", broker.port), state)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        now = datetime.now(UTC)
        await _district_reports(broker.port, now)
        await eventually(lambda: len(watcher.state.hubs) == 120)
        await eventually(lambda: watcher.state.hubs["GZ-00116"].state == "offline")
        await asyncio.sleep(1.5)  # one flush

        assert await asyncio.to_thread(cli, "fleet", "status", "--state", str(state)) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0].startswith("state as of ")
        assert lines[1:6] == [
            "120 hubs",
            "state    online 115   offline 3   silent 2",
            "software 0.1.0 120",
            "config   v4 100   v3 20",
            "report   v4 applied 100   none 20",
        ]
        assert "(hubs not listed: --all, --lagging, --offline-since or --hub)" in out
        assert "GZ-00001" not in out
        assert out.rstrip().endswith("120 hubs, 115 online")

        # --json alone is the counts too: 84,000 rows nobody asked for are 19 MB.
        argv = ("fleet", "status", "--state", str(state), "--json")
        assert await asyncio.to_thread(cli, *argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["counts"]["state"] == {"online": 115, "offline": 3, "silent": 2}
        assert doc["hubs"] is None

        argv = ("fleet", "status", "--state", str(state), "--lagging", "--json")
        assert await asyncio.to_thread(cli, *argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["counts"]["lagging_behind"] == 4
        assert [r["hub"] for r in doc["hubs"]] == hubs(120)[100:]
        # A hub gone offline keeps its last heartbeat: how long it has been away shows.
        assert doc["hubs"][15]["state"] == "offline"
        assert doc["hubs"][15]["last_heartbeat"] != ""

        argv = ("fleet", "status", "--state", str(state), "--offline-since", "1h", "--json")
        assert await asyncio.to_thread(cli, *argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert [r["hub"] for r in doc["hubs"]] == hubs(120)[115:118]

        # The admin pushes v4 once more to the laggards: their ids are the file push reads.
        argv = ("fleet", "status", "--state", str(state), "--lagging", "--ids")
        assert await asyncio.to_thread(cli, *argv) == 0
        laggards = tmp_path / "laggards.txt"
        laggards.write_text(capsys.readouterr().out)
        assert laggards.read_text().split() == hubs(120)[100:]
        envelope = tmp_path / "v4.json"
        envelope.write_text(json.dumps(ENVELOPE))
        # The first push's journal has every hub PUBACKed: that is not every hub applied.
        journal = PushJournal(tmp_path / "v4.json.pushed", envelope_payload(ENVELOPE))
        for hub_id in hubs(120):
            journal.add(hub_id)
        journal.close()
        push_argv = ["fleet", "push", str(envelope), "--hubs", str(laggards)]
        push_argv += ["--port", str(broker.port)]
        async with DesiredCounter(broker.port) as counter:
            assert await asyncio.to_thread(cli, *push_argv) == 0
            assert "nothing published" in capsys.readouterr().out
            assert await asyncio.to_thread(cli, *push_argv, "--again") == 0
            await eventually(lambda: len(counter.live) == 20)
        assert counter.live == hubs(120)[100:]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_watcher_misses_nothing_across_a_broker_restart(
    broker: Mosquitto, tmp_path: Path
) -> None:
    watcher = FleetWatch(Broker("127.0.0.1", broker.port), tmp_path / "fleet.sqlite")
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        broker.stop()
        broker.start()
        # Published the moment the broker is back, perhaps before the watcher is.
        report = {"version": 4, "status": "rejected", "error": {"reason": "bad_signature"}}
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="hub") as client:
            await client.publish("pingan/v1/GZ-1/config/reported", json.dumps(report), qos=1)
        await eventually(lambda: "GZ-1" in watcher.state.hubs, timeout=15)
        known = watcher.state.hubs["GZ-1"]
        assert (known.config_version, known.config_status, known.config_error) == (
            4,
            "rejected",
            "bad_signature",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_watcher_keeps_writing_its_state_after_a_failed_write(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # At 5,000 hubs the watcher's writer thread failed once and the flusher ended for good:
    # `fleet status` then showed a fleet 20 minutes old. A write that fails (here a locked
    # file) is logged and its rows are written by the next one; the rows handed to the
    # writer are copies, so messages folded meanwhile cannot change them under it.
    import sqlite3

    state = tmp_path / "fleet.sqlite"
    watcher = FleetWatch(Broker("127.0.0.1", broker.port), state)
    real_write = watcher.file.write
    written: list[list[Any]] = []

    def locked_once(rows: list[Any], meta: dict[str, str]) -> None:
        if not written:
            written.append([])
            raise sqlite3.OperationalError("database is locked")
        assert all(row is not watcher.state.hubs.get(row.hub) for row in rows)  # copies
        written.append(rows)
        real_write(rows, meta)

    watcher.file.write = locked_once  # type: ignore[method-assign]
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        await _district_reports(broker.port, datetime.now(UTC))
        await eventually(lambda: len(watcher.state.hubs) == 120)

        def on_disk() -> int:
            with contextlib.closing(sqlite3.connect(state)) as db:
                return int(db.execute("SELECT count(*) FROM hubs").fetchone()[0])

        await eventually(lambda: on_disk() == 120, timeout=15)
        assert "not written (database is locked)" in caplog.text
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_stopped_watcher_stops_even_when_its_broker_node_hangs(
    broker: Mosquitto, tmp_path: Path
) -> None:
    # An overloaded node (issue 21) that no longer answers: Ctrl-C on `fleet watch` must
    # still end it, not be taken for a lost connection and reconnected.
    watcher = FleetWatch(Broker("127.0.0.1", broker.port), tmp_path / "fleet.sqlite")
    task = asyncio.create_task(watcher.run())
    await asyncio.wait_for(watcher.subscribed.wait(), 10)
    broker.proc.send_signal(signal.SIGSTOP)  # alive, connected, answering nothing
    try:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=30)
        assert task in done, "the watcher did not stop"
        assert task.cancelled()
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        if not task.done():
            task.cancel()

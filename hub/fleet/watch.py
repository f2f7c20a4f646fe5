"""`pingan-hub fleet watch`: keep the fleet's state in a file, for `fleet status --state`.

Asking the broker for every hub's retained status on each `fleet status` does not work
at city scale, nor on every broker: 84,000 hubs are 168,000 retained messages per call,
and RabbitMQ's MQTT plugin (3.x) sends retained messages neither to wildcard
subscriptions nor from another node of its cluster (its retained store is node-local).
What every broker does deliver is the live traffic: each hub's heartbeat every
`mqtt.heartbeat_s` (60 s), its last will when its connection ends, its config reports.
The watcher is one long-lived subscriber to those, with a persistent session (a cluster
that replicates sessions keeps what arrives while it reconnects; it rotates through the
nodes like a hub), and folds them into one SQLite file on the admin machine, written
once a second. `fleet status --state FILE` then reads the whole fleet in well under a
second.

How fresh it is, stated: a hub's online state and versions are as of its last
heartbeat (at most `mqtt.heartbeat_s` old) plus the watcher's one-second flush; a hub
that goes away cleanly or loses its connection to a live node is `offline` at once (its
last will); a hub whose node crashed sends no last will and is `silent` once its last
heartbeat is older than `--stale` (180 s, three heartbeats), unless it reconnected to
another node and heartbeats there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiomqtt

from hub.errors import UplinkError
from hub.sync.brokers import BrokerAddress
from hub.sync.mqtt_client import attempt_outcome
from hub.sync.protocol_plan import UNREACHABLE
from hub.sync.reconnect import Reconnect

if TYPE_CHECKING:
    from hub.fleet.broker import Broker
    from hub.fleet.status import HubRow

_LOGGER = logging.getLogger(__name__)

# Rows are written in one transaction per this many seconds: at 84,000 hubs heartbeating
# every 60 s that is ~1,400 rows a second in one commit, instead of 1,400 commits.
FLUSH_S: Final = 1.0
# Reconnect: at once to the next node, then a jittered pause per failed round, growing
# from the first figure to the second.
_RETRY_MIN_S: Final = 0.5
_RETRY_MAX_S: Final = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hubs (
    hub            TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    last_heartbeat TEXT NOT NULL,
    software       TEXT NOT NULL,
    running_config INTEGER,
    config_version INTEGER,
    config_status  TEXT NOT NULL,
    config_error   TEXT NOT NULL,
    state_since    REAL,
    heard_at       REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Known:
    """What the watcher knows of one hub, with the times it learned it (epoch seconds)."""

    hub: str
    state: str = "unknown"
    last_heartbeat: str = ""
    software: str = ""
    running_config: int | None = None
    config_version: int | None = None
    config_status: str = ""
    config_error: str = ""
    state_since: float | None = None  # when the watcher saw the state change
    heard_at: float | None = None  # when it last heard anything from the hub


def _decode(payload: Any) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload if isinstance(payload, (bytes, str)) else b"")
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _ts(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError):
        return None


@dataclass
class FleetState:
    """The fleet as the watcher folds it: one Known per hub, and which changed."""

    prefix: str
    hubs: dict[str, Known] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def fold(self, topic: str, payload: Any, now: float) -> tuple[str, dict[str, Any]] | None:
        """Take one status or config/reported message; returns (hub, payload) if it was one."""
        start = f"{self.prefix}/"
        if not topic.startswith(start):
            return None
        hub_id, _, leaf = topic[len(start) :].partition("/")
        obj = _decode(payload)
        if not hub_id or obj is None or leaf not in ("status", "config/reported"):
            return None
        known = self.hubs.get(hub_id) or self.hubs.setdefault(hub_id, Known(hub_id))
        known.heard_at = now
        if leaf == "status":
            state = str(obj.get("state", "unknown"))[:20]
            ts = str(obj.get("ts", ""))[:40]
            if state == "online":
                # Messages a persistent session kept while the watcher reconnected can
                # arrive after newer ones: an older heartbeat never overwrites a newer.
                newer, older = _ts(ts), _ts(known.last_heartbeat)
                if newer is not None and older is not None and newer < older:
                    return hub_id, obj
                known.last_heartbeat = ts
                known.software = str(obj.get("version", ""))[:40]
                running = obj.get("config_version")
                known.running_config = running if isinstance(running, int) else None
            # A last will has no time of its own: the last heartbeat stays what it was.
            if state != known.state:
                known.state = state
                known.state_since = now
        else:
            version = obj.get("version")
            known.config_version = version if isinstance(version, int) else None
            known.config_status = str(obj.get("status", ""))[:20]
            error = obj.get("error")
            known.config_error = (
                str(error.get("reason", ""))[:40] if isinstance(error, dict) else ""
            )
        self.dirty.add(hub_id)
        return hub_id, obj


class StateFile:
    """The watcher's SQLite file: write changed rows in batches, read them all back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # A lost last second costs nothing: the next heartbeat brings it back.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def load(self, state: FleetState) -> None:
        """Read the rows written before (a restarted watcher starts from them)."""
        for row in self.db.execute(
            "SELECT hub, state, last_heartbeat, software, running_config, config_version,"
            " config_status, config_error, state_since, heard_at FROM hubs"
        ):
            state.hubs[row[0]] = Known(*row)

    def write(self, rows: list[Known], meta: dict[str, str]) -> None:
        """Upsert the changed rows and the meta values in one transaction."""
        with contextlib.closing(self.db.cursor()) as cur:
            cur.execute("BEGIN")
            cur.executemany(
                "INSERT OR REPLACE INTO hubs VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        k.hub,
                        k.state,
                        k.last_heartbeat,
                        k.software,
                        k.running_config,
                        k.config_version,
                        k.config_status,
                        k.config_error,
                        k.state_since,
                        k.heard_at,
                    )
                    for k in rows
                ],
            )
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", list(meta.items()))
            cur.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def read_state(path: Path) -> tuple[list[Known], dict[str, str]]:
    """Every hub row and the meta values of a watcher's file (read-only)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such state file (start `fleet watch` first)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [
            Known(*row)
            for row in db.execute(
                "SELECT hub, state, last_heartbeat, software, running_config, config_version,"
                " config_status, config_error, state_since, heard_at FROM hubs ORDER BY hub"
            )
        ]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()
    return rows, meta


def to_rows(known: list[Known]) -> list[HubRow]:
    """The watcher's rows as `fleet status` rows (silence is judged when shown)."""
    from hub.fleet.status import HubRow

    return [
        HubRow(
            hub=k.hub,
            state=k.state,
            last_heartbeat=k.last_heartbeat,
            software=k.software,
            running_config=k.running_config,
            config_version=k.config_version,
            config_status=k.config_status,
            config_error=k.config_error,
        )
        for k in known
    ]


class FleetWatch:
    """One persistent subscriber to every hub's status and config/reported."""

    def __init__(
        self,
        broker: Broker,
        state_path: Path,
        *,
        name: str = "default",
        on_message: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.broker = broker
        self.state = FleetState(broker.prefix)
        self.file = StateFile(state_path)
        self.file.load(self.state)
        self.identifier = f"pingan-fleet-watch-{name}"
        self.on_message = on_message
        self.subscribed = asyncio.Event()
        self.connected_to = ""
        self.reconnects = 0
        self.started_at = time.time()
        # The hubs' connect discipline (hub.sync.reconnect); the pause is capped: the
        # watcher is the fleet's eyes, half a minute blind is the most it should be.
        self.plan = Reconnect(broker.nodes(), min_pause_s=_RETRY_MIN_S, max_pause_s=_RETRY_MAX_S)

    def _take_changes(self) -> tuple[list[Known], dict[str, str]]:
        """Copies of the changed rows, and the meta values, taken on the event loop. The
        writer thread used to read the live set and rows while the loop folded new
        messages into them: at 5,000 hubs that raised once ("changed size during
        iteration") and ended the flusher for good, so `fleet status` showed a state 20
        minutes old."""
        rows = [replace(self.state.hubs[h]) for h in self.state.dirty]
        self.state.dirty.clear()
        meta = {
            "updated_at": str(time.time()),
            "watching_since": str(self.started_at),
            "connected_to": self.connected_to,
            "prefix": self.broker.prefix,
        }
        return rows, meta

    def flush(self) -> None:
        """Write the changed rows now (on the caller's thread)."""
        self.file.write(*self._take_changes())

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            rows, meta = self._take_changes()
            try:
                await asyncio.to_thread(self.file.write, rows, meta)
            except (sqlite3.Error, OSError) as exc:  # a locked or full disk: next time
                self.state.dirty.update(row.hub for row in rows)
                _LOGGER.error(
                    "fleet watch: state file %s not written (%s); trying again in %g s",
                    self.file.path,
                    exc,
                    FLUSH_S,
                )

    async def run(self) -> None:
        """Watch until cancelled, reconnecting through the broker's nodes."""
        flusher = asyncio.create_task(self._flusher())
        try:
            while True:
                node = self.plan.current
                outcome = UNREACHABLE
                attempts = self.plan.attempts
                try:
                    await self._session(node)
                except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                    _LOGGER.warning("fleet watch: %s: %s", node, exc)
                    outcome = attempt_outcome(exc)
                # A session had begun if the attempt was counted as connected.
                connected = self.plan.attempts > attempts
                self.subscribed.clear()
                self.reconnects += 1
                pause = self.plan.lost() if connected else self.plan.failed(outcome)
                if pause:
                    await asyncio.sleep(pause)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            self.flush()
            self.file.close()

    @property
    def attempts(self) -> int:
        """Connect attempts made so far."""
        return self.plan.attempts

    async def _session(self, node: BrokerAddress) -> None:
        async with self.broker.client(
            node,
            identifier=self.identifier,
            persistent=True,
            connect_timeout=self.plan.connack_timeout,
        ) as c:
            self.plan.connected()
            self.connected_to = str(node)
            prefix = self.broker.prefix
            await c.subscribe(f"{prefix}/+/status", qos=1)
            await c.subscribe(f"{prefix}/+/config/reported", qos=1)
            self.subscribed.set()
            async for message in c.messages:
                folded = self.state.fold(message.topic.value, message.payload, time.time())
                if folded is not None and self.on_message is not None:
                    hub_id, obj = folded
                    leaf = "status" if message.topic.value.endswith("/status") else "reported"
                    self.on_message(hub_id, leaf, obj)


async def watch(broker: Broker, state_path: Path, name: str = "default") -> None:
    """Run the watcher until cancelled (the `fleet watch` command)."""
    try:
        await FleetWatch(broker, state_path, name=name).run()
    except sqlite3.Error as exc:
        raise UplinkError(f"fleet watch: {state_path}: {exc}") from exc


def describe_freshness(meta: dict[str, str], now: float) -> str:
    """One line on how old a state file is and whether its watcher still writes it."""
    try:
        updated = float(meta["updated_at"])
        since = float(meta["watching_since"])
    except (KeyError, ValueError):
        return "state file never written by a watcher"
    age = now - updated
    started = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    note = "" if age <= 10 * FLUSH_S else " — the watcher is NOT running: these rows are old"
    return (
        f"state as of {age:.0f} s ago (watching since {started},"
        f" via {meta.get('connected_to') or '?'}){note}"
    )

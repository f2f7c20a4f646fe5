"""`fleet status`: hub rows from retained messages or the watcher's file; counts first,
then laggards and tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiomqtt

from hub.errors import UplinkError
from hub.fleet.broker import Broker

# How long `fleet status` listens: retained messages arrive right after SUBSCRIBE, so a
# couple of seconds is plenty on a LAN; a big fleet over a slow link may want more.
DEFAULT_STATUS_WAIT_S: Final = 2.0
# A hub whose retained status says online but whose heartbeat is older than this is
# shown as "silent": its broker session may still look alive while it has stopped.
DEFAULT_STALE_S: Final = 180.0
# Topic filters per SUBSCRIBE packet when `fleet status` names its hubs.
_SUBSCRIBE_BATCH: Final = 100
# A fleet larger than this shows counts only unless hubs are asked for.
LIST_UNASKED: Final = 50


@dataclass
class HubRow:
    """What the retained topics say about one hub."""

    hub: str
    state: str = "unknown"  # online | offline | silent | unknown (no status seen)
    last_heartbeat: str = ""
    software: str = ""
    running_config: int | None = None  # from the heartbeat: what the hub actually runs
    config_version: int | None = None  # from config/reported: the last version judged
    config_status: str = ""
    config_error: str = ""


def _decode(payload: Any) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload if isinstance(payload, (bytes, str)) else b"")
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def fold_messages(
    prefix: str, messages: Iterable[tuple[str, Any]], now: datetime, stale_s: float
) -> list[HubRow]:
    """Hub rows from (topic, payload) pairs of status and config/reported, sorted by hub id."""
    rows: dict[str, HubRow] = {}
    start = f"{prefix}/"
    for topic, payload in messages:
        if not topic.startswith(start):
            continue
        hub_id, _, rest = topic[len(start) :].partition("/")
        obj = _decode(payload)
        if not hub_id or obj is None or rest not in ("status", "config/reported"):
            continue
        row = rows.setdefault(hub_id, HubRow(hub_id))
        if rest == "status":
            row.state = str(obj.get("state", "unknown"))[:20]
            row.last_heartbeat = str(obj.get("ts", ""))[:40]
            row.software = str(obj.get("version", ""))[:40]
            running = obj.get("config_version")
            row.running_config = running if isinstance(running, int) else None
            if row.state == "online" and _age_s(row.last_heartbeat, now) > stale_s:
                row.state = "silent"
        else:
            version = obj.get("version")
            row.config_version = version if isinstance(version, int) else None
            row.config_status = str(obj.get("status", ""))[:20]
            error = obj.get("error")
            row.config_error = str(error.get("reason", ""))[:40] if isinstance(error, dict) else ""
    return [rows[k] for k in sorted(rows)]


def _age_s(ts: str, now: datetime) -> float:
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return (now - then).total_seconds()
    except (ValueError, TypeError):
        return float("inf")


async def collect_status(
    broker: Broker, wait_s: float = DEFAULT_STATUS_WAIT_S, hubs: Iterable[str] = ()
) -> list[Any]:
    """The retained status and config/reported messages, as (topic, payload) pairs.

    With `hubs`, each hub's own topics are subscribed exactly instead of with a `+`
    wildcard: some brokers (RabbitMQ's MQTT plugin before 4.x) send retained messages
    only to subscriptions without wildcards.
    """
    listed = list(dict.fromkeys(hubs))
    leaves = ("status", "config/reported")
    filters = [f"{broker.prefix}/{hub}/{leaf}" for hub in listed for leaf in leaves] or [
        f"{broker.prefix}/+/{leaf}" for leaf in leaves
    ]
    seen: dict[str, Any] = {}
    node = broker.nodes()[0]
    try:
        async with broker.client(node) as client:
            for start in range(0, len(filters), _SUBSCRIBE_BATCH):
                batch = filters[start : start + _SUBSCRIBE_BATCH]
                await client.subscribe([(topic, 1) for topic in batch])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    async for message in client.messages:
                        seen[message.topic.value] = message.payload
    except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
        raise UplinkError(f"broker {node}: {exc}") from exc
    return list(seen.items())


def judge_silence(rows: list[HubRow], now: datetime, stale_s: float) -> None:
    """Rows that say online with a heartbeat older than `stale_s` become "silent"."""
    for row in rows:
        if row.state == "online" and _age_s(row.last_heartbeat, now) > stale_s:
            row.state = "silent"


def running_version(row: HubRow) -> int | None:
    """The config version a hub runs: its report of applying it, or its last heartbeat's."""
    reported = row.config_version if row.config_status == "applied" else None
    if reported is not None and (row.running_config is None or reported > row.running_config):
        return reported
    return row.running_config


def summarize(rows: list[HubRow]) -> dict[str, Any]:
    """Counts of the fleet by state, software, running config and last config report."""

    def counts(values: Iterable[str]) -> dict[str, int]:
        return dict(Counter(values).most_common())

    return {
        "hubs": len(rows),
        "state": counts(r.state for r in rows),
        "software": counts(r.software or "-" for r in rows),
        "config": counts(config_name(running_version(r)) for r in rows),
        "report": counts(_report_name(r) for r in rows),
    }


def config_name(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def _report_name(row: HubRow) -> str:
    if row.config_version is None:
        return "none"
    reason = f" ({row.config_error})" if row.config_error else ""
    return f"v{row.config_version} {row.config_status}{reason}"


def target_version(rows: list[HubRow]) -> int | None:
    """The newest config version any hub runs or reported: what laggards lack."""
    versions = [v for r in rows for v in (running_version(r), r.config_version) if v is not None]
    return max(versions) if versions else None


def lagging(rows: list[HubRow], version: int | None) -> list[HubRow]:
    """Hubs not online, or not running `version`."""
    return [r for r in rows if r.state != "online" or running_version(r) != version]


_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime) -> datetime:
    """`90s`, `15m`, `2h`, `3d` ago, or an ISO-8601 time; ValueError otherwise."""
    match = _AGE.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def offline_since(rows: list[HubRow], since: datetime, now: datetime) -> list[HubRow]:
    """Hubs not online whose last heartbeat is older than `since` (or never known)."""
    limit = (now - since).total_seconds()
    return [r for r in rows if r.state != "online" and _age_s(r.last_heartbeat, now) >= limit]


def format_summary(summary: dict[str, Any]) -> str:
    """The counts, one line per kind, largest first."""

    def line(title: str, counts: dict[str, int]) -> str:
        return f"{title:<9}" + "   ".join(f"{name} {n:,}" for name, n in counts.items())

    return "\n".join(
        [
            f"{summary['hubs']:,} hubs",
            line("state", summary["state"]),
            line("software", summary["software"]),
            line("config", summary["config"]),
            line("report", summary["report"]),
        ]
    )


def format_status(rows: list[HubRow], fleet: list[HubRow] | None = None) -> str:
    """A table of `rows` for the admin's terminal, ending with the count of `fleet`
    (default: the rows themselves) and how many of it are online."""
    header = ("HUB", "STATE", "LAST HEARTBEAT", "SOFTWARE", "RUNNING", "REPORTED", "STATUS")
    lines = [header]
    for r in rows:
        shown_error = r.config_error and r.config_error != r.config_status
        status = r.config_status + (f" ({r.config_error})" if shown_error else "")
        running = "-" if r.running_config is None else str(r.running_config)
        version = "-" if r.config_version is None else str(r.config_version)
        lines.append(
            (
                r.hub,
                r.state,
                r.last_heartbeat or "-",
                r.software or "-",
                running,
                version,
                status or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    every = rows if fleet is None else fleet
    if len(rows) == 0:
        out = []
    online = sum(1 for r in every if r.state == "online")
    out.append(f"{len(every)} hubs, {online} online")
    return "\n".join(out)

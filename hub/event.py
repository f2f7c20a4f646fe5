"""The Event: the unit that is stored in the outbox and sent to the alarm centre.

Fields are exactly those of DESIGN.md. An Event is born as a `Draft` (no hub id, no
sequence number); the outbox turns it into an `Event` in the same transaction that
makes it durable, so a `seq` is never handed out for something that was not stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

import uuid6

from hub.clock import Clock
from hub.errors import DecodeError


class Priority(IntEnum):
    """Lower is more urgent; the outbox sends in this order and sheds from the bottom."""

    ALARM = 0  # life safety: never shed, waits for the centre's ack
    WARNING = 1
    TELEMETRY = 2


# Default priority of each kind; DESIGN.md lists the kinds.
KIND_PRIORITY: dict[str, Priority] = {
    "sos": Priority.ALARM,
    "fall": Priority.ALARM,
    "smoke": Priority.ALARM,
    "gas": Priority.ALARM,
    "co": Priority.ALARM,
    "water": Priority.ALARM,
    "survival_overdue": Priority.ALARM,
    "inactivity": Priority.ALARM,
    "night_exit": Priority.ALARM,
    "fall_suspected": Priority.ALARM,  # a night visit to the bathroom that did not end
    "night_door": Priority.WARNING,  # the door at night with her wearable still home
    "vital_abnormal": Priority.WARNING,
    "sos_cancelled": Priority.WARNING,
    "voice_declined": Priority.WARNING,
    "escalate": Priority.WARNING,
    "escalation_sms": Priority.WARNING,
    "escalation_call": Priority.WARNING,
    "escalation_stopped": Priority.WARNING,
    "checkin": Priority.WARNING,
    "checkin_missed": Priority.WARNING,
    "battery_low": Priority.WARNING,
    "sensor_offline": Priority.WARNING,
    "sensor_restored": Priority.WARNING,
    "tamper": Priority.WARNING,
    "power_lost": Priority.WARNING,
    "power_restored": Priority.WARNING,
    "fault": Priority.WARNING,
    "config_applied": Priority.WARNING,
    "vital": Priority.TELEMETRY,
    "door": Priority.TELEMETRY,
    "motion": Priority.TELEMETRY,
    "presence": Priority.TELEMETRY,
    "heartbeat": Priority.TELEMETRY,
    "weekly_summary": Priority.TELEMETRY,  # the weekly words (周报), for the centre to forward
    # A paired wearable's or generic sensor's coalesced reports (supervision names them
    # after the device kind): telemetry, or a chatty watch would fill the outbox with
    # "warnings" during an outage (found by tests/test_outage_24h.py).
    "wearable": Priority.TELEMETRY,
    "sensor": Priority.TELEMETRY,
}

# Kinds are used in MQTT topic levels: keep them to safe characters.
_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def new_event_id() -> str:
    """A UUIDv7 string: unique and time-sortable; the cloud de-duplicates on it."""
    return str(uuid6.uuid7())


def valid_kind(kind: str) -> bool:
    """Whether `kind` can be used as an event kind (and MQTT topic level)."""
    return 0 < len(kind) <= 40 and set(kind) <= _KIND_CHARS


@dataclass(frozen=True)
class Source:
    """Where an event came from, when a device is involved."""

    device: str
    name: str = ""
    room: str = ""
    protocol: str = ""

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-able form."""
        return {
            "device": self.device,
            "name": self.name,
            "room": self.room,
            "protocol": self.protocol,
        }


@dataclass(frozen=True)
class Draft:
    """An event that is not stored yet."""

    kind: str
    priority: Priority
    ts: datetime
    clock_synced: bool
    id: str = field(default_factory=new_event_id)
    source: Source | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        kind: str,
        clock: Clock,
        *,
        data: dict[str, Any] | None = None,
        source: Source | None = None,
        priority: Priority | None = None,
    ) -> Draft:
        """A new draft stamped with the clock; priority defaults from the kind."""
        if not valid_kind(kind):
            raise ValueError(f"invalid event kind {kind!r}")
        return cls(
            kind=kind,
            priority=KIND_PRIORITY.get(kind, Priority.WARNING) if priority is None else priority,
            ts=clock.now(),
            clock_synced=clock.synced(),
            source=source,
            data=dict(data or {}),
        )


@dataclass(frozen=True)
class Event:
    """A stored event, as sent on `pingan/v1/{hub}/event/{kind}`."""

    id: str
    hub: str
    seq: int
    kind: str
    priority: Priority
    ts: datetime
    clock_synced: bool
    source: Source | None
    data: dict[str, Any]

    @classmethod
    def from_draft(cls, draft: Draft, hub: str, seq: int) -> Event:
        """The event a draft becomes once stored with its sequence number."""
        return cls(
            id=draft.id,
            hub=hub,
            seq=seq,
            kind=draft.kind,
            priority=draft.priority,
            ts=draft.ts,
            clock_synced=draft.clock_synced,
            source=draft.source,
            data=draft.data,
        )

    @property
    def is_test(self) -> bool:
        """Raised by an installer or a periodic test, not by the elder."""
        return bool(self.data.get("test"))

    def to_dict(self) -> dict[str, Any]:
        """The wire form (DESIGN.md field names)."""
        return {
            "id": self.id,
            "hub": self.hub,
            "seq": self.seq,
            "kind": self.kind,
            "priority": int(self.priority),
            "ts": self.ts.isoformat().replace("+00:00", "Z"),
            "clock_synced": self.clock_synced,
            "source": self.source.to_dict() if self.source else None,
            "data": self.data,
        }

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, Chinese kept readable."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        """Parse the wire form; DecodeError when it is not an Event."""
        try:
            obj = json.loads(raw)
            src = obj["source"]
            return cls(
                id=str(obj["id"]),
                hub=str(obj["hub"]),
                seq=int(obj["seq"]),
                kind=str(obj["kind"]),
                priority=Priority(int(obj["priority"])),
                ts=datetime.fromisoformat(str(obj["ts"]).replace("Z", "+00:00")),
                clock_synced=bool(obj["clock_synced"]),
                source=Source(**src) if src else None,
                data=dict(obj["data"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(f"not an event: {exc}") from exc

"""Topics and inbound payload parsing for the MQTT contract (pure: no IO).

Everything that arrives from the network is hostile until parsed here: size-limited,
JSON-checked, typed. A bad payload raises DecodeError; the caller logs and ignores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hub.errors import DecodeError

# Largest inbound ack or command we accept: real ones are a few hundred bytes.
MAX_INBOUND_BYTES = 16 * 1024
ACK_STATES = ("received", "dispatched", "resolved")
_MAX_TEXT = 500  # operator names and notes are short; cut anything longer


@dataclass(frozen=True)
class Topics:
    """The topic names of one hub."""

    root: str  # "{prefix}/{hub id}"

    def event(self, kind: str) -> str:
        """Where an event of this kind is published."""
        return f"{self.root}/event/{kind}"

    @property
    def ack(self) -> str:
        """Centre acknowledgements."""
        return f"{self.root}/ack"

    @property
    def status(self) -> str:
        """Retained online/offline status and heartbeat."""
        return f"{self.root}/status"

    @property
    def config_desired(self) -> str:
        """Signed config pushes from the fleet (retained)."""
        return f"{self.root}/config/desired"

    @property
    def config_reported(self) -> str:
        """What the hub did with the last push (retained)."""
        return f"{self.root}/config/reported"

    @property
    def cmd_filter(self) -> str:
        """Subscription filter for every command."""
        return f"{self.root}/cmd/#"

    def command_name(self, topic: str) -> str | None:
        """The command name when `topic` is one of ours, else None."""
        prefix = f"{self.root}/cmd/"
        if topic.startswith(prefix) and "/" not in topic[len(prefix) :] and topic[len(prefix) :]:
            return topic[len(prefix) :]
        return None


@dataclass(frozen=True)
class Ack:
    """The centre's answer to an alarm."""

    id: str
    state: str
    operator: str = ""
    note: str = ""


def _load_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_INBOUND_BYTES:
        raise DecodeError(f"payload of {len(payload)} bytes exceeds {MAX_INBOUND_BYTES}")
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError("not a JSON object")
    return obj


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{key!r} must be a string")
    return value[:_MAX_TEXT]


def parse_ack(payload: bytes) -> Ack:
    """Parse `{"id", "state", "operator", "note"}`; DecodeError when it is not one."""
    obj = _load_object(payload)
    event_id = obj.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 64:
        raise DecodeError("'id' must be a non-empty string of at most 64 characters")
    state = obj.get("state")
    if state not in ACK_STATES:
        raise DecodeError(f"'state' must be one of {', '.join(ACK_STATES)}")
    return Ack(event_id, str(state), _text(obj, "operator"), _text(obj, "note"))


def parse_command(payload: bytes) -> dict[str, Any]:
    """A command's JSON object (empty payload means no arguments)."""
    if not payload.strip():
        return {}
    return _load_object(payload)

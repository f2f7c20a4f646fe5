"""The fleet config overlay on disk: applied, last good, highest version seen.

One small JSON file in the data dir, rewritten whole and atomically (temp file, fsync,
rename, fsync of the directory): a power cut at any instant leaves either the old
state or the new one, never a mix. The overlay is merged over the local TOML at start
(`hub.sync.ota.merge_config`), so an installer's edit of the local file still holds
for everything the fleet did not set.

    {"format": 1,
     "seen_version": 9,                       # highest authentic version: replays refused
     "seen_digest": "3f2a...",                # its content (ota.envelope_digest): a
                                              # different envelope of that version is reported
     "applied": {"version": 9, "overlay": {...}, "confirmed": false},
     "last_good": {"version": 8, "overlay": {...}}}

`confirmed` turns true once the uplink has connected with the applied config; a hub that
restarts with an unconfirmed config puts it on trial again (ApplyGuard).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from hub.errors import StoreError
from hub.store.atomic import write_atomic as atomic_write

FILE_NAME: Final = "fleet-config.json"
_FORMAT: Final = 1


@dataclass(frozen=True)
class Applied:
    """One version of the overlay."""

    version: int = 0  # 0: nothing from the fleet, the local file alone
    overlay: dict[str, Any] = field(default_factory=dict)
    confirmed: bool = True


@dataclass(frozen=True)
class FleetState:
    """Everything the store keeps."""

    seen_version: int = 0
    applied: Applied = field(default_factory=Applied)
    seen_digest: str = ""  # of the seen version's envelope; "" when not known (older files)
    last_good: Applied = field(default_factory=Applied)

    def to_json(self) -> bytes:
        """The file's bytes."""
        body = {
            "format": _FORMAT,
            "seen_version": self.seen_version,
            "seen_digest": self.seen_digest,
            "applied": {
                "version": self.applied.version,
                "overlay": self.applied.overlay,
                "confirmed": self.applied.confirmed,
            },
            "last_good": {"version": self.last_good.version, "overlay": self.last_good.overlay},
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> FleetState:
        """Parse the file's bytes; StoreError when it is not one of ours."""
        try:
            obj = json.loads(raw)
            if obj["format"] != _FORMAT:
                raise StoreError(f"unknown fleet config format {obj['format']!r}")
            applied, good = obj["applied"], obj["last_good"]
            return cls(
                seen_version=int(obj["seen_version"]),
                applied=Applied(
                    int(applied["version"]), dict(applied["overlay"]), bool(applied["confirmed"])
                ),
                last_good=Applied(int(good["version"]), dict(good["overlay"]), True),
                seen_digest=str(obj.get("seen_digest", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"fleet config file unreadable: {exc}") from exc


class ConfigStore:
    """Reads and atomically rewrites the fleet config file (blocking: a few KiB, rarely)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def load(self) -> FleetState:
        """The stored state; the empty state when there is no file yet."""
        # A write cut short leaves its temp file behind; this hub is the only writer.
        for stale in self.path.parent.glob(f".{FILE_NAME}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return FleetState()
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        return FleetState.from_json(raw)

    def save(self, state: FleetState) -> None:
        """Write state atomically; StoreError on a disk error."""
        try:
            atomic_write(self.path, state.to_json())
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc}") from exc

    def record_seen(self, version: int, digest: str = "") -> FleetState:
        """Remember an authentic version that was refused (so its retained copy is a
        replay), with its envelope's digest when known."""
        state = self.load()
        if version > state.seen_version or (
            version == state.seen_version and digest and not state.seen_digest
        ):
            state = replace(state, seen_version=version, seen_digest=digest)
            self.save(state)
        return state

    def apply(self, version: int, overlay: dict[str, Any], digest: str = "") -> FleetState:
        """Make version the applied overlay, on trial; the current one becomes last good.

        If the current one was itself still on trial, it never proved itself: the last
        good stays as it was.
        """
        state = self.load()
        good = (
            Applied(state.applied.version, state.applied.overlay)
            if state.applied.confirmed
            else state.last_good
        )
        newest = version >= state.seen_version
        state = FleetState(
            seen_version=max(state.seen_version, version),
            applied=Applied(version, dict(overlay), confirmed=False),
            last_good=good,
            seen_digest=digest if newest else state.seen_digest,
        )
        self.save(state)
        return state

    def confirm(self, version: int) -> FleetState:
        """The applied version reached the broker: it is now the last good one."""
        state = self.load()
        if state.applied.version != version or state.applied.confirmed:
            return state
        applied = replace(state.applied, confirmed=True)
        state = replace(state, applied=applied, last_good=replace(applied))
        self.save(state)
        return state

    def roll_back(self) -> FleetState:
        """Restore the last good overlay (the abandoned version stays seen: never re-applied)."""
        state = self.load()
        state = replace(state, applied=replace(state.last_good, confirmed=True))
        self.save(state)
        return state

"""The phases of one software update and what the hub reports about them (pure: no IO).

Three programs move an update along and share one small JSON file (`update/state.json`
in the data directory, written atomically by `hub.update.files`):

    hub (unprivileged)      accepted -> downloading -> downloaded      (or rejected, failed)
    installer (root)        installing -> installed -> rebooting       (or failed)
    health check (root)     trial -> committed                         (or rolled_back)

The hub publishes every change, retained, on `{prefix}/{hub}/update/reported`, so the
fleet sees each step and the outcome even after a reboot or a reconnect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final


class Phase(StrEnum):
    """Where an update is."""

    ACCEPTED = "accepted"  # the command is authentic and for this hub
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"  # checksum matched; handed to the installer
    INSTALLING = "installing"  # rauc checks the bundle's signature and writes the other slot
    INSTALLED = "installed"  # the other slot is written and will boot next
    REBOOTING = "rebooting"  # no alarm open: restarting into the new slot
    TRIAL = "trial"  # running the new slot; its health check has not passed yet
    COMMITTED = "committed"  # the new slot passed its health check and is kept
    ROLLED_BACK = "rolled_back"  # the new slot failed; the previous one runs again
    REJECTED = "rejected"  # the command was refused (signature, target, replay ...)
    FAILED = "failed"  # the bundle was refused or could not be installed


# Phases in which an update is under way: a second command is refused meanwhile.
BUSY_PHASES: Final = frozenset(
    {
        Phase.ACCEPTED,
        Phase.DOWNLOADING,
        Phase.DOWNLOADED,
        Phase.INSTALLING,
        Phase.INSTALLED,
        Phase.REBOOTING,
        Phase.TRIAL,
    }
)
# Phases after which the next boot must show whether the new slot came up.
_AWAITING_BOOT: Final = frozenset({Phase.INSTALLED, Phase.REBOOTING, Phase.TRIAL})


@dataclass(frozen=True)
class UpdateState:
    """The shared state of the latest update (one at a time)."""

    number: int = 0  # the command's number; 0 before any command
    version: str = ""  # the version being installed
    phase: Phase | None = None
    slot: str = ""  # the slot being written or tried ("A" or "B")
    from_version: str = ""  # the version that was running when the command came
    progress: int | None = None  # percent, while downloading or installing
    error: dict[str, str] | None = None  # {"reason", "message"} for rejected/failed/rolled_back
    at: str = ""  # when this phase began (UTC ISO-8601)
    history: tuple[str, ...] = field(default=())  # phases so far, oldest first

    def moved(self, phase: Phase, at: datetime, **changes: Any) -> UpdateState:
        """The same update in a new phase (progress and error reset unless given)."""
        history = self.history if self.phase is phase else (*self.history, phase.value)
        return replace(
            self,
            phase=phase,
            at=_iso(at),
            progress=changes.pop("progress", None),
            error=changes.pop("error", None),
            history=history[-16:],
            **changes,
        )

    @property
    def busy(self) -> bool:
        """An update is under way."""
        return self.phase in BUSY_PHASES

    def to_json(self) -> bytes:
        """The state file's bytes."""
        body = asdict(self)
        body["phase"] = self.phase.value if self.phase else None
        body["history"] = list(self.history)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> UpdateState:
        """Parse the state file; an unreadable one is no update (ValueError is not raised)."""
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            return cls()
        if not isinstance(obj, Mapping):
            return cls()
        try:
            phase = Phase(obj["phase"]) if obj.get("phase") else None
            error = obj.get("error")
            return cls(
                number=int(obj.get("number", 0)),
                version=str(obj.get("version", "")),
                phase=phase,
                slot=str(obj.get("slot", "")),
                from_version=str(obj.get("from_version", "")),
                progress=obj.get("progress") if isinstance(obj.get("progress"), int) else None,
                error={str(k): str(v) for k, v in error.items()}
                if isinstance(error, Mapping)
                else None,
                at=str(obj.get("at", "")),
                history=tuple(str(h) for h in obj.get("history", ()) if isinstance(h, str)),
            )
        except (ValueError, TypeError):
            return cls()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def error(reason: str, message: str) -> dict[str, str]:
    """An error object for the state and the report (message cut to 500 characters)."""
    return {"reason": reason, "message": message[:500]}


@dataclass(frozen=True)
class BootOutcome:
    """What a boot means for the update in the state file."""

    state: UpdateState  # the state to write (unchanged when nothing happened)
    trial: bool  # this boot runs a slot whose health check must still pass


def boot_outcome(
    state: UpdateState, booted_slot: str, booted_version: str, at: datetime
) -> BootOutcome:
    """Judge a boot against the last update: a trial of the new slot, a rollback, or neither.

    After `installed`/`rebooting`/`trial`, booting the slot that was written with the
    version it was written with is (still) its trial; booting any other slot means the new
    one never passed its health check and the boot loader went back: rolled back.
    """
    if state.phase not in _AWAITING_BOOT:
        return BootOutcome(state, trial=False)
    if booted_slot == state.slot and booted_version == state.version:
        if state.phase is Phase.TRIAL:
            return BootOutcome(state, trial=True)
        return BootOutcome(state.moved(Phase.TRIAL, at, slot=state.slot), trial=True)
    message = (
        f"slot {state.slot} with {state.version} did not pass its health check in time "
        f"(it did not start, hung or was cut off); slot {booted_slot} runs {booted_version}"
    )
    return BootOutcome(
        state.moved(Phase.ROLLED_BACK, at, error=error("not_booted", message)), trial=False
    )


def report_payload(
    state: UpdateState, *, running_version: str, running_slot: str, at: datetime
) -> bytes:
    """The retained `update/reported` payload for the fleet."""
    body = {
        "number": state.number or None,
        "version": state.version or None,
        "status": state.phase.value if state.phase else "idle",
        "progress": state.progress,
        "error": state.error,
        "since": state.at or None,
        "running": {"version": running_version, "slot": running_slot or None},
        "history": list(state.history),
        "at": _iso(at),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def enough_space(free_bytes: int, bundle_bytes: int, reserve_bytes: int) -> bool:
    """Whether a bundle may be downloaded: the outbox's room must stay free after it."""
    return free_bytes - bundle_bytes >= reserve_bytes

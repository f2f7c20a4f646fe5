"""The root side of a software update (IO, thin): install with rauc, reboot when quiet,
and the health check after every boot. Run by systemd as root:

    pingan-hub update apply          pingan-update.service (started by pingan-update.path)
    pingan-hub update health-check   pingan-health.service (every boot)

The decisions are in `command` (the bundle's manifest), `state` (what a boot means) and
`health` (when a slot is good); this module only runs rauc, systemctl and the hub's
control socket, and writes the state file the hub reports from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from hub.control import call
from hub.errors import ControlError
from hub.store.atomic import write_atomic
from hub.update import command as cmd
from hub.update import files
from hub.update.health import TRIAL_DEADLINE_S, Observation, Verdict, decide, failure_message
from hub.update.state import BootOutcome, Phase, boot_outcome, error

_LOGGER = logging.getLogger(__name__)

# While an alarm is open, or one is still waiting in the outbox, the reboot waits: a
# reboot takes the hub off the air for a minute or more. Looked at this often.
QUIET_POLL_S: Final = 10.0
HEALTH_POLL_S: Final = 2.0
_RAUC_TIMEOUT_S: Final = 3600.0  # writing a slot on a slow SD card


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class System:
    """The commands the root side runs; replaced in tests."""

    run: Callable[[list[str]], subprocess.CompletedProcess[str]]

    @classmethod
    def real(cls) -> System:
        """Run the real programs."""

        def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=_RAUC_TIMEOUT_S, check=False
            )

        return cls(run)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _other(slot: str) -> str:
    return {"A": "B", "B": "A"}.get(slot, "")


def _rauc_error(output: str) -> tuple[str, str]:
    """A reason code and a short message from rauc's output."""
    text = " ".join(output.split())[-400:]
    lowered = text.lower()
    if "signature" in lowered or "signed" in lowered or "certificate" in lowered:
        return cmd.BUNDLE_SIGNATURE, text
    return cmd.INSTALL_FAILED, text


def apply(data_dir: Path, system: System, socket: Path) -> int:
    """Install the requested bundle into the other slot, then reboot into it when quiet."""
    request = files.read_request(data_dir)
    bundle = files.bundle_path(data_dir)
    state = files.read_state(data_dir)
    if request is None or request.get("number") != state.number or not bundle.is_file():
        _LOGGER.warning("no usable update request; nothing to install")
        files.request_path(data_dir).unlink(missing_ok=True)
        return 0
    target = _other(files.booted_slot())
    state = state.moved(Phase.INSTALLING, _now(), slot=target, progress=0)
    files.write_state(data_dir, state)

    def fail(reason: str, message: str) -> int:
        _LOGGER.error("update %d not installed: %s: %s", state.number, reason, message)
        files.write_state(data_dir, state.moved(Phase.FAILED, _now(), error=error(reason, message)))
        bundle.unlink(missing_ok=True)
        files.request_path(data_dir).unlink(missing_ok=True)
        return 1

    if _sha256(bundle) != request.get("sha256"):
        return fail(cmd.CHECKSUM, "the bundle changed after it was downloaded")
    # `rauc info` checks the bundle's signature against the image's keyring first.
    info = system.run(["rauc", "info", "--output-format=json", str(bundle)])
    if info.returncode != 0:
        return fail(*_rauc_error(info.stderr + info.stdout))
    try:
        manifest: Any = json.loads(info.stdout)
    except ValueError:
        return fail(cmd.INSTALL_FAILED, "rauc info did not answer JSON")
    problems = cmd.bundle_problems(manifest, version=state.version, compatible=files.compatible())
    if problems:
        return fail(cmd.INCOMPATIBLE, "; ".join(problems))
    installed = system.run(["rauc", "install", str(bundle)])
    if installed.returncode != 0:
        return fail(*_rauc_error(installed.stderr + installed.stdout))
    state = state.moved(Phase.INSTALLED, _now())
    files.write_state(data_dir, state)
    bundle.unlink(missing_ok=True)
    files.request_path(data_dir).unlink(missing_ok=True)
    _LOGGER.info(
        "update %d installed in slot %s; rebooting when no alarm is open", state.number, target
    )
    while not _quiet(socket):
        time.sleep(QUIET_POLL_S)
    files.write_state(data_dir, state.moved(Phase.REBOOTING, _now()))
    system.run(["systemctl", "reboot"])
    return 0


def _quiet(socket: Path) -> bool:
    """No alarm open and none waiting to be sent (a hub that does not answer is quiet)."""
    try:
        status = call(socket, "status", timeout=10)
    except ControlError:
        return True  # nothing is running that a reboot could interrupt
    waiting = status.get("outbox", {}).get("depth", {}).get("0", 0)
    open_alarms = [
        a for a in status.get("alarms", ()) if a.get("state") not in ("closed", "cancelled")
    ]
    return not open_alarms and not waiting


def _observe(system: System, socket: Path) -> Observation:
    shown = system.run(
        ["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", "pingan-hub.service"]
    ).stdout
    props = dict(line.partition("=")[::2] for line in shown.splitlines())
    restarts = int(props.get("NRestarts", "0") or 0)
    ready = props.get("ActiveState") == "active"
    try:
        status = call(socket, "status", timeout=10)
    except ControlError:
        return Observation(False, restarts, False, False)
    outbox = status.get("outbox", {})
    return Observation(
        hub_ready=ready,
        hub_restarts=restarts,
        broker_connected=bool(status.get("uplink", {}).get("connected")),
        outbox_readable=isinstance(outbox.get("last_seq"), int) and "depth" in outbox,
    )


def health_check(
    data_dir: Path,
    system: System,
    socket: Path,
    deadline_s: float = TRIAL_DEADLINE_S,
    booted: tuple[str, str] | None = None,
) -> int:
    """Mark the running slot good when healthy; roll a failing new slot back.

    `booted` is (slot, image version), read from the running system when not given.
    """
    slot, version = booted or (files.booted_slot(), files.running_version())
    if slot:
        write_atomic(files.booted_path(data_dir), slot.encode(), mode=0o644)
    outcome = boot_outcome(files.read_state(data_dir), slot, version, _now())
    if outcome.state != files.read_state(data_dir):
        files.write_state(data_dir, outcome.state)
        if outcome.state.phase is Phase.ROLLED_BACK:
            _LOGGER.error("update %d rolled back: %s", outcome.state.number, outcome.state.error)
            system.run(["rauc", "status", "mark-bad", "other"])
    try:
        return _watch(data_dir, system, socket, deadline_s=deadline_s, outcome=outcome, slot=slot)
    except Exception:
        # A bug here must not reboot a committed slot (pingan-health.service reboots on
        # failure): only a trial, which has not proved itself anyway, fails the unit.
        _LOGGER.exception("the health check failed")
        return 1 if outcome.trial else 0


def _watch(
    data_dir: Path,
    system: System,
    socket: Path,
    *,
    deadline_s: float,
    outcome: BootOutcome,
    slot: str,
) -> int:
    """Look until the verdict is GOOD or BAD (or, on a committed slot, the deadline)."""
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        seen = _observe(system, socket)
        verdict = decide(outcome.trial, seen, elapsed, deadline_s)
        if verdict is Verdict.GOOD:
            marked = system.run(["rauc", "status", "mark-good"])
            if marked.returncode != 0:
                _LOGGER.error("rauc status mark-good failed: %s", marked.stderr.strip())
                return 1 if outcome.trial else 0
            if outcome.trial:
                committed = outcome.state.moved(Phase.COMMITTED, _now())
                files.write_state(data_dir, committed)
                _LOGGER.info("update %d committed: slot %s is good", committed.number, slot)
            return 0
        if verdict is Verdict.BAD:
            message = failure_message(seen, elapsed)
            _LOGGER.error("slot %s failed its health check: %s; rolling back", slot, message)
            failed = outcome.state.moved(
                Phase.ROLLED_BACK, _now(), error=error(cmd.HEALTH_CHECK, message)
            )
            files.write_state(data_dir, failed)
            system.run(["rauc", "status", "mark-bad"])
            system.run(["systemctl", "reboot"])
            return 0
        if not outcome.trial and elapsed >= deadline_s:
            _LOGGER.warning("the hub is not up after %.0f s; the slot keeps its state", elapsed)
            return 0
        time.sleep(HEALTH_POLL_S)

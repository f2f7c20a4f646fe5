"""The hub's side of a software update (IO, thin): verify, download, hand over, report.

The hub runs unprivileged, so it never writes a root slot itself. On a `cmd/update` it
checks the command (`command.verify_command`), downloads the bundle onto the data
partition while everything else keeps running, checks its SHA-256 and writes
`request.json`; systemd's pingan-update.path then starts the root installer
(`hub.update.apply`). Every change of `state.json`, whoever wrote it, is published
retained on `{prefix}/{hub}/update/reported`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from hub.config import Config
from hub.store.atomic import write_atomic
from hub.update import command as cmd
from hub.update import files
from hub.update.state import Phase, UpdateState, enough_space, error, report_payload

_LOGGER = logging.getLogger(__name__)

# How often the hub looks at the state file the root installer and health check write:
# a stat() every 2 s costs nothing, and the fleet sees each step within seconds.
WATCH_S: Final = 2.0
_CHUNK: Final = 256 * 1024
_DOWNLOAD_TIMEOUT_S: Final = 60.0  # per read: a stalled server fails the download
# Room that must stay free on the data partition besides the outbox's own bound: SQLite's
# WAL and the other small files of the data directory.
_SPARE_BYTES: Final = 64 * 1024 * 1024


class UpdateAgent:
    """Receives update commands and reports the update's progress."""

    def __init__(
        self,
        cfg: Config,
        *,
        publish: Callable[[str, bytes], bool],
        now: Callable[[], datetime],
        release: Path = files.RELEASE_FILE,
        cmdline: Path = files.CMDLINE_FILE,
    ) -> None:
        self.cfg = cfg
        self.publish = publish
        self.now = now
        self.data_dir = cfg.data_path
        self.version = files.running_version(release)
        # The kernel's word when the sandbox lets the hub read it; else what the root health
        # check wrote for this boot (read again whenever that file changes, see _publish_state).
        self._cmdline_slot = files.booted_slot(cmdline)
        self.slot = self._cmdline_slot
        self._published: bytes | None = None
        self._last_state: bytes | None = None
        self._state_stamp: tuple[int, int, int] | None = None  # of state.json when last read
        self._booted_stamp: tuple[int, int, int] | None = None  # of booted-slot when last read
        self._busy = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def topic(self) -> str:
        """Where the update's progress is reported (retained)."""
        return f"{self.cfg.topic_root}/update/reported"

    def on_command(self, args: dict[str, Any]) -> None:
        """A `cmd/update` arrived (already parsed as JSON by the uplink)."""
        task = asyncio.get_running_loop().create_task(self._handle(args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_connected(self) -> None:
        """Publish the current state again on the next look (the broker may have lost it)."""
        self._published = None
        self._state_stamp = None

    async def run(self) -> None:
        """Publish every change of the state file, for as long as the hub runs."""
        while True:
            await self._publish_state()
            await asyncio.sleep(WATCH_S)

    async def _publish_state(self) -> None:
        # Each look costs a stat, not a read: the files are opened only when they changed
        # (a read every 2 s would be SD traffic, also during an alarm's escalation).
        booted, stamp = await asyncio.to_thread(
            lambda: (
                _stamp(files.booted_path(self.data_dir)),
                _stamp(files.state_path(self.data_dir)),
            )
        )
        if not self._cmdline_slot and booted is not None and booted != self._booted_stamp:
            # The root health check starts after the hub and rewrites booted-slot before it
            # writes this boot's state: read once at the hub's start, the file still named the
            # slot of the boot before (the VM's first update reported N+1 "in slot A").
            self._booted_stamp = booted
            self.slot = await asyncio.to_thread(_read_slot, files.booted_path(self.data_dir))
        if stamp is None or stamp == self._state_stamp:
            return  # no update ever, or nothing new since the last look
        self._state_stamp = stamp
        state = await asyncio.to_thread(files.read_state, self.data_dir)
        if state.phase is None:
            return
        raw = state.to_json()
        if raw == self._last_state and self._published is not None:
            return
        payload = report_payload(
            state, running_version=self.version, running_slot=self.slot, at=self.now()
        )
        if not self.publish(self.topic, payload):
            self._state_stamp = None  # offline: look again next time
            return
        self._published = payload
        self._last_state = raw
        _LOGGER.info("update %d (%s): %s", state.number, state.version, state.phase)

    def _refuse(self, refused: cmd.Refused) -> None:
        _LOGGER.warning("update command refused: %s", refused)
        if refused.reason == "replay":
            return  # the same command again (a redelivery): it was judged already
        state = UpdateState(number=refused.number or 0).moved(
            Phase.REJECTED, self.now(), error=error(refused.reason, refused.message)
        )
        payload = report_payload(
            state, running_version=self.version, running_slot=self.slot, at=self.now()
        )
        self.publish(self.topic, payload)
        self._published = None  # the real state is published again on the next look

    async def _handle(self, args: dict[str, Any]) -> None:
        raw = json.dumps(args, ensure_ascii=False).encode()
        current = await asyncio.to_thread(files.read_state, self.data_dir)
        try:
            command = cmd.verify_command(
                raw,
                public_keys=self.cfg.fleet.public_keys,
                hub_id=self.cfg.hub.id,
                groups=self.cfg.fleet.groups,
                last_number=current.number,
            )
        except cmd.Refused as refused:
            self._refuse(refused)
            return
        if current.busy or self._busy.locked():
            self._refuse(cmd.Refused(cmd.BUSY, f"update {current.number} is still {current.phase}"))
            return
        async with self._busy:
            await self._download(command)

    async def _download(self, command: cmd.UpdateCommand) -> None:
        state = UpdateState(
            number=command.number, version=command.version, from_version=self.version
        ).moved(Phase.ACCEPTED, self.now())
        await asyncio.to_thread(files.write_state, self.data_dir, state)
        reserve = self.cfg.outbox.max_bytes + _SPARE_BYTES
        folder = files.update_dir(self.data_dir)
        await asyncio.to_thread(folder.mkdir, mode=0o700, exist_ok=True)
        free = (await asyncio.to_thread(shutil.disk_usage, folder)).free
        if not enough_space(free, command.size, reserve):
            message = f"{command.size} bytes would leave less than {reserve} free for the outbox"
            await self._fail(state, cmd.DOWNLOAD_FAILED, message)
            return
        state = state.moved(Phase.DOWNLOADING, self.now(), progress=0)
        await asyncio.to_thread(files.write_state, self.data_dir, state)
        downloading = state

        def progress(percent: int) -> None:
            # Called in the download's thread, the only writer until it returns.
            files.write_state(
                self.data_dir, downloading.moved(Phase.DOWNLOADING, self.now(), progress=percent)
            )

        try:
            digest = await asyncio.to_thread(_fetch, command, folder, progress)
        except OSError as exc:
            await self._fail(state, cmd.DOWNLOAD_FAILED, str(exc))
            return
        if digest != command.sha256:
            await asyncio.to_thread(_remove, folder / "bundle.part")
            await self._fail(state, cmd.CHECKSUM, f"the bundle's SHA-256 is {digest}")
            return
        await asyncio.to_thread(
            os.replace, folder / "bundle.part", files.bundle_path(self.data_dir)
        )
        state = state.moved(Phase.DOWNLOADED, self.now())
        await asyncio.to_thread(files.write_state, self.data_dir, state)
        request = {"number": command.number, "version": command.version, "sha256": digest}
        # Written last: its appearance starts the root installer (pingan-update.path).
        await asyncio.to_thread(
            write_atomic,
            files.request_path(self.data_dir),
            json.dumps(request).encode(),
            0o644,
        )
        _LOGGER.info("update %d: bundle downloaded; the installer takes over", command.number)

    async def _fail(self, state: UpdateState, reason: str, message: str) -> None:
        _LOGGER.warning("update %d failed: %s: %s", state.number, reason, message)
        failed = state.moved(Phase.FAILED, self.now(), error=error(reason, message))
        await asyncio.to_thread(files.write_state, self.data_dir, failed)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a rewrite of the file (an atomic rewrite is a new inode); None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_slot(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if text in ("A", "B") else ""


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fetch(command: cmd.UpdateCommand, folder: Path, progress: Callable[[int], None]) -> str:
    """Download the bundle to `bundle.part`, at most `size` bytes; its SHA-256 in hex."""
    part = folder / "bundle.part"
    digest = hashlib.sha256()
    done, reported = 0, 0
    request = urllib.request.Request(command.url, headers={"User-Agent": "pingan-hub"})
    with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := response.read(_CHUNK):
                done += len(chunk)
                if done > command.size:
                    raise OSError(f"the server sent more than the {command.size} bytes signed for")
                digest.update(chunk)
                out.write(chunk)
                percent = done * 100 // command.size
                if percent >= reported + 10:
                    reported = percent - percent % 10
                    progress(reported)
            out.flush()
            os.fsync(out.fileno())
    return digest.hexdigest()

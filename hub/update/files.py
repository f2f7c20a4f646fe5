"""The files an update is handed over in (IO, thin): state, request, bundle, release.

All live in `<data_dir>/update/` on the data partition, owned by the hub's user. The root
installer reads the request without following links and writes the state with
`write_atomic` (a fresh temp file, then a rename), so the unprivileged hub cannot point
root's writes anywhere else.
"""

from __future__ import annotations

import configparser
import json
import os
from pathlib import Path
from typing import Any, Final

from hub.store.atomic import write_atomic
from hub.update.state import UpdateState

RELEASE_FILE: Final = Path("/etc/pingan-release")
CMDLINE_FILE: Final = Path("/proc/cmdline")
RAUC_CONF: Final = Path("/etc/rauc/system.conf")


def update_dir(data_dir: Path) -> Path:
    """Where an update's files live."""
    return data_dir / "update"


def state_path(data_dir: Path) -> Path:
    """The shared state file."""
    return update_dir(data_dir) / "state.json"


def request_path(data_dir: Path) -> Path:
    """Written by the hub last, once the bundle is in place: starts the installer."""
    return update_dir(data_dir) / "request.json"


def bundle_path(data_dir: Path) -> Path:
    """The downloaded bundle, once its checksum matched."""
    return update_dir(data_dir) / "bundle.raucb"


def read_state(data_dir: Path) -> UpdateState:
    """The latest update's state (an empty one when there is none)."""
    try:
        return UpdateState.from_json(state_path(data_dir).read_bytes())
    except OSError:
        return UpdateState()


def write_state(data_dir: Path, state: UpdateState) -> None:
    """Replace the state file atomically (readable by the hub when root writes it)."""
    write_atomic(state_path(data_dir), state.to_json(), mode=0o644)


def read_request(data_dir: Path) -> dict[str, Any] | None:
    """The installer's request, read without following a link; None when absent or bad."""
    try:
        fd = os.open(request_path(data_dir), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(4096)
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def running_version(release: Path = RELEASE_FILE) -> str:
    """The image version of the running root ("" off an image, e.g. on a PC)."""
    try:
        for line in release.read_text(encoding="utf-8").splitlines():
            if line.startswith("VERSION="):
                return line.partition("=")[2].strip()
    except OSError:
        pass
    return ""


def compatible(conf: Path = RAUC_CONF) -> str:
    """The kind of hub bundles must be made for: rauc's `[system] compatible` in the image
    ("pingan-hub-arm64" on a Pi; "" when there is no readable config)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with conf.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error):
        return ""
    return parser.get("system", "compatible", fallback="").strip()


def booted_path(data_dir: Path) -> Path:
    """The slot of this boot, written by the root health check for the hub to read.

    The hub's sandbox (ProcSubset=pid) hides /proc/cmdline from it.
    """
    return update_dir(data_dir) / "booted-slot"


def booted_slot(cmdline: Path = CMDLINE_FILE) -> str:
    """The root slot the boot loader started ("A" or "B"; "" off an image)."""
    try:
        words = cmdline.read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return ""
    for word in words:
        if word.startswith("rauc.slot="):
            return word.partition("=")[2]
    return ""

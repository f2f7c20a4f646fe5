"""The signed update command and the bundle's manifest checks (pure: no IO).

The fleet admin publishes, not retained, on `{prefix}/{hub}/cmd/update`:

    {"number": 12, "issued_at": "2026-12-01T08:00:00Z", "hub": "GZ-000123",
     "key": "<base64 Ed25519 public key>", "version": "0.1.0+413",
     "url": "https://updates.example/pingan-hub-0.1.0+413.raucb",
     "sha256": "<64 hex digits>", "size": 398458880, "sig": "<base64 signature>"}

Signed like a config envelope (`hub.sync.ota.canonical_bytes`, Ed25519, a fleet key of
this hub), with exactly one of `hub` or `group`. `number` is the command's own counter:
a hub acts on each number once and never on a lower one, so a recorded command cannot be
replayed. `version` is the image version the bundle carries; it may be lower than the
running one (going back is an update the admin signed for, not a replay). The bundle
itself is signed too, with the update key whose certificate is in the image (rauc checks
it): the command says which bundle, the bundle says it came from the build machine.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from hub.errors import HubError
from hub.sync import ota

# A root filesystem bundle is a few hundred MiB; this bounds what a hub will download.
MAX_BUNDLE_BYTES: Final = 1024 * 1024 * 1024
MAX_COMMAND_BYTES: Final = 4 * 1024
MAX_URL: Final = 1024
_VERSION_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~_-]{0,63}")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_KEYS: Final = frozenset(
    {"number", "issued_at", "hub", "group", "key", "version", "url", "sha256", "size", "sig"}
)

# Reason codes on `update/reported` (error.reason), beside ota's for the envelope.
BUSY: Final = "busy"
INCOMPATIBLE: Final = "incompatible"
WRONG_VERSION: Final = "wrong_version"
DOWNLOAD_FAILED: Final = "download_failed"
CHECKSUM: Final = "checksum"
BUNDLE_SIGNATURE: Final = "bundle_signature"
INSTALL_FAILED: Final = "install_failed"
HEALTH_CHECK: Final = "health_check"
NOT_BOOTED: Final = "not_booted"


class Refused(HubError):
    """The command or bundle was refused; `reason` is a stable code, `message` says why."""

    def __init__(self, reason: str, message: str, *, number: int | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        # Set only for an authentic command meant for this hub: recorded as seen.
        self.number = number


@dataclass(frozen=True)
class UpdateCommand:
    """An authentic, current command for this hub."""

    number: int
    version: str
    url: str
    sha256: str
    size: int


def _parse(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_COMMAND_BYTES:
        raise Refused(ota.OVERSIZED, f"{len(raw)} bytes; at most {MAX_COMMAND_BYTES}")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused(ota.MALFORMED, "not JSON") from exc
    if not isinstance(obj, dict):
        raise Refused(ota.MALFORMED, "not a JSON object")
    return obj


def _is_int(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _check_shape(cmd: dict[str, Any]) -> None:
    unknown = sorted(set(cmd) - _KEYS)
    if unknown:
        raise Refused(ota.MALFORMED, f"unknown field {unknown[0][:40]!r}")
    if not _is_int(cmd.get("number"), 1, ota.MAX_VERSION):
        raise Refused(ota.MALFORMED, "'number' must be a whole number from 1")
    issued = cmd.get("issued_at")
    try:
        if not isinstance(issued, str) or len(issued) > 40:
            raise ValueError
        datetime.fromisoformat(issued.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused(ota.MALFORMED, "'issued_at' must be an ISO-8601 time") from exc
    if ("hub" in cmd) == ("group" in cmd):
        raise Refused(ota.MALFORMED, "exactly one of 'hub' or 'group' names the target")
    target = cmd.get("hub", cmd.get("group"))
    if not isinstance(target, str) or not 0 < len(target) <= 64:
        raise Refused(ota.MALFORMED, "the target must be a non-empty string of at most 64")
    version = cmd.get("version")
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise Refused(ota.MALFORMED, "'version': letters, digits and . + ~ _ - (at most 64)")
    url = cmd.get("url")
    if not isinstance(url, str) or len(url) > MAX_URL or not url.isprintable():
        raise Refused(ota.MALFORMED, f"'url' must be a URL of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(ota.MALFORMED, "'url' must be http:// or https:// with a host")
    sha = cmd.get("sha256")
    if not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha):
        raise Refused(ota.MALFORMED, "'sha256' must be 64 lower-case hex digits")
    if not _is_int(cmd.get("size"), 1, MAX_BUNDLE_BYTES):
        raise Refused(ota.OVERSIZED, f"'size' must be from 1 to {MAX_BUNDLE_BYTES} bytes")


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _check_signature(cmd: dict[str, Any], trusted: Collection[str]) -> None:
    sig = _b64(cmd.get("sig"))
    if sig is None or len(sig) != 64:
        raise Refused(ota.BAD_SIGNATURE, "'sig' is not a 64-byte Ed25519 signature in base64")
    key = _b64(cmd.get("key"))
    if key is None or len(key) != 32:
        raise Refused(ota.MALFORMED, "'key' is not a 32-byte Ed25519 public key in base64")
    trusted_raw = set()
    for text in trusted:
        try:
            trusted_raw.add(ota.decode_public_key(text))
        except ValueError:
            continue  # the config validator reports a bad configured key
    if key not in trusted_raw:
        raise Refused(ota.UNKNOWN_KEY, "signed by a key that is not a fleet key of this hub")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(key).verify(sig, ota.canonical_bytes(cmd))
    except (InvalidSignature, ValueError) as exc:
        raise Refused(ota.BAD_SIGNATURE, "the signature does not match the content") from exc


def verify_command(
    raw: bytes,
    *,
    public_keys: Collection[str],
    hub_id: str,
    groups: Collection[str],
    last_number: int,
) -> UpdateCommand:
    """Judge one `cmd/update` payload: the command, or Refused with a reason code.

    `last_number` is the highest authentic command number this hub has acted on (0: none).
    """
    cmd = _parse(raw)
    if cmd.get("sig") in (None, ""):
        raise Refused(ota.UNSIGNED, "no signature")
    _check_shape(cmd)
    _check_signature(cmd, public_keys)
    number: int = cmd["number"]
    if "hub" in cmd and cmd["hub"] != hub_id:
        raise Refused(ota.WRONG_TARGET, "addressed to another hub")
    if "group" in cmd and cmd["group"] not in groups:
        raise Refused(ota.WRONG_TARGET, "addressed to a group this hub is not in")
    if number <= last_number:
        raise Refused(ota.REPLAY, f"command {number} is not newer than {last_number}")
    return UpdateCommand(number, cmd["version"], cmd["url"], cmd["sha256"], cmd["size"])


def sign_command(
    private_key: Any,
    *,
    number: int,
    version: str,
    url: str,
    sha256: str,
    size: int,
    issued_at: datetime,
    hub: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """A signed command for exactly one of hub or group (the admin side of verify_command)."""
    if (hub is None) == (group is None):
        raise ValueError("give exactly one of hub or group")
    cmd: dict[str, Any] = {
        "number": number,
        "issued_at": issued_at.isoformat().replace("+00:00", "Z"),
        "key": ota.public_key_text(private_key),
        "version": version,
        "url": url,
        "sha256": sha256,
        "size": size,
    }
    cmd["hub" if hub is not None else "group"] = hub if hub is not None else group
    cmd["sig"] = base64.b64encode(private_key.sign(ota.canonical_bytes(cmd))).decode("ascii")
    return cmd


def bundle_problems(info: Mapping[str, Any], *, version: str, compatible: str) -> list[str]:
    """What is wrong with a bundle's manifest (`rauc info --output-format=json`) for this hub.

    The bundle must be for this kind of hub, carry the version the command named, and hold
    exactly one root filesystem image.
    """
    problems = []
    if info.get("compatible") != compatible:
        problems.append(f"for {str(info.get('compatible'))[:64]!r}, this hub is {compatible!r}")
    if info.get("version") != version:
        problems.append(f"carries version {str(info.get('version'))[:64]!r}, not {version!r}")
    images = info.get("images")
    slot_classes: list[str] = []
    if isinstance(images, list):
        for image in images:
            if isinstance(image, Mapping):
                slot_classes.extend(str(k) for k in image)
    if slot_classes != ["rootfs"]:
        problems.append(f"must hold one rootfs image, holds {slot_classes[:4]}")
    return problems

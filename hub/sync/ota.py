"""Signed over-the-air configuration: verify an envelope, report the outcome, roll back (pure).

The fleet admin publishes a signed envelope, retained, on `{prefix}/{hub}/config/desired`:

    {"version": 7, "issued_at": "2026-11-23T08:00:00Z", "hub": "GZ-000123",
     "key": "<base64 public key>", "config": {"sos": {"ack_timeout_s": 20}},
     "sig": "<base64 Ed25519 signature>"}

Exactly one of `hub` (this hub's id) or `group` (one of the groups in the local config)
names the target. `key` is the signer's raw 32-byte Ed25519 public key in standard
base64; it must be one of the fleet keys in the local config. It is carried so a hub can
tell "signed by a key we do not trust" (unknown_key) from "forged or altered"
(bad_signature); it is covered by the signature like every other field.

The signed bytes (`canonical_bytes`) are the envelope without `sig`, serialised as
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` encoded as
UTF-8: keys sorted, no whitespace, non-ASCII characters as themselves. A signer in another
language must produce the same bytes (RFC 8785 JCS gives them for the integers, strings,
booleans and short decimals a config holds).

`issued_at` must be fresh. With the hub's clock synced it may be at most ISSUED_AHEAD_S
ahead of the hub's clock and at most ISSUED_MAX_AGE_S old; without (a Pi has no RTC and
runs on the last saved time until NTP answers) it must only lie between ISSUED_EARLIEST
and ISSUED_LATEST. An envelope refused for its time is not remembered as seen: once the
clock is right, its retained copy is judged again at the next connection.

The same version again with other content (another config, target or time) is refused
and reported (`version_conflict`): a version names one envelope, and a silent drop hid
an admin's mistake. Only the identical retained copy of a version already judged is
ignored silently (`replay`).

`config` is a partial configuration: only the sections and options in PUSHABLE. It is
merged over the hub's local TOML document (tables merged key by key, lists such as
`escalation.contacts` replaced whole) and the result must pass the same validator as the
local file (`hub.config.parse_config`). A pushed config can never change `hub.id` or
`hub.data_dir`, the GPIO wiring or the control socket: those belong to the installer.

Nothing in here does IO: the caller reads the broker and the disk and passes plain data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # cryptography costs ~7 MB resident: loaded only when a push arrives
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config import Config, parse_config
from hub.errors import ConfigError, HubError

# A real config overlay is a few KiB; 64 KiB leaves room for ten contacts and long
# prompts while keeping a hostile payload from costing a Pi Zero real memory.
DEFAULT_MAX_BYTES: Final = 64 * 1024
# Tables nest two levels (section.option, escalation.contacts[i].field); anything much
# deeper is not a config.
MAX_DEPTH: Final = 8
# Versions are compared as integers; stay within what every JSON parser holds exactly.
MAX_VERSION: Final = 2**53 - 1
# Freshness of issued_at against a synced clock. Ahead: the admin's machine and the hub
# both keep NTP time, within seconds; ten minutes covers an admin laptop that has drifted.
ISSUED_AHEAD_S: Final = 600.0
# Age: a push waits, retained, on the broker for a hub that is switched off (in storage,
# or the elder in hospital); 30 days covers that. An older envelope is refused (and
# reported): the admin signs a new version.
ISSUED_MAX_AGE_S: Final = 30 * 86400.0
# Without a synced clock, only the impossible is refused: a time before this software
# existed (the clock module's earliest plausible date) or past the end of the century.
ISSUED_EARLIEST: Final = datetime(2026, 1, 1, tzinfo=UTC)
ISSUED_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)

# Stable reason codes, reported on `config/reported` as error.reason.
UNSIGNED: Final = "unsigned"
BAD_SIGNATURE: Final = "bad_signature"
UNKNOWN_KEY: Final = "unknown_key"
REPLAY: Final = "replay"
DOWNGRADE: Final = "downgrade"
WRONG_TARGET: Final = "wrong_target"
INVALID_CONFIG: Final = "invalid_config"
OVERSIZED: Final = "oversized"
MALFORMED: Final = "malformed"
STALE: Final = "stale"
FROM_FUTURE: Final = "from_future"
VERSION_CONFLICT: Final = "version_conflict"
REASONS: Final = (
    UNSIGNED,
    BAD_SIGNATURE,
    UNKNOWN_KEY,
    REPLAY,
    DOWNGRADE,
    WRONG_TARGET,
    INVALID_CONFIG,
    OVERSIZED,
    MALFORMED,
    STALE,
    FROM_FUTURE,
    VERSION_CONFLICT,
)

# What a fleet push may set. None means every option of the section. Left out on purpose:
# hub.id and hub.data_dir (identity and storage: a push must not move or rename a hub),
# [gpio] (the physical wiring, known only at the home) and [control] (a local socket).
PUSHABLE: Final[Mapping[str, frozenset[str] | None]] = {
    "hub": frozenset({"timezone", "language", "log_level"}),
    "mqtt": None,
    "outbox": None,
    "sos": None,
    "escalation": None,
    # A holiday (issue 15) is set per elder by the service: the only care option a push
    # may change; the checks themselves stay the installer's.
    "care": frozenset({"holiday_until"}),
}

_ENVELOPE_KEYS: Final = frozenset({"version", "issued_at", "hub", "group", "key", "config", "sig"})
_ED25519_KEY_BYTES: Final = 32
_ED25519_SIG_BYTES: Final = 64


class Rejected(HubError):
    """The envelope was refused; `reason` is one of REASONS, `message` says why."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        version: int | None = None,
        digest: str | None = None,
        seen: bool = True,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        # Set only when the envelope was authentic and meant for this hub: it is reported,
        # and (when `seen`) the caller records it as seen with its `digest`, so the same
        # retained envelope is not re-judged (and re-reported) on every reconnect. A
        # forged envelope never advances it, so an attacker cannot block future configs
        # with a huge version number.
        self.version = version
        self.digest = digest
        self.seen = seen

    @property
    def should_report(self) -> bool:
        """Whether to publish `rejected`. Not for the retained copy of a version already
        judged, nor for an older version: a broker node that kept an old retained copy (RabbitMQ
        keeps retained messages per node) sends it after a failover, and reporting it would
        overwrite the hub's retained `applied` report, showing a hub on the newest version
        as rejected. Both are logged."""
        return self.reason not in (REPLAY, DOWNGRADE)


@dataclass(frozen=True)
class Accepted:
    """An authentic, current, valid envelope: `overlay` is what was pushed, `config` the result."""

    version: int
    overlay: dict[str, Any]
    merged: dict[str, Any]
    config: Config
    digest: str = ""  # of the envelope's signed content (envelope_digest)


def canonical_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: the envelope without `sig`, sorted keys, no whitespace."""
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def envelope_digest(envelope: Mapping[str, Any]) -> str:
    """What identifies an envelope's content: SHA-256 of its signed bytes, in hex."""
    return hashlib.sha256(canonical_bytes(envelope)).hexdigest()


def check_issued_at(issued: datetime, now: datetime, *, clock_synced: bool) -> str | None:
    """Why `issued` is not a time to accept an envelope from (STALE or FROM_FUTURE), or
    None when it is fresh: within ISSUED_AHEAD_S ahead and ISSUED_MAX_AGE_S behind a synced
    clock; between ISSUED_EARLIEST and ISSUED_LATEST when the clock is not synced."""
    if clock_synced:
        ahead = (issued - now).total_seconds()
        if ahead > ISSUED_AHEAD_S:
            return FROM_FUTURE
        if -ahead > ISSUED_MAX_AGE_S:
            return STALE
        return None
    if issued < ISSUED_EARLIEST:
        return STALE
    if issued >= ISSUED_LATEST:
        return FROM_FUTURE
    return None


def encode_public_key(raw: bytes) -> str:
    """The config form of a raw Ed25519 public key: standard base64."""
    return base64.b64encode(raw).decode("ascii")


def decode_public_key(text: str) -> bytes:
    """Raw 32-byte key from its base64 form; ValueError when it is not one."""
    raw = _b64(text)
    if raw is None or len(raw) != _ED25519_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes in standard base64")
    return raw


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    """The config form of the public half of a signing key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return encode_public_key(raw)


def sign_envelope(
    private_key: Ed25519PrivateKey,
    version: int,
    config: Mapping[str, Any],
    issued_at: datetime,
    *,
    hub: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """A signed envelope for exactly one of hub or group (the admin side of verify_envelope)."""
    if (hub is None) == (group is None):
        raise ValueError("give exactly one of hub or group")
    env: dict[str, Any] = {
        "version": version,
        "issued_at": issued_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "key": public_key_text(private_key),
        "config": dict(config),
    }
    if hub is not None:
        env["hub"] = hub
    else:
        env["group"] = group
    env["sig"] = base64.b64encode(private_key.sign(canonical_bytes(env))).decode("ascii")
    return env


def merge_config(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """base with overlay laid over it: tables merged key by key, everything else replaced."""
    merged: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_config(old, value)
        else:
            merged[key] = value
    return merged


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of containers, stopping once past limit."""
    if limit < 0:
        return 1
    if isinstance(obj, dict):
        return 1 + max((_depth(v, limit - 1) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((_depth(v, limit - 1) for v in obj), default=0)
    return 0


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_VERSION


def _no_constant(name: str) -> Any:
    # NaN slips through range checks (every comparison with it is false): a timeout of
    # NaN would never fire. Strict JSON has no NaN or Infinity anyway.
    raise ValueError(f"{name} is not allowed")


def _parse(raw: bytes, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise Rejected(OVERSIZED, f"{len(raw)} bytes; at most {max_bytes}")
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Rejected(MALFORMED, "not JSON") from exc
    if not isinstance(obj, dict):
        raise Rejected(MALFORMED, "not a JSON object")
    if _depth(obj, MAX_DEPTH) > MAX_DEPTH:
        raise Rejected(MALFORMED, f"nested deeper than {MAX_DEPTH}")
    return obj


def _check_shape(env: dict[str, Any]) -> None:
    """Types of every field except the signature (checked after, for a precise reason)."""
    unknown = sorted(set(env) - _ENVELOPE_KEYS)
    if unknown:
        raise Rejected(MALFORMED, f"unknown field {unknown[0][:40]!r}")
    if not _is_version(env.get("version")):
        raise Rejected(MALFORMED, f"'version' must be a whole number from 1 to {MAX_VERSION}")
    issued = env.get("issued_at")
    if not isinstance(issued, str) or len(issued) > 40:
        raise Rejected(MALFORMED, "'issued_at' must be an ISO-8601 time")
    try:
        datetime.fromisoformat(issued.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Rejected(MALFORMED, "'issued_at' must be an ISO-8601 time") from exc
    if ("hub" in env) == ("group" in env):
        raise Rejected(MALFORMED, "exactly one of 'hub' or 'group' names the target")
    target = env.get("hub", env.get("group"))
    if not isinstance(target, str) or not 0 < len(target) <= 64:
        raise Rejected(MALFORMED, "the target must be a non-empty string of at most 64")
    if not isinstance(env.get("config"), dict):
        raise Rejected(MALFORMED, "'config' must be an object")


def _check_signature(env: dict[str, Any], trusted: Collection[str]) -> None:
    sig_text = env.get("sig")
    if sig_text is None or sig_text == "":
        raise Rejected(UNSIGNED, "no signature")
    key_text = env.get("key")
    if not isinstance(sig_text, str) or not isinstance(key_text, str):
        raise Rejected(MALFORMED, "'sig' and 'key' must be base64 strings")
    sig = _b64(sig_text)
    if sig is None or len(sig) != _ED25519_SIG_BYTES:
        raise Rejected(BAD_SIGNATURE, "'sig' is not a 64-byte Ed25519 signature in base64")
    key = _b64(key_text)
    if key is None or len(key) != _ED25519_KEY_BYTES:
        raise Rejected(MALFORMED, "'key' is not a 32-byte Ed25519 public key in base64")
    trusted_raw = set()
    for text in trusted:
        try:
            trusted_raw.add(decode_public_key(text))
        except ValueError:
            continue  # the config validator reports a bad configured key; skip it here
    if key not in trusted_raw:
        raise Rejected(UNKNOWN_KEY, "signed by a key that is not a fleet key of this hub")
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        Ed25519PublicKey.from_public_bytes(key).verify(sig, canonical_bytes(env))
    except (InvalidSignature, ValueError) as exc:
        raise Rejected(BAD_SIGNATURE, "the signature does not match the content") from exc


def check_overlay(overlay: Mapping[str, Any]) -> list[str]:
    """Problems with what a push tries to set (options outside PUSHABLE)."""
    problems = []
    for section, values in overlay.items():
        if section not in PUSHABLE:
            problems.append(f"[{section}]: may not be set by a fleet push")
            continue
        allowed = PUSHABLE[section]
        if not isinstance(values, Mapping):
            problems.append(f"[{section}]: must be a table")
        elif allowed is not None:
            problems += [
                f"{section}.{key}: may not be set by a fleet push"
                for key in values
                if key not in allowed
            ]
    return problems


def verify_envelope(
    raw: bytes,
    *,
    public_keys: Collection[str],
    hub_id: str,
    groups: Collection[str],
    current_version: int,
    base: Mapping[str, Any],
    now: datetime,
    clock_synced: bool,
    current_digest: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Accepted:
    """Judge one `config/desired` payload; Accepted, or Rejected with a reason code.

    `current_version` is the highest authentic version this hub has seen (0 for none) and
    `current_digest` the envelope_digest it had (None when not known); `base` is the
    local TOML document the overlay is merged over; `now` and `clock_synced` are the
    hub's clock, for the freshness of issued_at.
    """
    env = _parse(raw, max_bytes)
    if "sig" not in env or env.get("sig") in (None, ""):
        raise Rejected(UNSIGNED, "no signature")
    _check_shape(env)
    _check_signature(env, public_keys)
    version: int = env["version"]
    if "hub" in env and env["hub"] != hub_id:
        raise Rejected(WRONG_TARGET, "addressed to another hub")
    if "group" in env and env["group"] not in groups:
        raise Rejected(WRONG_TARGET, "addressed to a group this hub is not in")
    digest = envelope_digest(env)
    if version == current_version:
        if current_digest is not None and digest != current_digest:
            raise Rejected(
                VERSION_CONFLICT,
                f"version {version} was already received with other content; "
                "sign the change as a new version",
                version=version,
                seen=False,
            )
        raise Rejected(
            REPLAY, f"version {version} was already received", version=version, digest=digest
        )
    if version < current_version:
        raise Rejected(
            DOWNGRADE, f"version {version} is older than {current_version}", version=None
        )
    issued = datetime.fromisoformat(env["issued_at"].replace("Z", "+00:00"))
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=UTC)
    stale = check_issued_at(issued, now, clock_synced=clock_synced)
    if stale is not None:
        window = (
            f"at most {ISSUED_AHEAD_S:.0f} s ahead of and {ISSUED_MAX_AGE_S / 86400:.0f} days "
            f"behind the hub's clock ({now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
            if clock_synced
            else f"from {ISSUED_EARLIEST:%Y-%m-%d} to {ISSUED_LATEST:%Y-%m-%d} "
            "(the hub's clock is not synced)"
        )
        raise Rejected(
            stale, f"issued_at {env['issued_at']} must be {window}", version=version, seen=False
        )
    overlay: dict[str, Any] = env["config"]
    problems = check_overlay(overlay)
    if problems:
        raise Rejected(INVALID_CONFIG, "; ".join(problems), version=version, digest=digest)
    merged = merge_config(base, overlay)
    try:
        config = parse_config(merged)
    except ConfigError as exc:
        raise Rejected(
            INVALID_CONFIG, "; ".join(exc.problems), version=version, digest=digest
        ) from exc
    return Accepted(version, overlay, merged, config, digest)


def startup_config(
    base: Mapping[str, Any], candidates: Iterable[tuple[int, Mapping[str, Any]]]
) -> tuple[int, Config, list[str]]:
    """The config to start with: the first (version, overlay) that still validates over base.

    Pass the applied overlay, then the last good one; version 0 with the local file alone is
    always tried last, and its ConfigError propagates (the installer's file is broken).
    An overlay can stop validating when the installer edits the local file under it; the
    hub then starts on the next candidate rather than not at all. Returns the version, the
    config, and the problems of every candidate skipped (for the log and a fault event).
    """
    skipped: list[str] = []
    for version, overlay in candidates:
        problems = check_overlay(overlay)
        if not problems:
            try:
                return version, parse_config(merge_config(base, overlay)), skipped
            except ConfigError as exc:
                problems = exc.problems
        skipped.append(f"fleet config version {version} skipped: {'; '.join(problems)}")
    return 0, parse_config(dict(base)), skipped


class ReportStatus(StrEnum):
    """The outcomes reported on `config/reported`."""

    APPLIED = "applied"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


def reported_payload(
    version: int | None,
    status: ReportStatus,
    at: datetime,
    *,
    error: Rejected | None = None,
    message: str = "",
) -> bytes:
    """The retained `config/reported` payload `{version, status, error, at}` as JSON bytes.

    `error` is null when applied, else `{"reason", "message"}`; messages are cut to 500
    characters and never carry contact details (parse_config's problems name options only).
    """
    err: dict[str, str] | None = None
    if error is not None:
        err = {"reason": error.reason, "message": error.message[:500]}
    elif status is not ReportStatus.APPLIED:
        err = {"reason": status.value, "message": message[:500]}
    body = {
        "version": version,
        "status": status.value,
        "error": err,
        "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# -- rollback ------------------------------------------------------------------------------

# When a new config is applied and the uplink has not connected within this long, the
# config is presumed to have cut the hub off (wrong broker, bad credentials) and the last
# good one is restored. The hub's reconnect backoff tops out at mqtt.reconnect_max_s
# (30 s by default), so the default leaves room for several attempts.
DEFAULT_ROLLBACK_AFTER_S: Final = 120.0


@dataclass(frozen=True)
class RollBack:
    """Restore the last good config; `version` is the one being abandoned."""

    version: int


class GuardState(Enum):
    """Where the guard is."""

    IDLE = "idle"  # running a config that has proved it can reach the broker
    ON_TRIAL = "on_trial"  # a new config is running and has not yet connected


class ApplyGuard:
    """Watches a freshly applied config until the uplink connects; says when to roll back.

    Times are monotonic seconds from the caller's clock. `on_connected` must be called on
    every successful connection (it is cheap when idle).
    """

    def __init__(self, rollback_after_s: float = DEFAULT_ROLLBACK_AFTER_S) -> None:
        self.rollback_after_s = rollback_after_s
        self.state = GuardState.IDLE
        self.version: int | None = None
        self._deadline = 0.0

    def on_applied(self, version: int, now: float) -> None:
        """A new config is running: start the trial (also at boot for an unconfirmed one)."""
        self.state = GuardState.ON_TRIAL
        self.version = version
        self._deadline = now + self.rollback_after_s

    def on_connected(self, now: float) -> int | None:
        """The uplink connected: the trial passed; returns the version to confirm as good."""
        if self.state is not GuardState.ON_TRIAL:
            return None
        self.state = GuardState.IDLE
        return self.version

    def tick(self, now: float) -> RollBack | None:
        """RollBack once the trial's time is up without a connection, else None."""
        if self.state is GuardState.ON_TRIAL and now >= self._deadline:
            self.state = GuardState.IDLE
            assert self.version is not None
            return RollBack(self.version)
        return None

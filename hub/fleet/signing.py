"""`keygen` and `sign-config`: the fleet's Ed25519 key and the envelopes it signs."""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import parse_config
from hub.errors import ConfigError
from hub.fleet.broker import FleetError
from hub.sync import ota

if TYPE_CHECKING:  # cryptography (~7 MB) is loaded only by the commands that sign
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def keygen(private_path: Path) -> str:
    """Write a new Ed25519 key (PEM, mode 0600) and `<path>.pub`; returns the public key text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = ota.public_key_text(key)
    try:
        # O_EXCL: never overwrite a fleet key, losing it would orphan every hub.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise FleetError(f"{private_path} exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise FleetError(f"cannot write {private_path}: {exc}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    Path(f"{private_path}.pub").write_text(public + "\n", encoding="ascii")
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 signing key in a PEM file written by keygen."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise FleetError(f"cannot read {path}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise FleetError(f"{path}: not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise FleetError(f"{path}: not an Ed25519 key")
    return key


def read_overlay(path: Path, *, check: bool = True) -> dict[str, Any]:
    """A partial config from TOML; ConfigError when a hub would refuse it outright.

    The check merges it over the defaults: a hub merges it over its own file, so this
    catches unknown options, wrong types and forbidden sections, not every cross-check.
    """
    try:
        overlay = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    if check:
        problems = ota.check_overlay(overlay)
        if problems:
            raise ConfigError(problems)
        parse_config(ota.merge_config({"hub": {"id": "fleet-check"}}, overlay))
    return overlay


def sign_config(
    key_path: Path,
    version: int,
    config_path: Path,
    *,
    hub: str | None = None,
    group: str | None = None,
    now: datetime | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """The signed envelope for a TOML partial config."""
    if not 1 <= version <= ota.MAX_VERSION:
        raise FleetError(f"--version must be from 1 to {ota.MAX_VERSION}")
    overlay = read_overlay(config_path, check=check)
    key = load_private_key(key_path)
    return ota.sign_envelope(key, version, overlay, now or datetime.now(UTC), hub=hub, group=group)

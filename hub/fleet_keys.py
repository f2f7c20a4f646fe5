"""The fleet's signing key (`pingan-hub keygen`): written once, never overwritten, read
by the admin tools that sign (`fleet push`, `fleet update`).

Kept apart from hub/fleet.py so the update tools (hub/update/admin.py), which the fleet
command line hosts, can read the key without importing that command line back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hub.errors import HubError
from hub.sync import ota

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class FleetError(HubError):
    """An admin tool could not do what was asked (bad key file, broker unreachable)."""


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

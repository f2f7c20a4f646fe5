"""One rooted exception tree; every boundary translates third-party errors into it."""

from __future__ import annotations


class HubError(Exception):
    """Root of every error pingan-hub raises on purpose."""


class ConfigError(HubError):
    """The configuration is unusable; `problems` says which options and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class StoreError(HubError):
    """The durable store could not do what was asked (disk full, corrupt file)."""


class UplinkError(HubError):
    """The MQTT uplink failed (connection refused, TLS, protocol)."""


class DecodeError(HubError):
    """Inbound bytes could not be understood (serial line, advert, MQTT payload)."""


class ControlError(HubError):
    """The local control socket could not be reached or answered with an error."""


class VoiceError(HubError):
    """A voice engine could not be loaded or failed while decoding."""

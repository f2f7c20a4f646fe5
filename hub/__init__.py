"""pingan-hub: the in-home hub of the 平安通 elderly safety service."""

from __future__ import annotations

__version__ = "0.1.0"

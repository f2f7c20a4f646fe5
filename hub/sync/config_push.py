"""Receiving a fleet config push: judge it, store it, say what to report (thin IO layer).

The pure judgement is `hub.sync.ota.verify_envelope`; the durable state is
`hub.store.config_store.ConfigStore`. This module joins the two the same way for the
hub (hub/services/fleet.py) and for the 1,000-hub benchmark (`bench/fleet.py`), so the
benchmark runs exactly the hub's verify -> store -> report path. File IO runs on a
worker thread: the fleet file is fsynced twice per push (apply, then confirm).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from hub.clock import Clock
from hub.config import Config
from hub.store.config_store import ConfigStore
from hub.sync.ota import Accepted, Rejected, ReportStatus, reported_payload, verify_envelope

_LOGGER = logging.getLogger(__name__)


async def receive_push(
    store: ConfigStore, raw: bytes, cfg: Config, local_raw: Mapping[str, Any], clock: Clock
) -> tuple[Accepted | None, bytes | None]:
    """Judge one `config/desired` payload against the running config and the stored state.

    Accepted: the overlay is stored as applied, on trial; returns (accepted, None) and the
    caller hot-applies `accepted.config`. Refused: an authentic version is recorded as
    seen; returns (None, the `rejected` report), or (None, None) for the retained copy of
    a version already judged. The caller holds its one-push-at-a-time lock.
    """
    state = await asyncio.to_thread(store.load)
    try:
        accepted = verify_envelope(
            raw,
            public_keys=cfg.fleet.public_keys,
            hub_id=cfg.hub.id,
            groups=cfg.fleet.groups,
            current_version=state.seen_version,
            current_digest=state.seen_digest or None,
            base=local_raw,
            now=clock.now(),
            clock_synced=clock.synced(),
        )
    except Rejected as rejected:
        _LOGGER.warning("config push refused: %s", rejected)
        if rejected.version is not None and rejected.seen:
            await asyncio.to_thread(store.record_seen, rejected.version, rejected.digest or "")
        if not rejected.should_report:
            return None, None
        return None, reported_payload(
            rejected.version, ReportStatus.REJECTED, clock.now(), error=rejected
        )
    await asyncio.to_thread(store.apply, accepted.version, accepted.overlay, accepted.digest)
    return accepted, None


async def confirm_push(store: ConfigStore, version: int) -> None:
    """The applied version reached the broker: store it as the last good one."""
    await asyncio.to_thread(store.confirm, version)

"""The update health check's decision (pure: no IO; the root-side check polls and acts).

A freshly installed slot is on trial until its own health check passes: the hub started
(systemd saw READY=1), the broker reached (the uplink is connected) and the outbox
readable (the hub answered `status` with its outbox depths and last seq). Then it is
marked good. A slot whose hub keeps failing, or that does not get there within the
deadline, is marked bad and the box reboots into the other slot.

A slot that is already committed is never rolled back by this check: it is marked good
(its boot tries given back) as soon as its hub is up, and a broker that is unreachable
for a day leaves it running where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

# How long a new slot has to prove itself. A Pi 3 boots and starts the hub in well under
# a minute; the uplink's reconnect backoff tops out at 30 s (mqtt.reconnect_max_s), and a
# broker reached over a cellular link can take a minute more. Ten minutes leaves room for
# that without leaving a broken version in charge for long.
TRIAL_DEADLINE_S: Final = 600.0
# The hub's unit restarts it 2 s after a failure (RestartSec=2): this many restarts in one
# boot is a hub that does not start, however long we wait.
MAX_HUB_RESTARTS: Final = 5


class Verdict(Enum):
    """What the check does next."""

    GOOD = "good"  # mark the slot good (and the update committed on a trial)
    WAIT = "wait"  # look again shortly
    BAD = "bad"  # mark the slot bad and reboot into the other one (trials only)


@dataclass(frozen=True)
class Observation:
    """One look at the running system."""

    hub_ready: bool  # the unit is active: READY=1 was sent
    hub_restarts: int  # how often systemd restarted the hub this boot
    broker_connected: bool  # the hub's uplink is connected
    outbox_readable: bool  # the hub read its outbox for `status`


def decide(trial: bool, seen: Observation, elapsed_s: float, deadline_s: float) -> Verdict:
    """GOOD, WAIT or BAD for what was seen `elapsed_s` after the check started."""
    if not trial:
        return Verdict.GOOD if seen.hub_ready else Verdict.WAIT
    if seen.hub_ready and seen.broker_connected and seen.outbox_readable:
        return Verdict.GOOD
    if seen.hub_restarts >= MAX_HUB_RESTARTS or elapsed_s >= deadline_s:
        return Verdict.BAD
    return Verdict.WAIT


def failure_message(seen: Observation, elapsed_s: float) -> str:
    """Why a trial failed, for the report."""
    missing = [
        what
        for what, ok in (
            ("the hub did not start", seen.hub_ready),
            ("the broker was not reached", seen.broker_connected),
            ("the outbox was not readable", seen.outbox_readable),
        )
        if not ok
    ]
    restarts = f"; the hub was restarted {seen.hub_restarts} times" if seen.hub_restarts else ""
    return f"after {elapsed_s:.0f} s: {', '.join(missing) or 'no reason'}{restarts}"

"""Scanner stall watchdog (pure): when nothing has been heard for a while, restart the scan.

BlueZ scans are known to die silently after hours (bluez#1126, bleak#832,
theengs/gateway#264): the adapter still says "Discovering" but no advert arrives. A
flat always has something advertising (the wearable itself, phones, a TV), so a long
silence means the scanner, not the radio neighbourhood, has stopped.

Decisions, with `now` a monotonic time in seconds:
  * nothing heard for `stall_s` -> restart the scanner;
  * still nothing `stall_s` after that restart -> restart again and report a fault,
    once per outage; further restarts back off (doubling, up to RESTART_EVERY_MAX_S)
    so a dead adapter costs little;
  * a scanner that cannot even start -> a fault at once (once per outage);
  * anything heard -> the outage is over; `heard()` says whether a fault was reported,
    so the caller can say it has recovered.
"""

from __future__ import annotations

from dataclasses import dataclass

# A dead adapter is retried at least this often (an hour): it may come back after a
# USB reset, but restarting a scan every few seconds would only fill the log.
RESTART_EVERY_MAX_S = 3600.0


@dataclass(frozen=True)
class Verdict:
    """What the caller should do now."""

    restart: bool = False
    fault: bool = False
    detail: str = ""


class ScanWatchdog:
    """Watches the time since the last advert; see the module docstring."""

    def __init__(self, stall_s: float, now: float) -> None:
        self.stall_s = stall_s
        self.last_heard = now
        self._last_restart: float | None = None
        self._restarts = 0  # restarts in this outage
        self._wait = stall_s
        self.fault_reported = False

    def heard(self, now: float) -> bool:
        """An advert arrived; True when this ends an outage that was reported as a fault."""
        self.last_heard = now
        if not self._restarts and not self.fault_reported:
            return False  # the common case: nothing to reset (called for every advert)
        recovered = self.fault_reported
        self._restarts = 0
        self._last_restart = None
        self._wait = self.stall_s
        self.fault_reported = False
        return recovered

    def check(self, now: float) -> Verdict:
        """Called every few seconds: restart, and report, when the silence has gone on."""
        since = self.last_heard if self._last_restart is None else self._last_restart
        if now - since < self._wait:
            return Verdict()
        self._restarts += 1
        self._last_restart = now
        silent = round(now - self.last_heard)
        if self._restarts == 1:
            return Verdict(restart=True, detail=f"nothing heard for {silent} s; scanner restarted")
        self._wait = min(self._wait * 2, max(RESTART_EVERY_MAX_S, self.stall_s))
        if self.fault_reported:
            return Verdict(restart=True, detail=f"still nothing heard after {silent} s")
        self.fault_reported = True
        return Verdict(
            restart=True,
            fault=True,
            detail=f"BLE scanner hears nothing for {silent} s, restarting it did not help",
        )

    def start_failed(self, why: str) -> Verdict:
        """The scanner could not start: a fault at once (once per outage); the caller retries."""
        if self.fault_reported:
            return Verdict(detail=f"BLE scanner still cannot start: {why}")
        self.fault_reported = True
        return Verdict(fault=True, detail=f"BLE scanner cannot start: {why}")

"""Vital signs: per-elder thresholds, alert only when a reading stays abnormal.

Default thresholds (hub.care.config.VitalThresholds) and where they come from:
- SpO2 < 90 %: hypoxaemia, WHO "Pulse Oximetry Training Manual" (2011).
- heart rate <= 40 or > 130 bpm: NEWS2 (Royal College of Physicians, 2017) scores 3
  ("urgent response") at <= 40 and >= 131.
- systolic >= 180 or diastolic >= 110 mmHg: grade 3 hypertension, Chinese Guidelines for
  the Management of Hypertension 2018 (and ESC/ESH 2018).
- systolic <= 90 mmHg: NEWS2 scores 3.
- a new episode starts when no abnormal reading came for `EPISODE_GAP_S` (1 h, a hub
  choice), so a second episode alerts again even if no normal reading came in between.
- sustained 5 min: a hub choice so that one noisy reading (a moving finger on an
  oximeter) never alerts; at least two abnormal readings `sustained_min` apart are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.care.config import VitalThresholds
from hub.clock import Clock
from hub.event import Draft, Source
from hub.reading import Reading


@dataclass(frozen=True)
class Limit:
    """One measure's abnormal test."""

    name: str
    kind: str
    field: str
    low: bool  # True: abnormal below the threshold


def _limits(t: VitalThresholds) -> list[tuple[Limit, float]]:
    return [
        (Limit("spo2_low", "spo2", "spo2_pct", True), t.spo2_low_pct),
        (Limit("heart_rate_low", "heart_rate", "bpm", True), t.hr_low_bpm + 0.5),
        (Limit("heart_rate_high", "heart_rate", "bpm", False), t.hr_high_bpm),
        (Limit("systolic_high", "blood_pressure", "systolic_mmhg", False), t.systolic_high_mmhg),
        (Limit("systolic_low", "blood_pressure", "systolic_mmhg", True), t.systolic_low_mmhg + 0.5),
        (
            Limit("diastolic_high", "blood_pressure", "diastolic_mmhg", False),
            t.diastolic_high_mmhg,
        ),
    ]


def _abnormal(limit: Limit, value: float, threshold: float) -> bool:
    # high limits are inclusive (>= 180), low limits strict (< 90); +0.5 above makes <= 40.
    return value < threshold if limit.low else value >= threshold


EPISODE_GAP_S = 3600.0  # see the module docstring


class VitalsCheck:
    """Tracks, per measure, since when readings are abnormal."""

    def __init__(self, thresholds: VitalThresholds) -> None:
        self.t = thresholds
        self.since: dict[str, float] = {}
        self.alerted: set[str] = set()
        self.last_abnormal: dict[str, float] = {}

    def feed(self, reading: Reading, clock: Clock, source: Source) -> list[Draft]:
        """vital_abnormal when a measure has stayed abnormal for `sustained_min`."""
        drafts = []
        for limit, threshold in _limits(self.t):
            raw = reading.values.get(limit.field) if reading.kind == limit.kind else None
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                continue
            if not _abnormal(limit, float(raw), threshold):
                self.since.pop(limit.name, None)
                self.alerted.discard(limit.name)
                continue
            now = clock.monotonic()
            if now - self.last_abnormal.get(limit.name, now) > EPISODE_GAP_S:
                self.since.pop(limit.name, None)
                self.alerted.discard(limit.name)
            self.last_abnormal[limit.name] = now
            first = self.since.setdefault(limit.name, now)
            lasted = clock.monotonic() - first
            if limit.name in self.alerted or lasted < self.t.sustained_min * 60:
                continue
            self.alerted.add(limit.name)
            drafts.append(
                Draft.create(
                    "vital_abnormal",
                    clock,
                    source=source,
                    data={
                        "measure": limit.name,
                        "value": raw,
                        "threshold": round(threshold),
                        "explain": f"{limit.field} {raw} abnormal for {lasted / 60:.0f} min",
                    },
                )
            )
        return drafts

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (a sustained run restarts after a restart)."""
        return {"alerted": sorted(self.alerted)}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load state saved by to_dict."""
        self.alerted = set(raw.get("alerted", []))

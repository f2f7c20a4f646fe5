"""Vital signs: per-elder thresholds, alert only when a reading stays abnormal.

Default thresholds (hub.care.config.VitalThresholds) and where they come from:
- SpO2 < 90 %: hypoxaemia, WHO "Pulse Oximetry Training Manual" (2011): a warning.
- SpO2 < 88 %: an alarm (priority 0). 88 % is the lowest target saturation in the BTS
  guideline for oxygen use in healthcare and emergency settings (O'Driscoll et al.,
  Thorax 2017;72:i1-i90), the 88-92 % range kept for patients at risk of hypercapnic
  respiratory failure (COPD): sustained below it is below target even for them, so for
  anyone it needs help now, not a note for tomorrow.
- heart rate <= 40 or > 130 bpm: NEWS2 (Royal College of Physicians, 2017) scores 3
  ("urgent response") at <= 40 and >= 131.
- systolic >= 180 or diastolic >= 110 mmHg: grade 3 hypertension, Chinese Guidelines for
  the Management of Hypertension 2018 (and ESC/ESH 2018).
- systolic <= 90 mmHg: NEWS2 scores 3.
- a new episode starts when no abnormal reading came for `EPISODE_GAP_S` (1 h, a hub
  choice), so a second episode alerts again even if no normal reading came in between.
- sustained 5 min: a hub choice so that one noisy reading (a moving finger on an
  oximeter) never alerts; at least two abnormal readings `sustained_min` apart are needed.
- a reading of 0 (or a heart-rate strap's "no skin contact") is the band off the wrist,
  not a measurement: it is skipped (a real pulse of 0 is a collapse, which no wrist band
  can tell from a band on the table; the inactivity and survival checks catch it).
When the critical and the mild limit of one measure are both sustained, only the alarm
is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.care.config import VitalThresholds
from hub.care.signs import is_worn
from hub.clock import Clock
from hub.event import Draft, Priority, Source
from hub.reading import Reading


@dataclass(frozen=True)
class Limit:
    """One measure's abnormal test."""

    name: str
    kind: str
    field: str
    low: bool  # True: abnormal below the threshold
    priority: Priority = Priority.WARNING
    milder: str = ""  # the warning this alarm stands for when both are sustained


def _limits(t: VitalThresholds) -> list[tuple[Limit, float]]:
    # An alarm comes before the warning it stands for (see the module docstring).
    return [
        (
            Limit("spo2_critical", "spo2", "spo2_pct", True, Priority.ALARM, "spo2_low"),
            t.spo2_critical_pct,
        ),
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
        drafts: list[Draft] = []
        if reading.kind in ("heart_rate", "spo2", "blood_pressure") and not is_worn(reading):
            return drafts  # off the wrist: no measurement at all
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
            if limit.milder:
                self.alerted.add(limit.milder)
            severity = "critical" if limit.priority is Priority.ALARM else "mild"
            explain = f"{limit.field} {raw} abnormal for {lasted / 60:.0f} min"
            drafts.append(
                Draft.create(
                    "vital_abnormal",
                    clock,
                    priority=limit.priority,
                    source=source,
                    data={
                        "measure": limit.name,
                        "severity": severity,
                        "value": raw,
                        "threshold": round(threshold),
                        "explain": explain,
                        "rule": limit.name,
                        "why": [
                            f"rule {limit.name} ({severity}, threshold {round(threshold)}, "
                            f"sustained {self.t.sustained_min:g} min): {explain}",
                            f"readings from {reading.device} since {lasted / 60:.0f} min ago, "
                            f"last {raw}",
                        ],
                    },
                )
            )
        return drafts

    def abnormal(self, measure: str) -> bool:
        """Whether `measure` (a limit name) is abnormal now (an episode is running)."""
        return measure in self.since

    def explain(self) -> str:
        """One line for `simulate --explain`."""
        if not self.since:
            return "every measure normal (or not measured)"
        return "abnormal: " + ", ".join(sorted(self.since))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (a sustained run restarts after a restart)."""
        return {"alerted": sorted(self.alerted)}

    def restore(self, raw: dict[str, Any]) -> None:
        """Load state saved by to_dict."""
        self.alerted = set(raw.get("alerted", []))

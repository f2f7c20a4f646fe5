"""Generated days of an ordinary life, as the hub keeps them, for the family page's
pictures (tests/test_family_pictures_page.py, the browser test, bench/family_page.py).

Deterministic from a seed. The learned routine's profile (local date -> active 5-minute
slots), the routine's daily history, and the health archive's 5-minute buckets: heart
rate from a wristband every bucket of the day, SpO2 from an oximeter every bucket, blood
pressure from a cuff twice a day. What the generator put in is returned with it, so a
test compares the page's words with the data they describe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.store.health import Bucket

BUCKET_S = 300
SLOT_MIN = 5


@dataclass
class FamilyData:
    """What was generated, and its facts."""

    profile: dict[str, list[int]] = field(default_factory=dict)  # local date -> slots
    buckets: list[Bucket] = field(default_factory=list)
    wake_min: dict[date, int] = field(default_factory=dict)  # local date -> minute of day
    bed_min: dict[date, int] = field(default_factory=dict)
    hr: tuple[float, float] = (float("inf"), float("-inf"))  # the lowest and highest bpm
    # The lowest and highest heart rate of each local day (to check the week's words).
    hr_by_day: dict[date, tuple[float, float]] = field(default_factory=dict)


def _bucket(start: int, device: str, measure: str, values: list[float]) -> Bucket:
    b = Bucket(start, device, measure)
    for v in values:
        b.add(v)
    return b


def generate(
    days: int,
    now: datetime,
    tz: ZoneInfo,
    *,
    seed: int = 20261203,
    late_days: int = 0,
) -> FamilyData:
    """`days` local days up to `now` (today partial). She gets up about 06:30 (the last
    `late_days` days about 08:00), is active on and off until about 21:30."""
    rng = random.Random(seed)
    data = FamilyData()
    local_now = now.astimezone(tz)
    today = local_now.date()
    lo, hi = float("inf"), float("-inf")
    for n in range(days - 1, -1, -1):
        day = today - timedelta(days=n)
        midnight = datetime.combine(day, time(0), tz)
        wake = (8 * 60 if n < late_days else 6 * 60 + 30) + rng.randrange(-15, 16)
        bed = 21 * 60 + 30 + rng.randrange(-20, 21)
        data.wake_min[day] = wake
        data.bed_min[day] = bed
        slots = set(range(wake // SLOT_MIN, bed // SLOT_MIN + 1, 2))
        slots |= {s + 1 for s in slots if rng.random() < 0.5}
        limit = (local_now.hour * 60 + local_now.minute) // SLOT_MIN if n == 0 else 288
        data.profile[day.isoformat()] = sorted(s for s in slots if s < min(limit, 288))
        day_lo, day_hi = float("inf"), float("-inf")
        for slot in range(288):
            start = int(midnight.timestamp()) + slot * BUCKET_S
            if start + BUCKET_S > now.timestamp():
                break
            asleep = not wake <= slot * SLOT_MIN <= bed
            base = (60 if asleep else 74) + rng.uniform(-4, 4)
            beats = [round(base + rng.uniform(-6, 6)) for _ in range(5)]
            data.buckets.append(_bucket(start, "ble:band", "bpm", [float(b) for b in beats]))
            day_lo, day_hi = min(day_lo, *beats), max(day_hi, *beats)
            spo2 = [float(round(96.5 + rng.uniform(-1.5, 1.5))) for _ in range(5)]
            data.buckets.append(_bucket(start, "ble:oximeter", "spo2_pct", spo2))
            if slot * SLOT_MIN in (wake + 30 - (wake + 30) % 5, 19 * 60):
                sys_, dia = 128 + rng.uniform(-12, 14), 80 + rng.uniform(-8, 8)
                data.buckets.append(_bucket(start, "ble:cuff", "systolic_mmhg", [round(sys_)]))
                data.buckets.append(_bucket(start, "ble:cuff", "diastolic_mmhg", [round(dia)]))
        if day_lo <= day_hi:
            data.hr_by_day[day] = (day_lo, day_hi)
            lo, hi = min(lo, day_lo), max(hi, day_hi)
    data.hr = (lo, hi)
    return data

"""A month of an elder's life, generated from a seed, lived through the real care checks.

Each seed gives one elder's month: a flat with a PIR in the bedroom, bathroom, kitchen,
living room and hall, a front-door contact and a wristband (heart rate every 10 min,
SpO2 every 30 min, a step count every 10 min, presence near/away). Her days vary with
the seed: waking 06:00-07:20, breakfast, the green check-in button (forgotten some days,
pressed late on some), a morning outing most days (with the band; on the days she leaves
the band on the table she holds the green button before a long outing, as the installer
taught her), naps of up to 2.5 h, television with movement every 10-60 min, parcels at
the door, a shower some evenings, her son visiting weekly (leaving after she went to bed
on some visits), one or two night visits to the bathroom (some of them 15-40 min long,
with movement every few minutes), the band charging 20:00-21:00, a SpO2 dip to 89 % for
10 minutes some nights. Around her, the sensors' own reports: a PIR's "no motion" 2 min
after each motion, the door's daily "closed" status report, a sensor offline for two
hours and a low battery once a month.

The same seed gives the same month twice: ordinary, and with emergencies injected (three
of each kind below, one a day from day 3, plus one smoke, gas and water alarm). During
an emergency her own actions stop (the sensors' reports and her band's pulse go on)
until help arrives 20-60 min after the alarm was due; then her day goes on.

Injected, what must be raised (priority 0), and by when (the documented time):
- fall_band_worn, she falls at home by day with her band on: inactivity by her last
  action + 180 min + 5 min pre-alarm + 1 min tick + 10 min (the band's step report lag);
- fall_night_bathroom, she falls in the bathroom at night: fall_suspected by her last
  movement + 30 min + 5 min pre-alarm + 1 min tick;
- wander_with_band, she walks out at night with her band on: night_exit by the door
  + 15 min (night_return_min) + 1 min tick;
- spo2_critical, SpO2 84-86 % with the band measuring every 5 min: vital_abnormal by
  the first low reading + 5 min sustained + 5 min reading interval;
- dead_band_parcel_fall, her band's battery dies; later she opens the door for a parcel
  and falls: inactivity by the door + 180 min + 5 min + 1 min;
- outing_no_return, she goes out with her band and does not come back: survival_overdue
  by the door + 24 h + 1 min + 10 min (the step report lag);
- smoke, gas, water: the same kind, at once.

The care configuration is the one an installer would set for her (HEADER): idle 180 min
between 08:00 and 21:00, continuous 12 h, check-in reminder 10:00, night 22:00-06:00
(night exit on by default with the door contact paired), night visit 30 min.

    python -m bench.care_month [--seeds 101-120] [--days 30] [--timeline SEED]

Tuned on seeds 1-5 (tests/test_care_month.py uses seed 1); figures in bench/README.md
are for seeds the generator was not tuned on.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from hub.care.scenario import TimelineEntry, simulate_text

MIN = 60
HOUR = 3600
DAY = 86400

RULES = (
    '[{mode = "idle_in_window", start = "08:00", end = "21:00", minutes = 180}, '
    '{mode = "continuous", hours = 12}]'
)
HEADER = f"""\
title   a generated month
start   2026-11-02
config  checkin_reminder = "10:00"
config  checkin_grace_min = 120
config  inactivity = {RULES}
config  wearable_devices = ["band:wrist"]
device  pir:bed motion 卧室
device  pir:bath motion 卫生间
device  pir:kitchen motion 厨房
device  pir:living motion 客厅
device  pir:hall motion 玄关
device  door:front door 大门
device  band:wrist wearable
device  det:smoke smoke 厨房
device  det:gas gas 厨房
device  det:water water 卫生间
"""
# The documented times of the list above, in seconds after the moment each counts from.
# The band reports its step count every 10 min: steps taken just before she fell (or
# walked out of range) arrive up to 10 min later, and count as her last action.
STEP_LAG = 10 * MIN
IDLE_DEADLINE = (180 + 5 + 1) * MIN + STEP_LAG
NIGHT_VISIT_DEADLINE = (30 + 5 + 1) * MIN
NIGHT_EXIT_DEADLINE = (15 + 1) * MIN
SPO2_DEADLINE = 10 * MIN
PARCEL_DEADLINE = (180 + 5 + 1) * MIN
SURVIVAL_DEADLINE = 24 * HOUR + 1 * MIN + STEP_LAG
KINDS = (
    "fall_band_worn",
    "fall_night_bathroom",
    "wander_with_band",
    "spo2_critical",
    "dead_band_parcel_fall",
    "outing_no_return",
)
EXPECTED = {
    "fall_band_worn": "inactivity",
    "fall_night_bathroom": "fall_suspected",
    "wander_with_band": "night_exit",
    "spo2_critical": "vital_abnormal",
    "dead_band_parcel_fall": "inactivity",
    "outing_no_return": "survival_overdue",
    "smoke": "smoke",
    "gas": "gas",
    "water": "water",
}


@dataclass(frozen=True)
class Line:
    """One scenario line at `at` seconds after day 1 00:00 local."""

    at: int
    words: str
    action: bool = True  # something she did (none while she lies fallen)


@dataclass(frozen=True)
class Emergency:
    """What was injected, when, and by when its alarm must be raised."""

    kind: str
    at: int
    deadline: int
    rescue: int  # help arrives: her actions go on from here

    @property
    def expected(self) -> str:
        """The event kind that must be raised (priority 0)."""
        return EXPECTED[self.kind]


@dataclass
class Life:
    """A month being written: lines, and the band's intervals (filled in last)."""

    rng: random.Random
    days: int
    lines: list[Line] = field(default_factory=list)
    band_out: list[tuple[int, int]] = field(default_factory=list)  # carried out of range
    band_off: list[tuple[int, int]] = field(default_factory=list)  # charging: no readings
    band_table: list[tuple[int, int]] = field(default_factory=list)  # off the wrist, near
    band_dead: list[tuple[int, int]] = field(default_factory=list)  # flat battery
    spo2_low: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, value
    quiet: list[tuple[int, int]] = field(default_factory=list)  # she does nothing
    outings: list[tuple[int, int]] = field(default_factory=list)
    night_visits: dict[int, list[int]] = field(default_factory=dict)  # day -> visit starts

    def add(self, at: int, words: str, *, action: bool = True) -> None:
        """A line at `at` seconds."""
        self.lines.append(Line(at, words, action))

    def motion(self, at: int, room: str) -> None:
        """She moves in `room`; the PIR reports "no motion" 2 min later (not her)."""
        self.add(at, f"motion pir:{room}")
        self.add(at + 2 * MIN, f"motion pir:{room} motion=false", action=False)

    def door(self, at: int, open_s: int = 20) -> None:
        """The front door opened and closed again `open_s` later."""
        self.add(at, "door door:front open=true")
        self.add(at + open_s, "door door:front open=false")

    def moving(self, start: int, end: int, rooms: tuple[str, ...], gap: tuple[int, int]) -> int:
        """Motion in `rooms` from `start` to `end`, gaps drawn from `gap` minutes."""
        t = start
        while t < end:
            self.motion(t, self.rng.choice(rooms))
            t += self.rng.randint(*gap) * MIN
        return t

    def bathroom(self, start: int, minutes: int, gap: tuple[int, int] = (1, 4)) -> int:
        """A visit to the bathroom of about `minutes`; returns when she leaves it."""
        end = start + minutes * MIN
        self.moving(start, end, ("bath",), gap)
        return end


def _in(t: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= t < b for a, b in spans)


def ordinary_day(life: Life, d: int) -> None:
    """Day `d` (1-based) of her life, and the night after it."""
    rng, base = life.rng, (d - 1) * DAY
    wake = base + rng.randint(6 * 60, 7 * 60 + 20) * MIN
    life.motion(wake, "bed")
    t = life.bathroom(wake + rng.randint(1, 3) * MIN, rng.randint(3, 8))
    t = life.moving(t + MIN, t + rng.randint(20, 40) * MIN, ("kitchen",), (3, 10))
    r = rng.random()
    if r < 0.90:
        life.add(wake + rng.randint(15, 60) * MIN, "press green")
    elif r < 0.95:  # forgets, then hears the 10:00 reminder
        life.add(base + 10 * HOUR + rng.randint(5, 90) * MIN, "press green")
    table_day = rng.random() < 0.1
    if table_day:  # the band comes off after breakfast and stays on the table till bed
        life.band_table.append((t, base + 21 * HOUR))
    if rng.random() < 0.6:  # the morning outing
        leave = max(t + 10 * MIN, base + rng.randint(8 * 60 + 30, 10 * 60) * MIN)
        back = leave + rng.randint(60, 200) * MIN
        if table_day and back - leave > 150 * MIN:
            life.add(leave - 3 * MIN, "hold green")  # "I am going out" (no band on her)
        life.motion(leave - MIN, "hall")
        life.door(leave)
        life.door(back)
        life.motion(back + MIN, "hall")
        life.outings.append((leave, back))
        if not table_day:
            life.band_out.append((leave + 3 * MIN, back + 20))
        t = back + 2 * MIN
    nap = rng.random() < 0.5
    nap_at = base + rng.randint(13 * 60, 13 * 60 + 40) * MIN
    nap_end = nap_at + rng.randint(60, 150) * MIN
    lunch = max(t, base + rng.randint(11 * 60 + 20, 11 * 60 + 50) * MIN)
    t = life.moving(t, lunch, ("living", "kitchen"), (5, 45))
    t = life.moving(lunch, lunch + rng.randint(30, 60) * MIN, ("kitchen",), (4, 12))
    if nap:
        t = life.moving(t, nap_at, ("living", "kitchen"), (10, 40))
        life.motion(nap_at, "bed")
        life.motion(nap_end, "bed")
        t = nap_end + rng.randint(5, 30) * MIN
    dinner = base + rng.randint(17 * 60 + 20, 18 * 60) * MIN
    t = life.moving(t, dinner, ("living", "living", "kitchen"), (10, 60))
    if rng.random() < 0.15:  # a parcel at the door
        at = base + rng.randint(10 * 60, 17 * 60) * MIN
        if not _in(at, life.outings):
            life.motion(at - MIN, "hall")
            life.door(at, 40)
            life.motion(at + MIN, "hall")
    t = life.moving(dinner, dinner + rng.randint(30, 50) * MIN, ("kitchen",), (4, 12))
    visitor = d % 7 == 3
    if visitor:
        arrive = base + rng.randint(18 * 60, 19 * 60) * MIN
        life.door(arrive)
        life.motion(arrive + MIN, "hall")
    bed = base + rng.randint(21 * 60, 22 * 60 + 30) * MIN
    leave = None
    if visitor:
        leave = base + rng.randint(21 * 60, 22 * 60 + 45) * MIN
        if rng.random() < 0.3:  # she is already in bed when he lets himself out
            bed = min(bed, leave - rng.randint(5, 20) * MIN)
        else:
            bed = max(bed, leave + rng.randint(5, 20) * MIN)
    if rng.random() < 0.5:  # a shower before bed (over at least 5 min before it)
        shower = bed - rng.randint(40, 80) * MIN
        t = life.moving(t, shower, ("living",), (15, 45))
        t = life.bathroom(shower, rng.randint(20, 35), (3, 8))
    t = life.moving(t, bed, ("living",), (15, 45))
    if leave is not None:
        life.door(leave)
    life.motion(bed, "bed")
    life.band_off.append((base + 20 * HOUR, base + 21 * HOUR))  # charging
    life.add(base + rng.randint(0, 23 * 60) * MIN, "door door:front open=false", action=False)
    if rng.random() < 0.1:  # a SpO2 dip in her sleep: mild, a warning
        dip = bed + rng.randint(60, 300) * MIN
        life.spo2_low.append((dip, dip + 10 * MIN, 89))
    next_wake = d * DAY + 6 * HOUR
    visits = rng.choices((0, 1, 2), weights=(3, 5, 2))[0]
    starts = sorted(rng.randint(bed + HOUR, next_wake - 45 * MIN) for _ in range(visits))
    life.night_visits[d] = []
    last = bed
    for start in starts:
        if start < last + 20 * MIN:
            continue
        life.motion(start, "bed")
        long = rng.random() < 0.1
        minutes = rng.randint(15, 40) if long else rng.randint(3, 15)
        end = life.bathroom(start + MIN, minutes, (3, 9) if long else (1, 4))
        life.motion(end + MIN, "bed")
        life.night_visits[d].append(start)
        last = end


def _quiet(life: Life, start: int, rescue: int) -> None:
    """Her own actions stop from `start` until help arrives."""
    life.quiet.append((start, rescue))


def inject(life: Life, kind: str, d: int) -> Emergency:
    """One emergency on day `d` (or the night after it)."""
    rng, base = life.rng, (d - 1) * DAY
    if kind in ("smoke", "gas", "water"):
        at = base + rng.randint(10 * 60, 19 * 60) * MIN
        life.add(at, f"{kind} det:{kind} alarm=true", action=False)
        life.add(at + 30 * MIN, f"{kind} det:{kind} alarm=false", action=False)
        return Emergency(kind, at, at + MIN, at)
    if kind in ("fall_band_worn", "spo2_critical"):  # she wears the band all that day
        life.band_table[:] = [s for s in life.band_table if not base <= s[0] < base + DAY]
    if kind == "fall_band_worn":
        at = base + rng.randint(9 * 60 + 30, 17 * 60) * MIN
        while _in(at, life.outings):
            at += 30 * MIN
        life.motion(at, "kitchen")
        deadline = at + IDLE_DEADLINE
        rescue = deadline + rng.randint(20, 60) * MIN
        _quiet(life, at + 1, rescue)
        life.door(rescue)  # the grid worker lets herself in
        life.motion(rescue + MIN, "kitchen")
        return Emergency(kind, at, deadline, rescue)
    if kind == "fall_night_bathroom":
        start = d * DAY + rng.randint(60, 4 * 60 + 30) * MIN  # 01:00-05:30
        life.motion(start, "bed")
        life.motion(start + MIN, "bath")
        last = start + 3 * MIN
        life.motion(last, "bath")
        deadline = last + NIGHT_VISIT_DEADLINE
        rescue = deadline + rng.randint(20, 60) * MIN
        _quiet(life, last + 1, rescue)
        life.door(rescue)
        life.motion(rescue + MIN, "bath")
        life.motion(rescue + 10 * MIN, "bed")
        return Emergency(kind, last, deadline, rescue)
    if kind == "wander_with_band":
        start = d * DAY + rng.randint(60, 4 * 60) * MIN  # 01:00-05:00
        life.motion(start, "bed")
        life.motion(start + 2 * MIN, "hall")
        out = start + 3 * MIN
        life.door(out)
        deadline = out + NIGHT_EXIT_DEADLINE
        rescue = deadline + rng.randint(30, 90) * MIN
        _quiet(life, out + 21, rescue)
        life.band_out.append((out + 3 * MIN, rescue + 20))
        life.door(rescue)  # brought home by the neighbourhood patrol
        life.motion(rescue + MIN, "hall")
        life.motion(rescue + 5 * MIN, "bed")
        return Emergency(kind, out, deadline, rescue)
    if kind == "spo2_critical":
        at = base + rng.randint(10 * 60, 19 * 60) * MIN
        while _in(at, life.outings):
            at += 30 * MIN
        life.spo2_low.append((at, at + 25 * MIN, rng.choice((84, 85, 86))))
        return Emergency(kind, at, at + SPO2_DEADLINE, at + 25 * MIN)
    if kind == "dead_band_parcel_fall":
        dies = base + rng.randint(10 * 60, 11 * 60 + 30) * MIN
        while _in(dies, [(a - 20 * MIN, b + 20 * MIN) for a, b in life.outings]):
            dies += 30 * MIN
        life.band_dead.append((dies, d * DAY + 7 * HOUR))  # charged: on again next morning
        at = base + rng.randint(14 * 60, 16 * 60) * MIN
        while _in(at, life.outings):
            at += 30 * MIN
        life.motion(at - MIN, "hall")
        life.door(at, 30)
        fell = at + 30
        deadline = fell + PARCEL_DEADLINE
        rescue = deadline + rng.randint(20, 60) * MIN
        _quiet(life, fell + 1, rescue)
        life.door(rescue)
        life.motion(rescue + MIN, "hall")
        return Emergency(kind, fell, deadline, rescue)
    if kind == "outing_no_return":
        leave = base + rng.randint(8 * 60 + 30, 10 * 60) * MIN
        life.motion(leave - MIN, "hall")
        life.door(leave)
        gone = leave + 20
        deadline = gone + SURVIVAL_DEADLINE
        rescue = deadline + rng.randint(30, 90) * MIN
        _quiet(life, gone + 1, rescue)
        life.band_out.append((leave + 3 * MIN, rescue + 20))
        life.outings.append((leave, rescue))
        life.door(rescue)  # found and brought home
        life.motion(rescue + MIN, "hall")
        return Emergency(kind, gone, deadline, rescue)
    raise ValueError(kind)


def plan(days: int) -> list[tuple[int, str]]:
    """Which emergency on which day: three of each kind from day 3, a free day after an
    outing that does not return (it spans two days), then smoke, gas and water."""
    kinds = [k for k in KINDS for _ in range(3)]
    out: list[tuple[int, str]] = []
    d = 3
    for kind in kinds:
        out.append((d, kind))
        d += 2 if kind == "outing_no_return" else 1
    for kind in ("smoke", "gas", "water"):
        out.append((d, kind))
        d += 1
    if d - 1 > days:
        raise ValueError(f"{len(out)} emergencies need {d - 1} days")
    return out


def _band(life: Life) -> None:
    """The band's readings, from the intervals and what she did (written last)."""
    end = life.days * DAY
    gone: list[tuple[int, int]] = []  # out of range or flat, intervals merged
    for a, b in sorted(life.band_out + life.band_dead):
        if gone and a <= gone[-1][1]:
            gone[-1] = (gone[-1][0], max(gone[-1][1], b))
        else:
            gone.append((a, b))
    for a, b in gone:
        life.add(a, "presence band:wrist present=false", action=False)
        life.add(b, "presence band:wrist present=true", action=False)
    acts = sorted(ln.at for ln in life.lines if ln.action and ln.words.startswith("motion pir:"))
    steps, i = 0, 0
    rng = life.rng
    for t in range(10 * MIN, end, 10 * MIN):
        if t % DAY == 0:
            steps = 0
        moved = 0
        while i < len(acts) and acts[i] <= t:
            moved += 1
            i += 1
        if _in(t, gone) or _in(t, life.band_off):
            continue
        if _in(t, life.band_table):
            life.add(t, "heart_rate band:wrist bpm=0", action=False)
            continue
        night = t % DAY < 6 * HOUR or t % DAY >= 22 * HOUR
        bpm = rng.randint(55, 64) if night else rng.randint(66, 84)
        life.add(t, f"heart_rate band:wrist bpm={bpm}", action=False)
        if moved:
            steps += moved * rng.randint(15, 40)
        life.add(t + 5, f"activity band:wrist steps={steps}", action=False)
        if t % (30 * MIN) == 5 * MIN and not any(a <= t < b for a, b, _ in life.spo2_low):
            life.add(t, f"spo2 band:wrist spo2_pct={rng.randint(94, 98)}", action=False)
    for a, b, value in life.spo2_low:
        for t in range(a, b, 5 * MIN):
            if not (_in(t, gone) or _in(t, life.band_off)):
                life.add(t, f"spo2 band:wrist spo2_pct={value}", action=False)


def month(seed: int, days: int = 30, *, emergencies: bool) -> tuple[str, list[Emergency]]:
    """Scenario text of the seed's month (with or without emergencies) and what was injected."""
    base = random.Random(seed)
    life = Life(random.Random(base.random()), days)
    for d in range(1, days + 1):
        ordinary_day(life, d)
    hub_rng = random.Random(base.random())
    mid = (days // 2) * DAY + hub_rng.randint(9 * 60, 15 * 60) * MIN
    silent = (mid, mid + 2 * HOUR)  # battery swap: the living-room PIR hears nothing
    life.lines = [
        ln for ln in life.lines if not ("pir:living" in ln.words and _in(ln.at, [silent]))
    ]
    life.add(mid, "offline pir:living", action=False)
    life.add(mid + 2 * HOUR, "online pir:living", action=False)
    life.add(mid + 3 * HOUR, "battery pir:hall 15", action=False)
    life.add(0, "presence band:wrist present=true", action=False)  # heard at start
    inject_seed, band_seed = base.random(), base.random()
    injected: list[Emergency] = []
    if emergencies:
        life.rng = random.Random(inject_seed)
        injected = [inject(life, kind, d) for d, kind in plan(days)]
        life.lines = [ln for ln in life.lines if not (ln.action and _in(ln.at, life.quiet))]
    life.rng = random.Random(band_seed)
    _band(life)
    body = []
    for ln in sorted(life.lines, key=lambda x: x.at):
        if ln.at >= days * DAY:
            continue
        day, sec = divmod(ln.at, DAY)
        hhmmss = f"{sec // HOUR:02d}:{sec // MIN % 60:02d}:{sec % MIN:02d}"
        body.append(f"day {day + 1} {hhmmss} {ln.words}")
    return HEADER + "\n".join(body) + "\n", injected


def at_s(entry: TimelineEntry) -> int:
    """An entry's time in seconds after day 1 00:00."""
    parts = [int(p) for p in entry.time.split(":")]
    sec = parts[0] * HOUR + parts[1] * MIN + (parts[2] if len(parts) > 2 else 0)
    return (entry.day - 1) * DAY + sec


@dataclass
class Result:
    """One seed's two months, judged."""

    seed: int
    normal_alarms: list[TimelineEntry]
    warnings: Counter[str]
    caught: list[tuple[Emergency, int | None]]  # the emergency, seconds to its alarm
    stray_alarms: list[TimelineEntry]  # p0 in the emergency month outside any emergency


def judge(seed: int, days: int = 30) -> Result:
    """Live the seed's month twice (ordinary, then with emergencies) and judge both."""
    text, _ = month(seed, days, emergencies=False)
    normal = simulate_text(text, days)
    alarms = [e for e in normal if e.priority == 0]
    warnings = Counter(e.kind for e in normal if e.priority == 1 and e.kind != "checkin")
    text, injected = month(seed, days, emergencies=True)
    timeline = simulate_text(text, days)
    caught: list[tuple[Emergency, int | None]] = []
    for em in injected:
        hits = [
            at_s(e) - em.at
            for e in timeline
            if e.kind == em.expected and e.priority == 0 and em.at <= at_s(e) <= em.deadline
        ]
        caught.append((em, min(hits) if hits else None))
    stray = [
        e
        for e in timeline
        if e.priority == 0 and not any(em.at <= at_s(e) <= em.rescue for em in injected)
    ]
    return Result(seed, alarms, warnings, caught, stray)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    """Print, per seed and in all, alarms on the ordinary month, warnings, emergencies caught."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="101-120", help="e.g. 101-120 or 1,2,3")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--timeline", type=int, default=None, help="print one seed's months")
    args = parser.parse_args()
    if args.timeline is not None:
        from hub.care.scenario import format_timeline

        for emergencies in (False, True):
            text, injected = month(args.timeline, args.days, emergencies=emergencies)
            timeline = simulate_text(text, args.days)
            shown = [e for e in timeline if e.kind != "checkin"]
            print(format_timeline(shown, f"seed {args.timeline}, emergencies={emergencies}"))
            for em in injected:
                print(f"  injected {em.kind} at {em.at // DAY + 1}/{em.at % DAY / 3600:.2f} h")
        return
    seeds = _seeds(args.seeds)
    started = time.monotonic()
    total_alarms, total_stray, caught, injected = 0, 0, 0, 0
    warnings: Counter[str] = Counter()
    delays: dict[str, list[int]] = {}
    missed: list[str] = []
    for seed in seeds:
        r = judge(seed, args.days)
        total_alarms += len(r.normal_alarms)
        total_stray += len(r.stray_alarms)
        warnings += r.warnings
        for em, delay in r.caught:
            injected += 1
            if delay is None:
                missed.append(f"seed {seed}: {em.kind} at day {em.at // DAY + 1}")
                continue
            caught += 1
            delays.setdefault(em.kind, []).append(delay)
        per = ", ".join(f"{k} {n}" for k, n in sorted(r.warnings.items()))
        print(
            f"seed {seed}: ordinary month p0 alarms {len(r.normal_alarms)}; warnings {per}; "
            f"emergencies caught {sum(d is not None for _, d in r.caught)}/{len(r.caught)}; "
            f"stray p0 {len(r.stray_alarms)}"
        )
        for e in r.normal_alarms + r.stray_alarms:
            print(f"    p0 day {e.day} {e.time} {e.kind}: {e.detail}")
    n = len(seeds)
    print(f"\n{n} seeds x {args.days} days, {time.monotonic() - started:.0f} s")
    print(f"ordinary months: {total_alarms} priority-0 alarms in all")
    print("warnings per month (mean over seeds):")
    for kind, count in sorted(warnings.items()):
        print(f"  {kind:20s} {count / n:5.2f}")
    print(f"emergencies caught in their documented time: {caught}/{injected}")
    for kind, ds in sorted(delays.items()):
        print(f"  {kind:22s} alarm after {min(ds) / 60:6.1f}-{max(ds) / 60:6.1f} min")
    print(f"priority-0 alarms outside any emergency, emergency months: {total_stray}")
    for m in missed:
        print(f"  MISSED {m}")


if __name__ == "__main__":
    main()

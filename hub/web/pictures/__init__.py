"""Pictures of her week for the family page: inline SVG drawn on the hub, with a sentence.

Pure: no IO, no aiohttp. The inputs are plain data built from the stores (signs of life,
presence history, check-ins, alarms, the health archive's 5-minute buckets) and a clock;
the output is an SVG string (no script, no external href, system fonts only: the page
must work on an offline LAN) and a one-line summary in words, which is also the
picture's accessible name, so a screen reader says what the picture shows.

Drawn for a 390 px wide phone: the SVG's viewBox is 390 wide and it scales to its box.
One module per picture: common (sizes, colours, words, data types), strip (7 days),
vitals (heart rate, SpO2, blood pressure), trend (30 days).
"""

from hub.web.pictures.common import (
    CELLS,
    GRID_W,
    LABEL_W,
    VITAL_DAYS,
    WORDS,
    DailyVital,
    Picture,
    Span,
    VitalLimits,
    WeekActivity,
)
from hub.web.pictures.strip import (
    activity_strip,
    away_spans,
    routine_strip,
    signs_from_routine,
    strip_start,
    usual_wake_from_routine,
    wake_minutes,
)
from hub.web.pictures.trend import DayRoutine, day_routines, routine_trend
from hub.web.pictures.vitals import (
    Series,
    blood_pressure_chart,
    daily_vitals,
    range_chart,
    vital_chart,
    vital_pictures,
)

__all__ = [
    "CELLS",
    "GRID_W",
    "LABEL_W",
    "VITAL_DAYS",
    "WORDS",
    "DailyVital",
    "DayRoutine",
    "Picture",
    "Series",
    "Span",
    "VitalLimits",
    "WeekActivity",
    "activity_strip",
    "away_spans",
    "blood_pressure_chart",
    "daily_vitals",
    "day_routines",
    "range_chart",
    "routine_strip",
    "routine_trend",
    "signs_from_routine",
    "strip_start",
    "usual_wake_from_routine",
    "vital_chart",
    "vital_pictures",
    "wake_minutes",
]

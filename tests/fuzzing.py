"""Hypothesis example counts: fast by default, large under HYPOTHESIS_PROFILE=fuzz.

Property tests keep their CI counts (`@settings(max_examples=examples(2000))`); the
`fuzz` profile multiplies every count by FUZZ_FACTOR (default 50), including the tests
that use Hypothesis' default of 100. bench/fuzz.py runs them all that way:

    HYPOTHESIS_PROFILE=fuzz FUZZ_FACTOR=50 .venv/bin/pytest -m hypothesis --timeout=1800 tests/
"""

from __future__ import annotations

import os

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
FACTOR = int(os.environ.get("FUZZ_FACTOR", "50")) if PROFILE == "fuzz" else 1


def examples(ci_count: int) -> int:
    """The example count for a property test: its CI count, times FUZZ_FACTOR when fuzzing."""
    return ci_count * FACTOR

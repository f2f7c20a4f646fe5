"""Any configuration document, local file or pushed, gives a Config or a ConfigError."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import SECTIONS, parse_config
from hub.errors import ConfigError
from tests.fuzzing import examples

SECTION_NAMES = [*SECTIONS, "escalation", "care", "fleet", "bogus"]
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(
    [
        "id",
        "port",
        "host",
        "tls",
        "ack_timeout_s",
        "contacts",
        "number",
        "public_keys",
        "survival_window_h",
        "inactivity",
        "pin_factory",
        "max_bytes",
        "timezone",
        "prefix",
        "x",
    ]
) | st.text(max_size=10)


@settings(max_examples=examples(1500), deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(SECTION_NAMES),
        st.dictionaries(KEYS, VALUES, max_size=5) | VALUES,
        max_size=5,
    )
)
def test_any_document_is_a_config_or_a_clear_error(doc: dict[str, Any]) -> None:
    try:
        cfg = parse_config(doc)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert cfg.hub.id

"""Hostile or broken payloads from the network are logged and ignored; the hub keeps working."""

from __future__ import annotations

import contextlib
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.sim.broker import Mosquitto
from hub.sync.messages import MAX_INBOUND_BYTES, Topics, parse_ack, parse_command
from tests.conftest import HUB_ID, HubFactory
from tests.fuzzing import examples
from tests.helpers import Collector, eventually
from tests.test_spine import press

GARBAGE = [
    b"",
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"id": 5, "state": "received"}',
    b'{"id": "x", "state": "on fire"}',
    b'{"id": "no-such-alarm", "state": "received"}',
    b'{"id": "' + b"a" * 100 + b'", "state": "received"}',
    b'{"id": "x", "state": "received", "operator": {"nested": true}}',
    b"[" * 100_000,  # deep nesting
    b'{"pad": "' + b"x" * (MAX_INBOUND_BYTES * 64) + b'"}',  # about 1 MB
]


async def test_garbage_on_ack_and_cmd_is_logged_and_ignored(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    hub = await make_hub(broker.port)
    await eventually(hub.uplink.connected.is_set)
    root = f"pingan/v1/{HUB_ID}"
    for payload in GARBAGE:
        await collector.publish(f"{root}/ack", payload)
        await collector.publish(f"{root}/cmd/speak", payload)
        await collector.publish(f"{root}/cmd/no_such_command", payload)

    def ignored(about: str) -> int:
        return sum(
            1 for r in caplog.records if "ignored" in r.getMessage() and about in r.getMessage()
        )

    # Every bad ack and every payload on the unknown command is logged as ignored.
    await eventually(lambda: ignored("no_such_command") == len(GARBAGE))
    assert ignored("/ack") + ignored("unknown alarm") == len(GARBAGE)
    # Still alive and still doing its job, on the same connection.
    await press(hub)
    [sos] = await collector.wait_event("sos")
    assert sos["seq"] == 1
    assert hub.uplink.state.connected


def test_an_ack_is_parsed_into_its_fields() -> None:
    ack = parse_ack(
        json.dumps(
            {"id": "0190", "state": "dispatched", "operator": "坐席 07", "note": "网格员已出发"}
        ).encode()
    )
    assert (ack.id, ack.state, ack.operator, ack.note) == (
        "0190",
        "dispatched",
        "坐席 07",
        "网格员已出发",
    )


def test_command_topics_are_only_ours() -> None:
    topics = Topics("pingan/v1/H1")
    assert topics.command_name("pingan/v1/H1/cmd/speak") == "speak"
    assert topics.command_name("pingan/v1/H2/cmd/speak") is None
    assert topics.command_name("pingan/v1/H1/cmd/") is None
    assert topics.command_name("pingan/v1/H1/cmd/a/b") is None


@settings(max_examples=examples(2000), deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_on_ack_give_an_ack_or_a_decode_error(payload: bytes) -> None:
    try:
        ack = parse_ack(payload)
    except DecodeError:
        return
    assert ack.state in ("received", "dispatched", "resolved")


@settings(max_examples=examples(1000), deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_on_ack_or_cmd_gives_a_result_or_a_decode_error(doc: object) -> None:
    payload = json.dumps(doc).encode()
    for parse in (parse_ack, parse_command):
        with contextlib.suppress(DecodeError):
            parse(payload)

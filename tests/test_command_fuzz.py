"""Whatever the centre or a local client sends, the command and control paths answer with
a decision or a clean error: never a crash, never a silenced prompt, never raw control
characters (property tests; bench/fuzz.py runs them with large counts)."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.control import MAX_DEPTH, MAX_REQUEST, ControlServer, json_depth
from hub.errors import DecodeError, HubError
from hub.sync.commands import (
    ESCALATION_TEST_EVERY_S,
    CentreTest,
    CommandGate,
    Verdict,
    command_id,
    parse_test,
)
from hub.sync.messages import parse_command
from hub.voice.prompts import SPEAK_MAX_CHARS, PromptRenderer, Speaker, TokenBucket
from hub.voice.speech_queue import Kind, SpeechQueue, Urgency, Utterance
from tests.fuzzing import examples

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
# Command payloads as a buggy or hostile centre writes them: JSON objects whose fields are
# nearly right, and anything at all.
PAYLOADS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.text(max_size=80), st.integers(), st.none(), JSON),
            "escalation": st.one_of(st.booleans(), JSON),
            "text": st.one_of(st.text(max_size=300), JSON),
            "hours": st.one_of(st.floats(), JSON),
        },
    ).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=512),
)


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(["test", "speak", "locate", "callback"]), PAYLOADS)
def test_any_command_payload_is_a_command_or_a_clean_refusal(name: str, payload: bytes) -> None:
    try:
        args = parse_command(payload)
        ident = command_id(args)
        if name == "test":
            command = parse_test(args)
            assert command.id == ident and isinstance(command.escalation, bool)
    except DecodeError:
        return
    assert ident is None or (0 < len(ident) <= 64 and ident.isprintable())


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D"]),  # few ids: many repeats
            st.booleans(),  # asks for the family
            st.booleans(),  # a test alarm is open
            st.floats(min_value=0, max_value=10 * ESCALATION_TEST_EVERY_S),
        ),
        max_size=60,
    )
)
def test_a_burst_of_tests_reaches_the_family_at_most_once_a_day(
    burst: list[tuple[str, bool, bool, float]],
) -> None:
    gate = CommandGate()
    family_at: list[float] = []
    now = 0.0
    for ident, family, test_open, step in burst:
        now += step / 60
        if not gate.first_time("test", ident):
            continue  # a repeat: obeyed once
        verdict = gate.judge_test(CentreTest(ident, family), test_open=test_open, now=now)
        if test_open:
            assert verdict is Verdict.BUSY
        if verdict is Verdict.RAISE_WITH_FAMILY:
            assert family and (not family_at or now - family_at[-1] >= ESCALATION_TEST_EVERY_S)
            family_at.append(now)
    assert len(family_at) <= 1 + int(now // ESCALATION_TEST_EVERY_S)


class NoSound:
    def __call__(self, argv: Any, stdin: bytes = b"") -> bytes:
        raise AssertionError("nothing is rendered or played while admitting text")


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=st.characters(codec="utf-8"), min_size=190)))
def test_any_centre_text_is_admitted_clean_and_short_or_refused(text: str) -> None:
    speaker = Speaker(
        PromptRenderer(Any, runner=NoSound()),  # type: ignore[arg-type]
        player=NoSound(),
        bucket=TokenBucket(capacity=1e9, tokens=1e9),
    )
    admitted = speaker.admit_centre_text(text, now=0.0)
    if admitted is None:
        return
    assert 0 < len(admitted) <= SPEAK_MAX_CHARS
    assert not any(unicodedata.category(ch).startswith("C") for ch in admitted)
    assert admitted == admitted.strip() and "  " not in admitted


UTTERANCES = st.one_of(
    st.sampled_from(["alarm_sent", "help_dispatched", "gas_guidance", "checkin_reminder"]).map(
        lambda p: Utterance(Kind.PROMPT, p)
    ),
    st.text(min_size=1, max_size=5).map(lambda t: Utterance(Kind.CENTRE, t)),
    st.just(Utterance(Kind.TEXT, "PIN")),
)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.one_of(UTTERANCES, st.just(None)), max_size=80))
def test_the_elders_prompts_are_never_dropped_and_always_go_first(
    steps: list[Utterance | None],
) -> None:
    queue = SpeechQueue()
    playing: Utterance | None = None
    for item in steps:
        if item is None:  # the speaker takes the next one
            playing = queue.pop()
            continue
        queued = queue.put(item, playing)
        if item.urgency is not Urgency.CENTRE:
            assert queued.accepted
            assert queued.interrupt == (playing is not None and playing.urgency is Urgency.CENTRE)
        assert all(d.urgency is Urgency.CENTRE for d in queued.dropped)
        assert len(queue) <= queue.capacity
        order = [u.urgency for u in queue.waiting()]
        assert order == sorted(order)


async def echo(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("fail"):
        raise HubError("refused")
    return {"echo": len(json.dumps(request))}


def answer(data: bytes) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        server = ControlServer(Any, {"status": echo})  # type: ignore[arg-type]
        reader = asyncio.StreamReader(limit=MAX_REQUEST)
        reader.feed_data(data)
        reader.feed_eof()
        return await server._answer(reader)

    return asyncio.run(run())


@settings(max_examples=examples(200), deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1024),
        st.builds(lambda d, n: b"[" * n + d, st.binary(max_size=64), st.integers(0, 20_000)),
        JSON.map(lambda j: json.dumps({"op": "status", "x": j}).encode() + b"\n"),
        st.just(b'{"op": "status", "fail": true}\n'),
    )
)
def test_any_bytes_on_the_control_socket_get_one_clear_answer(data: bytes) -> None:
    reply = answer(data)
    assert set(reply) <= {"ok", "error", "echo"} and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        assert isinstance(reply["error"], str) and len(reply["error"]) < 1000


@settings(max_examples=examples(200), deadline=None)
@given(JSON)
def test_nesting_is_counted_as_json_nests(value: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        return 0

    assert json_depth(json.dumps(value).encode()) == min(depth(value), MAX_DEPTH + 1)

"""The centre's commands are obeyed once: a burst of tests is one test alarm, a retained
command is never replayed, and a test reaches the family only when asked, once a day."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from hub.app import Hub
from hub.clock import FakeClock
from hub.config import RunningConfig, parse_config
from hub.errors import DecodeError
from hub.event import Event, Priority, new_event_id
from hub.services.centre import CentreCommands
from hub.sim.broker import Mosquitto
from hub.sos.escalation import AlarmFacts, Cascade, CascadeState, SendSms, Siren
from hub.sync.commands import (
    ESCALATION_TEST_EVERY_S,
    SEEN_IDS,
    CentreTest,
    CommandGate,
    Verdict,
    parse_test,
)
from hub.tasks import Tasks
from tests.conftest import HUB_ID, hub_raw
from tests.helpers import Collector, eventually
from tests.test_escalation import CFG

ROOT = f"pingan/v1/{HUB_ID}"
TS = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DAY = ESCALATION_TEST_EVERY_S
CONTACTS = [{"name": "王小红", "number": "+8613800138000", "relation": "女儿"}]


def test_a_test_command_needs_an_id_and_a_yes_or_no_for_the_family() -> None:
    assert parse_test({"id": "T-1"}) == CentreTest("T-1", escalation=False)
    assert parse_test({"id": "T-2", "escalation": True}) == CentreTest("T-2", escalation=True)
    for bad in (
        {},
        {"id": ""},
        {"id": 7},
        {"id": "x" * 65},
        {"id": "a\nb"},
        {"id": "T", "escalation": "yes"},
    ):
        with pytest.raises(DecodeError):
            parse_test(bad)


def test_an_id_is_obeyed_once_and_old_ids_are_forgotten_in_order() -> None:
    gate = CommandGate()
    assert gate.first_time("test", "T-1") and not gate.first_time("test", "T-1")
    assert gate.first_time("speak", "T-1")  # ids are per command
    assert gate.first_time("speak", None) and gate.first_time("speak", None)
    for i in range(SEEN_IDS):
        gate.first_time("test", f"N-{i}")
    assert gate.first_time("test", "T-1")  # forgotten after SEEN_IDS newer ones
    assert not gate.first_time("test", f"N-{SEEN_IDS - 1}")


def test_the_family_is_part_of_a_test_at_most_once_a_day() -> None:
    gate = CommandGate()
    family = CentreTest("F-1", escalation=True)
    assert gate.judge_test(family, test_open=True, now=0.0) is Verdict.BUSY
    assert gate.judge_test(CentreTest("P-1"), test_open=False, now=0.0) is Verdict.RAISE
    assert gate.judge_test(family, test_open=False, now=0.0) is Verdict.RAISE_WITH_FAMILY
    assert gate.judge_test(family, test_open=False, now=DAY - 1) is Verdict.RAISE_WITHOUT_FAMILY
    assert gate.judge_test(family, test_open=False, now=DAY) is Verdict.RAISE_WITH_FAMILY
    # A record from a clock that was wrong (far in the future) cannot block tests forever.
    assert CommandGate(last_family_test=10 * DAY).family_test_allowed(now=DAY)
    assert not CommandGate(last_family_test=DAY + 60).family_test_allowed(now=DAY)


def test_a_test_alarm_sounds_the_siren_but_texts_nobody_unless_it_tests_the_family() -> None:
    def facts(**data: Any) -> AlarmFacts:
        event = Event(new_event_id(), "GZ-1", 1, "sos", Priority.ALARM, TS, True, None, data)
        return AlarmFacts.from_event(event, "Asia/Shanghai")

    plain = facts(test=True, command_id="T-1", escalation_test=False)
    cascade = Cascade(plain, CFG)
    assert cascade.start("no_ack", 0.0) == [Siren()]
    assert cascade.state is CascadeState.EXHAUSTED
    for reaches in (
        facts(),  # a real alarm
        facts(test=True, command_id="F-1", escalation_test=True),  # the full test
        facts(test=True, walk_test="W-1"),  # a device the installer set off
    ):
        actions = Cascade(reaches, CFG).start("no_ack", 0.0)
        assert any(isinstance(a, SendSms) for a in actions)


async def start_hub(tmp_path: Path, port: int) -> Hub:
    raw = hub_raw(
        tmp_path / "data",
        port,
        sos={"ack_timeout_s": 1.0, "resend_s": 1.0},
        escalation={"modem_port": "sim", "calls": False, "contacts": CONTACTS},
    )
    hub = Hub(parse_config(raw), pin_factory=MockFactory(), local_raw=raw)
    await hub.start()
    await hub.uplink.connected.wait()  # subscribed to its commands
    return hub


def raised_tests(hub: Hub) -> list[Any]:
    return [a for a in hub.alarms.book.alarms.values() if a.test]


def alarms_sent(collector: Collector) -> list[dict[str, Any]]:
    """Each SOS the centre received, once (an unanswered alarm is resent with its id)."""
    return list({e["id"]: e for e in collector.events("sos")}.values())


async def test_a_burst_of_a_hundred_test_commands_makes_one_test_alarm_and_texts_nobody(
    broker: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    hub = await start_hub(tmp_path, broker.port)
    try:
        for i in range(100):
            payload = json.dumps({"id": f"T-{i % 50}"})  # and each sent twice
            await collector.publish(f"{ROOT}/cmd/test", payload)
        await eventually(lambda: len(hub.centre.gate._seen) == 50)  # every command handled
        [alarm] = raised_tests(hub)
        await collector.wait_event("escalate", timeout=15)  # the centre did not answer
        [sos] = alarms_sent(collector)
        assert sos["data"]["test"] is True and sos["data"]["command_id"] == "T-0"
        assert sos["data"]["escalation_test"] is False
        assert alarm.escalated
        await eventually(lambda: hub.family.escalator.cascades.get(alarm.id) is not None)
        assert hub.family.escalator.cascades[alarm.id].state is CascadeState.EXHAUSTED
        assert hub.family.sim_modem is not None and hub.family.sim_modem.sms == []
        assert not any(c.startswith("ATD") for c in hub.family.sim_modem.commands)
        # Once the centre closes it, the next test raises a new one.
        await collector.publish(f"{ROOT}/ack", json.dumps({"id": alarm.id, "state": "resolved"}))
        await eventually(lambda: not alarm.is_open)
        await collector.publish(f"{ROOT}/cmd/test", json.dumps({"id": "T-next"}))
        await eventually(lambda: len(alarms_sent(collector)) == 2)
    finally:
        await hub.stop()


async def test_the_full_escalation_test_texts_the_family_once_a_day_even_across_a_restart(
    broker: Mosquitto, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.sos.sms import decode_submit

    hub = await start_hub(tmp_path, broker.port)
    try:
        await collector.publish(f"{ROOT}/cmd/test", json.dumps({"id": "F-1", "escalation": True}))
        assert hub.family.sim_modem is not None
        sim = hub.family.sim_modem
        await eventually(lambda: sim.sms, timeout=15)
        assert "【测试，请勿处理】" in decode_submit(sim.sms[0].pdu).text
        [alarm] = raised_tests(hub)
        await collector.publish(f"{ROOT}/ack", json.dumps({"id": alarm.id, "state": "resolved"}))
        await eventually(lambda: not alarm.is_open)
    finally:
        await hub.stop()
    hub = await start_hub(tmp_path, broker.port)  # a restart does not reset the day
    try:
        await collector.publish(f"{ROOT}/cmd/test", json.dumps({"id": "F-2", "escalation": True}))
        await eventually(lambda: len(alarms_sent(collector)) == 2)
        await eventually(lambda: all(a.escalated for a in raised_tests(hub)), timeout=15)
        [_, second] = alarms_sent(collector)
        assert second["data"]["escalation_test"] is False
        assert "already part of a test in the last 24 h" in caplog.text
        cascades = hub.family.escalator.cascades
        await eventually(lambda: second["id"] in cascades)
        assert cascades[second["id"]].state is CascadeState.EXHAUSTED  # nobody texted
        assert hub.family.sim_modem is not None and hub.family.sim_modem.sms == []
    finally:
        await hub.stop()


async def test_a_retained_command_is_never_obeyed_at_a_reconnect_or_a_restart(
    broker: Mosquitto, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Left retained by a buggy centre before the hub came up: ignored.
    await collector.publish(f"{ROOT}/cmd/test", json.dumps({"id": "R-1"}), retain=True)
    await collector.publish(
        f"{ROOT}/cmd/speak", json.dumps({"text": "旧消息"}, ensure_ascii=False), retain=True
    )
    hub = await start_hub(tmp_path, broker.port)
    try:
        await eventually(lambda: caplog.text.count("retained command") >= 2)
        assert raised_tests(hub) == []
        # Restarting the broker makes the hub reconnect and subscribe again.
        broker.stop()
        await eventually(lambda: not hub.uplink.state.connected)
        broker.start()
        await eventually(lambda: caplog.text.count("retained command") >= 4, timeout=20)
        assert raised_tests(hub) == [] and alarms_sent(collector) == []
    finally:
        await hub.stop()
    hub = await start_hub(tmp_path, broker.port)
    try:
        await eventually(lambda: caplog.text.count("retained command") >= 6)
        assert raised_tests(hub) == [] and alarms_sent(collector) == []
    finally:
        await hub.stop()


def test_a_command_without_a_usable_id_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    # Refused before any room is asked: the centre's command table needs no running hub.
    cfg = parse_config(hub_raw(Path("/nonexistent"), 1))
    unused: Any = None
    centre = CentreCommands(
        RunningConfig(cfg), FakeClock(), Tasks(), alarms=unused, speech=unused, updates=unused,
        locate=unused,
    )  # fmt: skip
    centre.on_command("test", {})
    centre.on_command("locate", {"id": ["not", "text"]})
    assert "cmd/test ignored: cmd/test needs an 'id'" in caplog.text
    assert "cmd/locate ignored: 'id' must be a non-empty string" in caplog.text

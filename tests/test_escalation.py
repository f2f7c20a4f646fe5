"""When the centre does not answer, the hub reaches the family itself: SMS, then calls,
until someone answers or the centre takes over."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from hub.app import Hub as HubApp
from hub.clock import FakeClock
from hub.errors import ConfigError
from hub.event import Draft
from hub.sim.broker import Mosquitto
from hub.sim.modem import Dial, SimulatedModem
from hub.sos.escalation import (
    SPOKEN_STATUS,
    AlarmFacts,
    Call,
    Cascade,
    CascadeState,
    Contact,
    EscalationConfig,
    HangUp,
    Record,
    SendSms,
    Siren,
    Speak,
    escalation_reason,
    parse_escalation,
    sms_text,
)
from hub.sos.escalator import Escalator
from hub.sos.lifecycle import UNANSWERED, Alarm
from hub.sos.modem import Modem
from hub.sos.sms import Encoding, decode_submit
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually

DAUGHTER = Contact("王小红", "13800138000", "女儿")
SON = Contact("王小明", "+8613900139000", "儿子")
NEIGHBOUR = Contact("李阿姨", "13700137000", "邻居")
CFG = EscalationConfig(
    contacts=(DAUGHTER, SON, NEIGHBOUR),
    centre_numbers=("+862087654321",),
    ring_timeout_s=25.0,
    call_rounds=2,
    round_gap_s=60.0,
)
FACTS = AlarmFacts("A-1", "sos", "GZ-000123", "11月23日 08:00", room="卧室")
TEXT = sms_text(FACTS)
ACK_TIMEOUT_S = 30.0


def sms_record(contact: int, ok: bool = True, detail: str = "sent in 1 part(s)") -> Record:
    person = CFG.contacts[contact]
    masked = {0: "*******8000", 1: "+*********9000", 2: "*******7000"}[contact]
    return Record(
        "escalation_sms",
        {
            "alarm_id": "A-1",
            "contact": contact,
            "relation": person.relation,
            "number": masked,
            "test": False,
            "ok": ok,
            "detail": detail,
        },
    )


def call_record(contact: int, outcome: str, round_: int = 1, detail: str = "") -> Record:
    record = sms_record(contact)
    data = {k: v for k, v in record.data.items() if k not in ("ok", "detail")}
    return Record(
        "escalation_call", {**data, "outcome": outcome, "round": round_, "detail": detail}
    )


def test_the_family_sms_says_what_where_when_and_which_hub() -> None:
    assert TEXT == (
        "【平安通】11月23日 08:00 您的家人触发紧急求助（卧室），"
        "中心未能接通，请尽快联系老人，必要时拨打120。设备GZ-000123"
    )
    assert len(TEXT) <= 70  # one UCS2 message
    test_alarm = AlarmFacts("A-2", "fall", "GZ-000123", "08:00", test=True)
    assert sms_text(test_alarm).startswith(
        "【平安通】【测试，请勿处理】08:00 您的家人触发疑似跌倒，"
    )


def test_a_silent_centre_gets_sms_to_each_contact_after_the_timeout_then_calls() -> None:
    clock = FakeClock()
    raised = clock.monotonic()
    clock.advance(ACK_TIMEOUT_S - 1)
    assert (
        escalation_reason(
            raised_at=raised,
            now=clock.monotonic(),
            answered=False,
            uplink_down_since=None,
            ack_timeout_s=ACK_TIMEOUT_S,
            cfg=CFG,
        )
        is None
    )
    clock.advance(1)
    reason = escalation_reason(
        raised_at=raised,
        now=clock.monotonic(),
        answered=False,
        uplink_down_since=None,
        ack_timeout_s=ACK_TIMEOUT_S,
        cfg=CFG,
    )
    assert reason == "no_ack"
    cascade = Cascade(FACTS, CFG)
    now = clock.monotonic()
    assert cascade.start(reason, now) == [
        Siren(),
        Speak(SPOKEN_STATUS),
        SendSms(0, DAUGHTER.number, TEXT),
    ]
    assert cascade.sms_sent(0, True, "sent in 1 part(s)", now) == [
        sms_record(0),
        SendSms(1, SON.number, TEXT),
    ]
    assert cascade.sms_sent(1, True, "sent in 1 part(s)", now) == [
        sms_record(1),
        SendSms(2, NEIGHBOUR.number, TEXT),
    ]
    assert cascade.sms_sent(2, True, "sent in 1 part(s)", now) == [
        sms_record(2),
        Call(0, DAUGHTER.number, 25.0),
    ]
    assert cascade.state is CascadeState.CALLING


def test_calls_go_down_the_list_until_one_answers() -> None:
    cascade = Cascade(FACTS, EscalationConfig(contacts=CFG.contacts, sms=False))
    assert cascade.start("no_ack", 0.0)[-1] == Call(0, DAUGHTER.number, 25.0)
    assert cascade.call_ended(0, "busy", "busy", 5.0) == [
        call_record(0, "busy", detail="busy"),
        Call(1, SON.number, 25.0),
    ]
    assert cascade.call_ended(1, "no_answer", "", 30.0) == [
        call_record(1, "no_answer"),
        Call(2, NEIGHBOUR.number, 25.0),
    ]
    assert cascade.call_ended(2, "answered", "", 40.0) == [call_record(2, "answered")]
    assert cascade.state is CascadeState.ANSWERED
    assert cascade.finished
    assert cascade.tick(1000.0) == []


def test_nobody_answering_is_tried_again_after_the_gap_then_reported_as_a_fault() -> None:
    clock = FakeClock()
    one = EscalationConfig(contacts=(DAUGHTER,), sms=False, call_rounds=2, round_gap_s=60)
    cascade = Cascade(FACTS, one)
    cascade.start("no_ack", clock.monotonic())
    assert cascade.call_ended(0, "no_answer", "", clock.monotonic()) == [
        call_record(0, "no_answer")
    ]
    assert cascade.state.value == "waiting"  # (a plain value: mypy would narrow the enum)
    clock.advance(59)
    assert cascade.tick(clock.monotonic()) == []
    clock.advance(1)
    assert cascade.tick(clock.monotonic()) == [Call(0, DAUGHTER.number, 25.0)]
    assert cascade.call_ended(0, "no_answer", "", clock.monotonic()) == [
        call_record(0, "no_answer", round_=2),
        Record(
            "fault",
            {
                "alarm_id": "A-1",
                "component": "escalation",
                "detail": "no emergency contact answered after 2 round(s)",
            },
        ),
    ]
    assert cascade.state is CascadeState.EXHAUSTED


def test_a_centre_ack_before_the_timeout_means_no_sms_at_all() -> None:
    clock = FakeClock()
    raised = clock.monotonic()
    clock.advance(10)
    cascade = Cascade(FACTS, CFG)
    assert cascade.acked(clock.monotonic()) == []
    clock.advance(60)
    assert (
        escalation_reason(
            raised_at=raised,
            now=clock.monotonic(),
            answered=True,
            uplink_down_since=None,
            ack_timeout_s=ACK_TIMEOUT_S,
            cfg=CFG,
        )
        is None
    )
    assert cascade.start("no_ack", clock.monotonic()) == []
    assert cascade.state is CascadeState.STOPPED


def test_a_centre_ack_mid_cascade_hangs_up_the_ringing_call_and_stops() -> None:
    cascade = Cascade(FACTS, CFG)
    cascade.start("no_ack", 0.0)
    for contact in range(3):
        cascade.sms_sent(contact, True, "sent in 1 part(s)", 1.0)
    assert cascade.acked(20.0) == [
        HangUp(),
        Record(
            "escalation_stopped",
            {
                "alarm_id": "A-1",
                "reason": "centre_ack",
                "texts_sent": 3,
                "calls_made": 0,
                "test": False,
            },
        ),
    ]
    # The hung-up call is still recorded, and nobody else is called.
    assert cascade.call_ended(0, "no_answer", "hung up", 21.0) == [
        call_record(0, "no_answer", detail="hung up")
    ]
    assert cascade.state is CascadeState.STOPPED
    assert cascade.tick(1000.0) == []


def test_a_centre_ack_while_texting_lets_the_sms_finish_and_sends_no_more() -> None:
    cascade = Cascade(FACTS, CFG)
    cascade.start("uplink_down", 0.0)
    assert [type(a) for a in cascade.acked(2.0)] == [Record]
    assert cascade.sms_sent(0, True, "sent in 1 part(s)", 3.0) == [sms_record(0)]


def test_a_failed_sms_is_a_fault_and_the_cascade_goes_on() -> None:
    cascade = Cascade(FACTS, CFG)
    cascade.start("no_ack", 0.0)
    detail = "SMS to *******8000 part 1/1 failed: +CMS ERROR 500"
    assert cascade.sms_sent(0, False, detail, 1.0) == [
        sms_record(0, ok=False, detail=detail),
        Record("fault", {"alarm_id": "A-1", "component": "modem", "contact": 0, "detail": detail}),
        SendSms(1, SON.number, TEXT),
    ]


def test_outcomes_for_a_step_not_in_progress_are_ignored() -> None:
    cascade = Cascade(FACTS, CFG)
    cascade.start("no_ack", 0.0)
    assert cascade.sms_sent(2, True, "", 1.0) == []
    assert cascade.call_ended(0, "answered", "", 1.0) == []


def test_an_alarm_raised_with_the_uplink_down_escalates_after_the_grace() -> None:
    cfg = EscalationConfig(contacts=(DAUGHTER,), uplink_grace_s=10)
    common: dict[str, Any] = {
        "raised_at": 100.0,
        "answered": False,
        "uplink_down_since": 50.0,
        "ack_timeout_s": ACK_TIMEOUT_S,
        "cfg": cfg,
    }
    assert escalation_reason(now=109.0, **common) is None
    assert escalation_reason(now=110.0, **common) == "uplink_down"


def test_a_hub_without_contacts_still_sounds_the_siren_and_reports_it() -> None:
    cascade = Cascade(FACTS, EscalationConfig())
    assert cascade.start("no_ack", 0.0) == [
        Siren(),
        Record(
            "fault",
            {
                "alarm_id": "A-1",
                "component": "escalation",
                "detail": "no emergency contacts configured: only the siren sounds",
            },
        ),
    ]


def test_escalation_config_errors_name_each_option() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_escalation(
            {
                "contacts": [
                    {"name": "王小红", "number": "138-0013-800a"},
                    {"number": "13900139000", "phone": "x"},
                    "13700137000",
                ],
                "centre_numbers": [12345],
                "call_rounds": 20,
                "ring_timeout_s": "long",
                "colour": "red",
            }
        )
    assert caught.value.problems == [
        "escalation.colour: unknown option",
        "escalation.contacts[0].number: must be a phone number of 3-20 digits, "
        'optionally starting with +, e.g. "+8613800138000"',
        "escalation.contacts[1].phone: unknown option",
        'escalation.contacts[1].name: required text, e.g. "王小红"',
        "escalation.contacts[2]: must be a table with name, number and relation",
        "escalation.centre_numbers[0]: must be a phone number of 3-20 digits, "
        'optionally starting with +, e.g. "+8613800138000"',
        "escalation.ring_timeout_s: must be a number (seconds each call may ring)",
        "escalation.call_rounds: 20 is out of range; allowed 1 to 5",
    ]


# -- through the simulated modem --------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedModem]:
    """The hub's simulated cellular modem."""
    modem = SimulatedModem()
    modem.start()
    yield modem
    modem.close()


@pytest.fixture
async def modem(sim: SimulatedModem) -> AsyncIterator[Modem]:
    """The driver on the simulator, initialised."""
    driver = Modem(sim.port, centre_numbers=CFG.centre_numbers, call_poll_s=0.05)
    await driver.open()
    await driver.initialise()
    yield driver
    await driver.close()


class Hub:
    """What the escalator needs of the hub: event drafts, siren, voice."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.siren = 0
        self.spoken: list[str] = []

    async def record(self, kind: str, data: dict[str, Any]) -> None:
        self.records.append(Record(kind, data))

    def escalator(self, modem: Modem | None, cfg: EscalationConfig) -> Escalator:
        return Escalator(
            modem,
            cfg,
            record=self.record,
            siren=lambda: setattr(self, "siren", self.siren + 1),
            speak=self.spoken.append,
            monotonic=FakeClock().monotonic,
        )


async def test_uplink_down_sos_texts_the_family_in_ucs2_then_calls_until_one_answers(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.dial[DAUGHTER.number] = Dial.BUSY
    sim.dial[SON.number] = Dial.ANSWER
    hub = Hub()
    cfg = EscalationConfig(contacts=CFG.contacts, ring_timeout_s=5)
    cascade = await hub.escalator(modem, cfg).escalate(FACTS, "uplink_down")
    assert cascade.state is CascadeState.ANSWERED
    texts = [decode_submit(s.pdu) for s in sim.sms]
    assert [(t.number, t.encoding, t.text) for t in texts] == [
        (DAUGHTER.number, Encoding.UCS2, TEXT),
        (SON.number, Encoding.UCS2, TEXT),
        (NEIGHBOUR.number, Encoding.UCS2, TEXT),
    ]
    assert sim.sms[0].pdu.endswith("".join(f"{ord(c):04X}" for c in TEXT))
    dials = [c for c in sim.commands if c.startswith("ATD")]
    assert dials == [f"ATD{DAUGHTER.number};", f"ATD{SON.number};"]
    assert [(r.kind, r.data.get("outcome")) for r in hub.records] == [
        ("escalation_sms", None),
        ("escalation_sms", None),
        ("escalation_sms", None),
        ("escalation_call", "busy"),
        ("escalation_call", "answered"),
    ]
    assert hub.siren == 1 and hub.spoken == [SPOKEN_STATUS]


async def test_the_centre_ack_during_a_ringing_call_hangs_up_and_stops_the_cascade(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.dial[DAUGHTER.number] = Dial.NO_ANSWER
    hub = Hub()
    cfg = EscalationConfig(contacts=(DAUGHTER, SON), sms=False, ring_timeout_s=20)
    escalator = hub.escalator(modem, cfg)
    running = asyncio.create_task(escalator.escalate(FACTS, "no_ack"))
    await eventually(lambda: f"ATD{DAUGHTER.number};" in sim.commands)
    escalator.acked("A-1")
    cascade = await eventually(lambda: running.done() and running.result(), timeout=5)
    assert cascade.state is CascadeState.STOPPED
    assert "AT+CHUP" in sim.commands
    assert not any(c == f"ATD{SON.number};" for c in sim.commands)
    assert [r.kind for r in hub.records] == ["escalation_stopped", "escalation_call"]


async def test_a_centre_ack_between_two_rounds_of_calls_ends_the_wait_at_once(
    sim: SimulatedModem, modem: Modem
) -> None:
    sim.dial[DAUGHTER.number] = Dial.BUSY
    hub = Hub()
    cfg = EscalationConfig(contacts=(DAUGHTER,), sms=False, call_rounds=2, round_gap_s=600)
    escalator = hub.escalator(modem, cfg)
    running = asyncio.create_task(escalator.escalate(FACTS, "no_ack"))
    await eventually(
        lambda: getattr(escalator.cascades.get("A-1"), "state", None) is CascadeState.WAITING
    )
    escalator.acked("A-1")
    cascade = await asyncio.wait_for(running, 5)
    assert cascade.state is CascadeState.STOPPED
    assert [c for c in sim.commands if c.startswith("ATD")] == [f"ATD{DAUGHTER.number};"]
    assert [r.kind for r in hub.records] == ["escalation_call", "escalation_stopped"]


@pytest.mark.parametrize(
    ("breakdown", "faults"),
    [
        (
            {"sms_error": 500, "dial": {DAUGHTER.number: Dial.BUSY}},
            [
                "SMS to *******8000 part 1/1 failed: AT+CMGS=150: "
                "SMS refused by the modem or network (+CMS ERROR 500)",
                "no emergency contact answered after 1 round(s)",
            ],
        ),
        (
            {"sim_inserted": False},
            [
                "SMS to *******8000 part 1/1 failed: AT+CMGS=150: SIM problem: SIM not inserted",
                "call to *******8000 failed: ATD: SIM problem: SIM not inserted",
                "no emergency contact answered after 1 round(s)",
            ],
        ),
    ],
)
async def test_every_modem_failure_becomes_a_fault_event_not_a_crash(
    sim: SimulatedModem, modem: Modem, breakdown: dict[str, Any], faults: list[str]
) -> None:
    for name, value in breakdown.items():
        setattr(sim, name, value)
    hub = Hub()
    cfg = EscalationConfig(contacts=(DAUGHTER,), call_rounds=1, ring_timeout_s=5)
    cascade = await hub.escalator(modem, cfg).escalate(FACTS, "no_ack")
    assert cascade.state is CascadeState.EXHAUSTED
    assert [r.data["detail"] for r in hub.records if r.kind == "fault"] == faults


async def test_without_a_modem_the_siren_sounds_and_a_fault_is_recorded() -> None:
    hub = Hub()
    await hub.escalator(None, CFG).escalate(FACTS, "no_ack")
    assert hub.siren == 1
    assert hub.records == [
        Record(
            "fault",
            {
                "alarm_id": "A-1",
                "component": "modem",
                "detail": "no cellular modem configured: only the siren sounds",
            },
        )
    ]


# -- the whole hub: SOS press with the uplink down ------------------------------------------


async def press_sos(hub: HubApp) -> None:
    """A finger on the red button."""
    pin = hub.pin_factory.pin(hub.cfg.gpio.sos_pin)
    pin.drive_low()
    await asyncio.sleep(0.1)
    pin.drive_high()


def wire(hub: HubApp, modem: Modem, cfg: EscalationConfig) -> Escalator:
    """The wiring hub/app.py needs, done from outside through its escalation hook and
    alarm listeners."""

    async def record(kind: str, data: dict[str, Any]) -> None:
        await hub.events.commit(Draft.create(kind, hub.clock, data=data))

    escalator = Escalator(
        modem,
        cfg,
        record=record,
        siren=lambda: hub.indicators.show("siren"),
        speak=lambda text: None,
        monotonic=hub.clock.monotonic,
    )

    async def escalate(alarm: Alarm, reason: str) -> None:
        event = await hub.outbox.get(alarm.id)
        assert event is not None
        await escalator.escalate(AlarmFacts.from_event(event, hub.cfg.hub.timezone), reason)

    def centre_answered(alarm: Alarm) -> None:
        if alarm.state not in UNANSWERED:
            escalator.acked(alarm.id)

    hub.alarms.escalation = escalate
    hub.alarms.listeners.append(centre_answered)
    return escalator


async def test_sos_with_the_uplink_down_texts_then_calls_the_family_until_the_centre_acks(
    stopped_broker: Mosquitto, make_hub: HubFactory, sim: SimulatedModem, modem: Modem
) -> None:
    hub = await make_hub(stopped_broker.port, sos={"ack_timeout_s": 1.0, "resend_s": 1.0})
    sim.dial[DAUGHTER.number] = Dial.NO_ANSWER  # rings and rings
    escalator = wire(hub, modem, EscalationConfig(contacts=(DAUGHTER, SON), ring_timeout_s=60))

    await press_sos(hub)
    await eventually(lambda: f"ATD{DAUGHTER.number};" in sim.commands, timeout=10)
    alarm = hub.alarms.book.open_sos()
    assert alarm is not None
    event = await hub.outbox.get(alarm.id)
    assert event is not None
    text = sms_text(AlarmFacts.from_event(event, "Asia/Shanghai"))
    ucs2 = "".join(f"{ord(c):04X}" for c in text)
    assert [(decode_submit(s.pdu).number, s.pdu[-len(ucs2) :]) for s in sim.sms] == [
        (DAUGHTER.number, ucs2),
        (SON.number, ucs2),
    ]
    assert hub.indicators.pattern == "siren"

    stopped_broker.start()
    await eventually(lambda: alarm.state.value == "sent", timeout=15)
    collector = Collector(stopped_broker.port, ident="test-centre")
    await collector.start()
    try:
        await collector.publish(
            f"pingan/v1/{HUB_ID}/ack", json.dumps({"id": alarm.id, "state": "received"})
        )
        await eventually(lambda: escalator.cascades[alarm.id].finished, timeout=10)
    finally:
        await collector.stop()
    assert escalator.cascades[alarm.id].state is CascadeState.STOPPED
    await eventually(lambda: "AT+CHUP" in sim.commands)  # the ringing call was hung up
    assert f"ATD{SON.number};" not in sim.commands

    async def kinds() -> list[str]:
        rows = await hub.outbox.recent(50)
        return [row.event.kind for row in rows if row.event.kind.startswith("escalat")]

    async def all_recorded() -> bool:
        return sorted(await kinds()) == sorted(
            [
                "escalate",
                "escalation_sms",
                "escalation_sms",
                "escalation_stopped",
                "escalation_call",
            ]
        )

    deadline = asyncio.get_running_loop().time() + 10
    while not await all_recorded():
        assert asyncio.get_running_loop().time() < deadline, await kinds()
        await asyncio.sleep(0.05)


async def test_a_hub_configured_with_the_simulated_modem_texts_the_family_when_offline(
    stopped_broker: Mosquitto, make_hub: HubFactory
) -> None:
    from hub.sos.sms import decode_submit

    hub = await make_hub(
        stopped_broker.port,
        sos={"ack_timeout_s": 1.0, "resend_s": 1.0},
        escalation={
            "modem_port": "sim",
            "calls": False,
            "contacts": [{"name": "王小红", "number": "+8613800138000", "relation": "女儿"}],
        },
    )
    assert hub.family.sim_modem is not None
    await press_sos(hub)
    await eventually(
        lambda: hub.family.sim_modem is not None and hub.family.sim_modem.sms, timeout=15
    )
    sms = decode_submit(hub.family.sim_modem.sms[0].pdu)
    assert sms.number == "+8613800138000"
    assert "您的家人触发紧急求助" in sms.text and "设备T-0001" in sms.text


async def test_the_centre_calling_back_is_answered_and_logged_a_stranger_is_not(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(
        broker.port,
        escalation={"modem_port": "sim", "centre_numbers": ["+862012345678"]},
    )
    assert hub.family.sim_modem is not None
    hub.family.sim_modem.incoming_call("+862012345678", 145)
    [answered] = await collector.wait_event("incoming_call")
    assert answered["data"]["answered"] is True
    assert "12345678" not in answered["data"]["number"]  # masked, never logged whole
    assert "ATA" in hub.family.sim_modem.commands
    hub.family.sim_modem.remote_hang_up()
    hub.family.sim_modem.incoming_call("13912345678")
    await collector.wait_event("incoming_call", count=2)
    assert collector.events("incoming_call")[1]["data"]["answered"] is False


async def test_a_call_after_many_quiet_checks_is_still_answered_and_the_modem_never_restarts(
    broker: Mosquitto,
    collector: Collector,
    make_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Found by the 24 h outage test: each quiet 5 s check cancelled the incoming-call
    # generator, so the modem part crashed (StopAsyncIteration) and restarted forever.
    import hub.services.family

    monkeypatch.setattr(hub.services.family, "_MODEM_CHECK_S", 0.02)
    hub = await make_hub(
        broker.port, escalation={"modem_port": "sim", "centre_numbers": ["+862012345678"]}
    )
    assert hub.family.sim_modem is not None
    await asyncio.sleep(0.3)  # about 15 checks with no call
    hub.family.sim_modem.incoming_call("+862012345678", 145)
    [answered] = await collector.wait_event("incoming_call")
    assert answered["data"]["answered"] is True
    assert not [r for r in caplog.records if "modem failed" in r.getMessage()]


def test_with_calls_switched_off_the_fault_says_who_was_texted_not_that_nobody_answered() -> None:
    cascade = Cascade(FACTS, replace(CFG, contacts=(DAUGHTER, SON), calls=False))
    cascade.start("no_ack", 0.0)
    cascade.sms_sent(0, True, "sent in 1 part(s)", 0.0)
    assert cascade.sms_sent(1, False, "SMS refused", 0.0)[-1] == Record(
        "fault",
        {
            "alarm_id": "A-1",
            "component": "escalation",
            "detail": "1 of 2 emergency contact(s) texted; calls are switched off "
            "(escalation.calls = false)",
        },
    )
    assert cascade.state is CascadeState.EXHAUSTED

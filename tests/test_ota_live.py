"""Signed configuration pushed to a running hub over the real broker: applied and reported,
refused and reported (running config intact), rolled back when it loses the broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.app import Hub
from hub.event import Draft
from hub.sim.broker import Mosquitto, free_port
from hub.sync.ota import public_key_text, sign_envelope
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually

FLEET_KEY = Ed25519PrivateKey.generate()
ROOT = f"pingan/v1/{HUB_ID}"


def signed(
    version: int,
    config: dict[str, Any],
    key: Ed25519PrivateKey = FLEET_KEY,
    hub: str = HUB_ID,
    issued: datetime | None = None,
) -> bytes:
    env = sign_envelope(key, version, config, issued or datetime.now(UTC), hub=hub)
    return json.dumps(env, ensure_ascii=False).encode()


def reports(collector: Collector) -> list[dict[str, Any]]:
    return [m.json() for m in collector.messages if m.topic == f"{ROOT}/config/reported"]


@pytest.fixture
async def fleet_collector(broker: Mosquitto) -> Any:
    c = Collector(
        broker.port,
        topics=("pingan/v1/+/event/#", "pingan/v1/+/config/reported"),
        ident="test-fleet",
    )
    await c.start()
    await c.subscribed.wait()
    yield c
    await c.stop()


async def start(make_hub: HubFactory, port: int, **extra: dict[str, Any]) -> Hub:
    hub = await make_hub(
        port, fleet={"public_keys": [public_key_text(FLEET_KEY)], "rollback_after_s": 10.0}, **extra
    )
    await eventually(hub.uplink.connected.is_set)
    return hub


async def test_a_signed_push_changes_a_threshold_and_a_contact_while_events_flow(
    broker: Mosquitto, fleet_collector: Collector, make_hub: HubFactory
) -> None:
    hub = await start(make_hub, broker.port)
    sent = [
        (await hub.events.commit(Draft.create("motion", hub.clock, data={"n": n}))).id
        for n in range(100)
    ]
    await fleet_collector.publish(
        f"{ROOT}/config/desired",
        signed(
            1,
            {
                "sos": {"ack_timeout_s": 20.0},
                "escalation": {
                    "contacts": [{"name": "王小红", "number": "+8613800138000", "relation": "女儿"}]
                },
            },
        ),
        retain=True,
    )
    alarm = await hub.alarms.raise_alarm("sos")
    sent += [
        (await hub.events.commit(Draft.create("motion", hub.clock, data={"n": n}))).id
        for n in range(100, 200)
    ]
    [report] = await eventually(lambda: reports(fleet_collector))
    assert report["version"] == 1 and report["status"] == "applied" and report["error"] is None
    assert hub.cfg.sos.ack_timeout_s == 20.0
    assert hub.alarms.book.timing.ack_timeout_s == 20.0
    assert [c.number for c in hub.family.escalator.cfg.contacts] == ["+8613800138000"]
    assert alarm is not None
    await eventually(lambda: {e["id"] for e in fleet_collector.events()} >= {*sent, alarm.id})
    [applied] = await fleet_collector.wait_event("config_applied")
    assert applied["data"] == {"version": 1}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (json.dumps({"version": 5, "hub": HUB_ID, "config": {}}).encode(), "unsigned"),
        (
            signed(5, {"sos": {"ack_timeout_s": 5.0}}, key=Ed25519PrivateKey.generate()),
            "unknown_key",
        ),
        (
            signed(5, {"sos": {"ack_timeout_s": 5.0}}).replace(b'"version": 5', b'"version": 6'),
            "bad_signature",
        ),
        (signed(5, {"sos": {"ack_timeout_s": 5.0}}, hub="T-9999"), "wrong_target"),
        (signed(5, {"sos": {"ack_timeout_s": -1}}), "invalid_config"),
        (signed(5, {"hub": {"id": "EVIL"}}), "invalid_config"),
        (signed(5, {"sos": {"note": "x" * 70_000}}), "oversized"),
        (b"\xff\x00 garbage {", "malformed"),
        (
            signed(5, {"sos": {"resend_s": 5.0}}, issued=datetime(9999, 1, 1, tzinfo=UTC)),
            "from_future",
        ),
        (signed(5, {"sos": {"resend_s": 5.0}}, issued=datetime(1970, 1, 1, tzinfo=UTC)), "stale"),
    ],
)
async def test_a_bad_push_is_refused_reported_and_changes_nothing(
    broker: Mosquitto,
    fleet_collector: Collector,
    make_hub: HubFactory,
    payload: bytes,
    reason: str,
) -> None:
    hub = await start(make_hub, broker.port)
    before = hub.cfg
    await fleet_collector.publish(f"{ROOT}/config/desired", payload)
    [report] = await eventually(lambda: reports(fleet_collector))
    assert report["status"] == "rejected"
    assert report["error"]["reason"] == reason
    assert hub.cfg is before
    assert hub.cfg.sos.ack_timeout_s == 30.0


async def test_an_old_version_is_refused_as_a_downgrade(
    broker: Mosquitto, fleet_collector: Collector, make_hub: HubFactory
) -> None:
    hub = await start(make_hub, broker.port)
    await fleet_collector.publish(f"{ROOT}/config/desired", signed(7, {"sos": {"resend_s": 5.0}}))
    await eventually(lambda: len(reports(fleet_collector)) == 1)
    # An older version is a stale retained copy (another broker node kept it) or a replay:
    # refused and logged, never reported over the version the hub runs, which would show
    # a hub on v7 as "rejected" in `fleet status`. The next push is reported as usual.
    await fleet_collector.publish(f"{ROOT}/config/desired", signed(3, {"sos": {"resend_s": 7.0}}))
    await fleet_collector.publish(f"{ROOT}/config/desired", signed(8, {"sos": {"resend_s": 9.0}}))
    await eventually(lambda: len(reports(fleet_collector)) == 2)
    assert [(r["version"], r["status"]) for r in reports(fleet_collector)] == [
        (7, "applied"),
        (8, "applied"),
    ]
    assert hub.cfg.sos.resend_s == 9.0


async def test_the_same_version_with_other_content_is_reported_not_dropped(
    broker: Mosquitto, fleet_collector: Collector, make_hub: HubFactory
) -> None:
    hub = await start(make_hub, broker.port)
    first = signed(7, {"sos": {"resend_s": 5.0}})
    await fleet_collector.publish(f"{ROOT}/config/desired", first, retain=True)
    await eventually(lambda: len(reports(fleet_collector)) == 1)
    await fleet_collector.publish(f"{ROOT}/config/desired", signed(7, {"sos": {"resend_s": 7.0}}))
    await eventually(lambda: len(reports(fleet_collector)) == 2)
    conflict = reports(fleet_collector)[-1]
    assert conflict["version"] == 7 and conflict["status"] == "rejected"
    assert conflict["error"]["reason"] == "version_conflict"
    assert "sign the change as a new version" in conflict["error"]["message"]
    assert hub.cfg.sos.resend_s == 5.0
    # The identical copy (a reconnect re-delivers the retained one) stays quiet.
    await fleet_collector.publish(f"{ROOT}/config/desired", first)
    await fleet_collector.publish(f"{ROOT}/config/desired", signed(8, {"sos": {"resend_s": 6.0}}))
    await eventually(lambda: len(reports(fleet_collector)) == 3)
    assert reports(fleet_collector)[-1]["version"] == 8
    assert reports(fleet_collector)[-1]["status"] == "applied"


# The suite's 120 s, not less: 10 s of trial, a reconnect and a stop (aiomqtt may wait
# up to 10 s for the broker's goodbye) once timed out at 60 s under a loaded machine.
async def test_a_push_to_an_unreachable_broker_is_rolled_back(
    broker: Mosquitto, fleet_collector: Collector, make_hub: HubFactory
) -> None:
    hub = await start(make_hub, broker.port)
    await fleet_collector.publish(
        f"{ROOT}/config/desired", signed(2, {"mqtt": {"port": free_port()}}), retain=True
    )
    await eventually(lambda: hub.cfg.mqtt.port != broker.port)
    await eventually(lambda: not hub.uplink.state.connected)
    # After rollback_after_s without a broker the hub goes back and says so.
    await eventually(
        lambda: any(r["status"] == "rolled_back" for r in reports(fleet_collector)), timeout=30
    )
    assert hub.cfg.mqtt.port == broker.port
    assert hub.uplink.state.connected
    [report] = [r for r in reports(fleet_collector) if r["status"] == "rolled_back"]
    assert report["version"] == 2


async def test_everything_the_hub_publishes_conforms_to_the_asyncapi_contract(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    import yaml

    from tests.test_fleet_tools import ASYNCAPI, conforms

    contract = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    everything = Collector(broker.port, topics=("pingan/v1/#",), ident="test-contract")
    await everything.start()
    await everything.subscribed.wait()
    try:
        hub = await start(make_hub, broker.port, mqtt={"heartbeat_s": 1.0})
        await hub.alarms.raise_alarm("sos")
        await hub.events.commit(Draft.create("motion", hub.clock, data={"room": "厨房"}))
        await everything.publish(f"{ROOT}/config/desired", signed(1, {"sos": {"resend_s": 5.0}}))
        await everything.publish(f"{ROOT}/config/desired", b"garbage")
        await eventually(
            lambda: (
                len([m for m in everything.messages if m.topic.endswith("/config/reported")]) == 2
            )
        )
        await eventually(
            lambda: len([m for m in everything.messages if m.topic.endswith("/status")]) >= 2,
            timeout=5,
        )
    finally:
        await everything.stop()
    schema_of = {"event": "Event", "status": "Status", "reported": "ConfigReported"}
    checked = 0
    for message in everything.messages:
        level = (
            message.topic.split("/")[3]
            if "/event/" in message.topic
            else message.topic.rsplit("/", 1)[-1]
        )
        if level in schema_of:
            conforms(contract, schema_of[level], message.payload)
            checked += 1
    assert checked >= 6

"""A family's Home Assistant sees the hub (optional MQTT discovery), and only when asked.

The discovery configs are checked the way Home Assistant reads them: retained, on
`homeassistant/<component>/<node>/<object>/config`, known options only, and each
entity's value_template rendered with Jinja2 (HA's template engine) over the payloads
the hub really publishes on the state topics the configs point at.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.sim.broker import Mosquitto
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually
from tests.test_fleet_tools import ASYNCAPI, conforms
from tests.test_spine import press

ROOT = f"pingan/v1/{HUB_ID}"
CONFIG_TOPIC = re.compile(
    r"^homeassistant/(sensor|binary_sensor)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/config$"
)
# Options of HA's MQTT sensor / binary_sensor that the hub may use, and the device classes.
KNOWN = {
    "name",
    "unique_id",
    "state_topic",
    "value_template",
    "device_class",
    "state_class",
    "icon",
    "unit_of_measurement",
    "availability",
    "device",
}
DEVICE_CLASSES = {"sensor": {"timestamp", "battery"}, "binary_sensor": {"connectivity"}}


def render(template: str, payload: bytes) -> str:
    """What Home Assistant's template engine makes of a value_template and a payload."""
    env = ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value_json=json.loads(payload), value=payload)


async def watch(broker: Mosquitto, ident: str) -> Collector:
    c = Collector(
        broker.port,
        topics=("homeassistant/#", "pingan/v1/+/status", "pingan/v1/+/homeassistant/#"),
        ident=ident,
    )
    await c.start()
    await c.subscribed.wait()
    return c


def latest(c: Collector, topic: str) -> bytes | None:
    found = [m.payload for m in c.messages if m.topic == topic]
    return found[-1] if found else None


async def test_with_discovery_on_home_assistant_is_told_of_the_hub_and_its_state(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    contract = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    seen = await watch(broker, "test-ha")
    try:
        hub = await make_hub(broker.port, homeassistant={"discovery": True})
        configs = await eventually(
            lambda: (
                found
                if len(found := [m for m in seen.messages if m.topic.endswith("/config")]) >= 7
                else None
            )
        )
        entities: dict[str, dict[str, Any]] = {}
        for message in configs:
            match = CONFIG_TOPIC.match(message.topic)
            assert match, message.topic
            component, node, obj = match.groups()
            assert node == f"pingan_{HUB_ID}"
            config = message.json()
            assert set(config) <= KNOWN, set(config) - KNOWN
            assert config["unique_id"] == f"{node}_{obj}"
            assert config["device"]["identifiers"] == [f"pingan-hub-{HUB_ID}"]
            if "device_class" in config:
                assert config["device_class"] in DEVICE_CLASSES[component]
            for avail in config.get("availability", []):
                # Availability is the hub's status topic with its last will.
                assert avail["topic"] == f"{ROOT}/status"
                assert avail["payload_available"] == "online"
                assert avail["payload_not_available"] == "offline"
            conforms(contract, "HomeassistantDiscovery", message.payload)
            entities[obj] = config
        assert set(entities) == {
            "online",
            "open_alarms",
            "alarm",
            "last_checkin",
            "devices_offline",
            "devices_low_battery",
            "battery_min",
        }
        # Retained: a Home Assistant that starts later still finds them.
        late = Collector(broker.port, topics=("homeassistant/#",), ident="test-ha-late")
        await late.start()
        try:
            got = await eventually(lambda: len(late.messages) >= 7 and late.messages)
            assert all(m.retain for m in got)
        finally:
            await late.stop()

        def value(obj: str) -> str | None:
            config = entities[obj]
            payload = latest(seen, config["state_topic"])
            return None if payload is None else render(config["value_template"], payload)

        def available(obj: str) -> bool:
            [avail] = entities[obj]["availability"]
            payload = latest(seen, avail["topic"])
            assert payload is not None
            return render(avail["value_template"], payload) == avail["payload_available"]

        await eventually(lambda: value("open_alarms") == "0")
        assert value("online") == "ON"
        assert value("alarm") == "none"
        assert value("last_checkin") == "None"  # HA's "unknown"
        assert value("battery_min") == "None"
        assert available("open_alarms")

        alarm = await hub.alarms.raise_alarm("sos")
        assert alarm is not None
        await eventually(lambda: value("open_alarms") == "1")
        await eventually(lambda: value("alarm") in ("sent", "raised"))
        await seen.publish(f"{ROOT}/ack", json.dumps({"id": alarm.id, "state": "received"}))
        await eventually(lambda: value("alarm") == "acknowledged")
        await seen.publish(f"{ROOT}/ack", json.dumps({"id": alarm.id, "state": "resolved"}))
        await eventually(lambda: value("open_alarms") == "0")

        for m in seen.messages:
            if m.topic == f"{ROOT}/homeassistant/state":
                conforms(contract, "HomeassistantState", m.payload)
        await press(hub, "ok")  # the elder's daily check-in on the green button
        stamp = await eventually(
            lambda: value("last_checkin") not in (None, "None") and value("last_checkin")
        )
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", stamp)
    finally:
        await seen.stop()


async def test_a_killed_hub_shows_offline_in_home_assistant(
    tmp_path: Path, broker: Mosquitto
) -> None:
    from tests.test_power_cut import control, start_hub, write_config

    config_file = write_config(tmp_path / "hub.toml", tmp_path / "data", broker.port)
    with config_file.open("a") as f:
        f.write("[homeassistant]\ndiscovery = true\n")
    seen = await watch(broker, "test-ha-lwt")
    hub = start_hub(config_file, tmp_path / "hub.log")
    try:
        await control(tmp_path / "data" / "control.sock", "status")
        topic = "homeassistant/binary_sensor/pingan_T-KILL/online/config"
        config = json.loads(await eventually(lambda: latest(seen, topic)))
        status_topic = config["state_topic"]
        await eventually(lambda: latest(seen, status_topic))
        assert render(config["value_template"], latest(seen, status_topic) or b"") == "ON"
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait()
        # keepalive_s = 5: the broker publishes the last will within 1.5 x keepalive.
        await eventually(
            lambda: json.loads(latest(seen, status_topic) or b"{}").get("state") == "offline",
            timeout=20,
        )
        assert render(config["value_template"], latest(seen, status_topic) or b"") == "OFF"
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        await seen.stop()


async def test_with_discovery_off_nothing_is_published_for_home_assistant(
    broker: Mosquitto, make_hub: HubFactory
) -> None:
    seen = await watch(broker, "test-ha-off")
    try:
        hub = await make_hub(broker.port, mqtt={"heartbeat_s": 1.0})
        await eventually(
            lambda: len([m for m in seen.messages if m.topic == f"{ROOT}/status"]) >= 2
        )
        await hub.alarms.raise_alarm("sos")
        await asyncio.sleep(0.5)
        assert [m.topic for m in seen.messages if "homeassistant" in m.topic] == []
        assert hub.homeassistant is None
    finally:
        await seen.stop()


def test_a_bad_discovery_prefix_is_refused_naming_the_option() -> None:
    import pytest

    from hub.config import parse_config
    from hub.errors import ConfigError

    with pytest.raises(ConfigError) as bad:
        parse_config({"hub": {"id": "X"}, "homeassistant": {"prefix": "home/#"}})
    assert any(p.startswith("homeassistant.prefix:") for p in bad.value.problems)
    with pytest.raises(ConfigError) as bad:
        parse_config({"hub": {"id": "X"}, "homeassistant": {"discovery": "yes"}})
    assert any(p.startswith("homeassistant.discovery:") for p in bad.value.problems)
    assert parse_config({"hub": {"id": "X"}}).homeassistant.discovery is False

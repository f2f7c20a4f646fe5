"""Home Assistant MQTT discovery (optional; `[homeassistant] discovery = true`).

A family that runs Home Assistant on a broker the hub also publishes to sees the hub as
one device with a few entities, without writing any YAML. Per Home Assistant's MQTT
discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery) each entity
is announced by a retained JSON config on

    {prefix}/{component}/pingan_{hub id}/{object}/config

and reads its value from a state topic:

- `binary_sensor` online: the hub's retained `status` topic, whose last will is
  `{"state": "offline"}`: it turns off when the hub dies or loses its connection. It has
  no availability of its own, so "offline" shows as off rather than unavailable.
- every other entity is available while `status` says online (availability topic =
  the status topic, `value_json.state`), and reads `{root}/homeassistant/state`, a
  small retained JSON document the hub keeps current: open alarms, the state of the
  newest one, the elder's last check-in (green button), paired devices offline and with
  a low battery, and the lowest battery level reported.

Nothing about the elder beyond what the family's own home shows: no names, no numbers.
The payload builders are pure; `HomeAssistantBridge` publishes through a callable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

# Home Assistant's MQTT sensor takes this rendered value as "no value" (unknown).
_HA_NONE: Final = "None"


@dataclass(frozen=True)
class HaState:
    """What the `{root}/homeassistant/state` document says."""

    open_alarms: int = 0
    alarm: str = "none"  # the newest open alarm's state: raised, sent, acknowledged ...
    last_checkin: str | None = None  # ISO 8601 UTC of the last green-button check-in
    devices_offline: int = 0
    devices_low_battery: int = 0
    battery_min: int | None = None  # lowest battery % among paired devices reporting one

    def to_json(self) -> bytes:
        """The retained payload."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def state_topic(root: str) -> str:
    """Where the hub keeps its HaState (retained)."""
    return f"{root}/homeassistant/state"


def node_id(hub_id: str) -> str:
    """The discovery node id (hub ids are already [A-Za-z0-9_-], as HA requires)."""
    return f"pingan_{hub_id}"


def discovery_messages(
    prefix: str, root: str, hub_id: str, software: str
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every retained discovery config for this hub."""
    node = node_id(hub_id)
    status = f"{root}/status"
    state = state_topic(root)
    device = {
        "identifiers": [f"pingan-hub-{hub_id}"],
        "name": f"平安通 {hub_id}",
        "manufacturer": "pingan-hub",
        "model": "Ping'an Tong home safety hub",
        "sw_version": software,
    }
    availability = {
        "availability": [
            {
                "topic": status,
                "value_template": "{{ value_json.state }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ]
    }

    def none_if_null(field: str) -> str:
        return f"{{{{ value_json.{field} if value_json.{field} is not none else '{_HA_NONE}' }}}}"

    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "binary_sensor",
            "online",
            {
                "name": "Online",
                "state_topic": status,
                "value_template": "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
                "device_class": "connectivity",
            },
        ),
        (
            "sensor",
            "open_alarms",
            {
                "name": "Open alarms",
                "state_topic": state,
                "value_template": "{{ value_json.open_alarms }}",
                "state_class": "measurement",
                "icon": "mdi:alarm-light",
                **availability,
            },
        ),
        (
            "sensor",
            "alarm",
            {
                "name": "Alarm",
                "state_topic": state,
                "value_template": "{{ value_json.alarm }}",
                "icon": "mdi:alarm-light-outline",
                **availability,
            },
        ),
        (
            "sensor",
            "last_checkin",
            {
                "name": "Last check-in",
                "state_topic": state,
                "value_template": none_if_null("last_checkin"),
                "device_class": "timestamp",
                **availability,
            },
        ),
        (
            "sensor",
            "devices_offline",
            {
                "name": "Devices offline",
                "state_topic": state,
                "value_template": "{{ value_json.devices_offline }}",
                "state_class": "measurement",
                "icon": "mdi:access-point-network-off",
                **availability,
            },
        ),
        (
            "sensor",
            "devices_low_battery",
            {
                "name": "Devices with a low battery",
                "state_topic": state,
                "value_template": "{{ value_json.devices_low_battery }}",
                "state_class": "measurement",
                "icon": "mdi:battery-alert",
                **availability,
            },
        ),
        (
            "sensor",
            "battery_min",
            {
                "name": "Lowest device battery",
                "state_topic": state,
                "value_template": none_if_null("battery_min"),
                "device_class": "battery",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                **availability,
            },
        ),
    ]
    messages = []
    for component, obj, config in entities:
        body = {"unique_id": f"{node}_{obj}", **config, "device": device}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        messages.append((f"{prefix}/{component}/{node}/{obj}/config", payload))
    return messages


class HomeAssistantBridge:
    """Publishes the discovery configs on every connect and the state when it changes."""

    def __init__(
        self,
        prefix: str,
        root: str,
        hub_id: str,
        software: str,
        publish_retained: Callable[[str, bytes], bool],
    ) -> None:
        self.messages = discovery_messages(prefix, root, hub_id, software)
        self.topic = state_topic(root)
        self._publish = publish_retained
        self._published: HaState | None = None  # what the broker holds, as far as we know

    def on_connected(self, state: HaState) -> None:
        """(Re)announce every entity and the current state (a broker may have lost them)."""
        for topic, payload in self.messages:
            self._publish(topic, payload)
        self._published = None
        self.update(state)

    def update(self, state: HaState) -> None:
        """Publish the state if it changed since the last publish that went out."""
        if state != self._published and self._publish(self.topic, state.to_json()):
            self._published = state

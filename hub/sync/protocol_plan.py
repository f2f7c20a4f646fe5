"""Which MQTT version to try next, and how long to wait for its CONNACK (pure logic).

`mqtt.protocol = "auto"` means: MQTT 5 if the broker speaks it, else 3.1.1. Brokers
that speak only 3.1.1 do not all refuse an MQTT 5 CONNECT as the spec asks (CONNACK
0x01): RabbitMQ 3.10 closes the connection, amqtt 0.12 never answers. So an MQTT 5
attempt that is only a probe (this broker has never accepted MQTT 5 from this hub)
waits for its CONNACK a short while; the version that worked is remembered across
restarts (the uplink keeps it in the data directory) and tried first, and the plan
keeps alternating should it stop working.
"""

from __future__ import annotations

from dataclasses import dataclass, field

V5 = "5"
V311 = "3.1.1"

# CONNACK wait of every attempt that is not an MQTT 5 probe: paho/aiomqtt's long-standing
# default, which also bounds how long a broker overloaded after an outage may take.
CONNECT_TIMEOUT_S = 10.0
# CONNACK wait of an MQTT 5 probe. The clock starts after TCP and TLS are up, so it
# covers one round trip plus the broker's authentication: milliseconds on a LAN, 50-
# 150 ms on 4G, up to ~1 s on a congested 2G/EDGE link. 3 s is three such worst round
# trips; a broker silent that long is not going to answer a CONNECT it does not parse,
# and the hub moves on to 3.1.1 (10 s) instead of leaving an alarm waiting 10 s.
PROBE_TIMEOUT_S = 3.0


@dataclass
class ProtocolPlan:
    """Order and CONNACK timeouts of connect attempts for one broker and one setting."""

    choice: str  # "auto", "5" or "3.1.1" (mqtt.protocol)
    remembered: str | None = None  # the version that last worked on this broker
    proven: set[str] = field(default_factory=set)  # versions this broker has accepted

    def __post_init__(self) -> None:
        if self.remembered in (V5, V311):
            self.proven.add(self.remembered)
        else:
            self.remembered = None

    def order(self) -> list[str]:
        """Versions to try, one after the other, before backing off."""
        if self.choice in (V5, V311):
            return [self.choice]
        if self.remembered == V311:
            return [V311, V5]
        return [V5, V311]

    def connect_timeout(self, version: str) -> float:
        """Seconds to wait for the CONNACK of an attempt with `version`."""
        if self.choice == "auto" and version == V5 and V5 not in self.proven:
            return PROBE_TIMEOUT_S
        return CONNECT_TIMEOUT_S

    def worked(self, version: str) -> bool:
        """Record a connection with `version`; True when it is news worth saving."""
        self.proven.add(version)
        news = self.choice == "auto" and self.remembered != version
        self.remembered = version
        return news

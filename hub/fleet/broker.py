"""How the fleet admin tools reach the broker (one node or a cluster's), and their error."""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass
from typing import Final

import aiomqtt

from hub.errors import HubError
from hub.sync import protocol_plan
from hub.sync.brokers import BrokerAddress, parse_broker
from hub.sync.mqtt_client import UplinkClient

# How long a publish or subscribe may wait for its PUBACK or SUBACK.
_CALL_TIMEOUT_S: Final = 10.0


class FleetError(HubError):
    """An admin tool could not do what was asked (bad key file, broker unreachable)."""


@dataclass(frozen=True)
class Broker:
    """Where and how the admin tools connect."""

    host: str = "localhost"
    port: int = 1883
    prefix: str = "pingan/v1"
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    brokers: tuple[str, ...] = ()  # a cluster's nodes, host:port; replaces host and port

    def nodes(self) -> tuple[BrokerAddress, ...]:
        """The nodes to use, in order: `brokers`, or the one `host`:`port`."""
        if self.brokers:
            return tuple(dict.fromkeys(parse_broker(b, self.port) for b in self.brokers))
        return (BrokerAddress(self.host, self.port),)

    def client(
        self,
        node: BrokerAddress | None = None,
        *,
        identifier: str | None = None,
        persistent: bool = False,
        inflight: int | None = None,
        connect_timeout: float | None = None,
    ) -> aiomqtt.Client:
        """An admin client on `node` (the first by default): clean session and a unique id,
        or a persistent session under `identifier`. Its CONNECT waits `connect_timeout`
        (10 s by default; hub.sync.reconnect grows it while the nodes are slow) for the
        CONNACK, and an attempt given up closes its socket at once (UplinkClient)."""
        target = node or self.nodes()[0]
        tls_context = None
        if self.tls:
            tls_context = ssl.create_default_context(cafile=self.ca_file or None)
            if self.cert_file:
                tls_context.load_cert_chain(self.cert_file, self.key_file or None)
        return UplinkClient(
            target.host,
            target.port,
            username=self.username or None,
            password=self.password or None,
            identifier=identifier or f"pingan-admin-{uuid.uuid4().hex[:12]}",
            clean_session=not persistent,
            tls_context=tls_context,
            timeout=_CALL_TIMEOUT_S,
            connect_timeout=connect_timeout or protocol_plan.CONNECT_TIMEOUT_S,
            max_inflight_messages=inflight,
        )

"""A running hub receives a software update over the real broker: it downloads the bundle
beside its other work, hands it to the root installer and reports each step; a forged
command is refused and reported; an alarm raised while the bundle downloads still goes out.

The root side (rauc writing a slot, the reboot, the health check) needs a real image: it
is exercised in a VM by bench/vm_update.py.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.app import Hub
from hub.sim.broker import Mosquitto
from hub.sync.ota import public_key_text
from hub.update import command, files
from tests.conftest import HUB_ID, HubFactory
from tests.helpers import Collector, eventually

FLEET_KEY = Ed25519PrivateKey.generate()
ROOT = f"pingan/v1/{HUB_ID}"
BUNDLE = bytes(range(256)) * 4096  # 1 MiB stands in for a bundle: the hub never opens it


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def bundle_server(tmp_path: Path) -> Iterator[str]:
    """The bundle over HTTP on loopback; yields its URL."""
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "next.raucb").write_bytes(BUNDLE)
    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/next.raucb"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
async def fleet(broker: Mosquitto) -> Any:
    c = Collector(
        broker.port,
        topics=("pingan/v1/+/event/#", "pingan/v1/+/update/reported"),
        ident="test-fleet-update",
    )
    await c.start()
    await c.subscribed.wait()
    yield c
    await c.stop()


def update_command(url: str, key: Ed25519PrivateKey = FLEET_KEY, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "number": 1,
        "version": "0.2.0",
        "url": url,
        "sha256": hashlib.sha256(BUNDLE).hexdigest(),
        "size": len(BUNDLE),
        "issued_at": datetime.now(UTC),
        "hub": HUB_ID,
    }
    fields.update(changes)
    return json.dumps(command.sign_command(key, **fields)).encode()


def steps(fleet: Collector) -> list[dict[str, Any]]:
    return [m.json() for m in fleet.messages if m.topic == f"{ROOT}/update/reported"]


async def start(make_hub: HubFactory, port: int) -> Hub:
    hub = await make_hub(port, fleet={"public_keys": [public_key_text(FLEET_KEY)]})
    await eventually(hub.uplink.connected.is_set)
    return hub


async def test_a_signed_update_is_downloaded_handed_over_and_every_step_reported(
    broker: Mosquitto, fleet: Collector, make_hub: HubFactory, bundle_server: str
) -> None:
    hub = await start(make_hub, broker.port)
    await fleet.publish(f"{ROOT}/cmd/update", update_command(bundle_server))
    alarm = await hub.alarms.raise_alarm("sos")  # while the download runs
    request = files.request_path(hub.cfg.data_path)
    await eventually(request.exists, timeout=20)
    assert json.loads(request.read_bytes()) == {
        "number": 1,
        "version": "0.2.0",
        "sha256": hashlib.sha256(BUNDLE).hexdigest(),
    }
    assert files.bundle_path(hub.cfg.data_path).read_bytes() == BUNDLE
    await eventually(lambda: any(s["status"] == "downloaded" for s in steps(fleet)), timeout=20)
    last = steps(fleet)[-1]
    assert last["number"] == 1 and last["version"] == "0.2.0" and last["error"] is None
    assert "accepted" in last["history"] and "downloading" in last["history"]
    assert alarm is not None
    await eventually(lambda: alarm.id in {e["id"] for e in fleet.events()})


async def test_a_forged_update_command_is_refused_reported_and_nothing_is_downloaded(
    broker: Mosquitto, fleet: Collector, make_hub: HubFactory, bundle_server: str
) -> None:
    hub = await start(make_hub, broker.port)
    forged = update_command(bundle_server, key=Ed25519PrivateKey.generate())
    await fleet.publish(f"{ROOT}/cmd/update", forged)
    [report] = await eventually(lambda: steps(fleet))
    assert report["status"] == "rejected"
    assert report["error"]["reason"] == "unknown_key"
    assert not files.update_dir(hub.cfg.data_path).joinpath("bundle.part").exists()
    assert not files.request_path(hub.cfg.data_path).exists()


async def test_a_bundle_that_is_not_the_one_signed_for_is_discarded(
    broker: Mosquitto, fleet: Collector, make_hub: HubFactory, bundle_server: str
) -> None:
    hub = await start(make_hub, broker.port)
    other = update_command(bundle_server, sha256="0" * 64)
    await fleet.publish(f"{ROOT}/cmd/update", other)
    await eventually(lambda: any(s["status"] == "failed" for s in steps(fleet)), timeout=20)
    assert steps(fleet)[-1]["error"]["reason"] == "checksum"
    assert not files.bundle_path(hub.cfg.data_path).exists()
    assert not files.request_path(hub.cfg.data_path).exists()

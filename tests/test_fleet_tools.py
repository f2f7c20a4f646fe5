"""The fleet admin's tools, end to end, and the MQTT contract in docs/asyncapi.yaml.

The admin makes a key on their own machine, signs a partial config, pushes it through a
real mosquitto, and lists the hubs; every payload on the wire matches the published
contract.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest
import yaml

from hub.event import Event, Priority, Source, new_event_id
from hub.fleet.cli import add_fleet_commands, run_fleet_command
from hub.fleet.status import fold_messages
from hub.sim.broker import Mosquitto
from hub.sync import ota
from hub.sync.ota import ReportStatus

ASYNCAPI = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"
LOCAL = {"hub": {"id": "GZ-000123", "data_dir": "/var/lib/pingan-hub"}}


def cli(*argv: str) -> int:
    """`pingan-hub <argv>` for the admin commands, as the lead wires them into hub/cli.py."""
    parser = argparse.ArgumentParser(prog="pingan-hub")
    add_fleet_commands(parser.add_subparsers(dest="command"))
    return run_fleet_command(parser.parse_args(list(argv)))


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    return doc


def conforms(contract: dict[str, Any], schema: str, payload: bytes | dict[str, Any]) -> None:
    """Validate against components/schemas/<schema>, references resolved in the document."""
    obj = json.loads(payload) if isinstance(payload, bytes) else payload
    root = {"$ref": f"#/components/schemas/{schema}", "components": contract["components"]}
    jsonschema.Draft7Validator(root).validate(obj)


PARTIAL = """\
[sos]
ack_timeout_s = 20.0
resend_s = 5.0

[escalation]
contacts = [{ name = "王小红", number = "+8613800138000", relation = "女儿" }]
"""


def test_admin_makes_a_key_signs_a_config_and_the_hub_accepts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], contract: dict[str, Any]
) -> None:
    key = tmp_path / "fleet-key.pem"
    assert cli("keygen", "--key", str(key)) == 0
    printed = capsys.readouterr().out
    public = Path(f"{key}.pub").read_text().strip()
    assert f'public_keys = ["{public}"]' in printed
    assert (key.stat().st_mode & 0o777) == 0o600

    partial = tmp_path / "care.toml"
    partial.write_text(PARTIAL, encoding="utf-8")
    out = tmp_path / "v7.json"
    argv = ["sign-config", "--key", str(key), "--version", "7", "--hub", "GZ-000123"]
    assert cli(*argv, "--out", str(out), str(partial)) == 0
    raw = out.read_bytes()
    conforms(contract, "ConfigEnvelope", raw)

    accepted = ota.verify_envelope(
        raw,
        public_keys=[public],
        hub_id="GZ-000123",
        groups=[],
        current_version=6,
        base=LOCAL,
        now=datetime.now(UTC),  # sign-config signs with the current time
        clock_synced=True,
    )
    assert accepted.version == 7
    assert accepted.config.sos.ack_timeout_s == 20.0
    assert accepted.config.escalation.contacts[0].relation == "女儿"


def test_keygen_never_overwrites_a_fleet_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "fleet-key.pem"
    key.write_text("the only copy")
    assert cli("keygen", "--key", str(key)) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert key.read_text() == "the only copy"


def test_signing_a_config_that_renames_a_hub_is_refused_on_the_admin_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k.pem"
    cli("keygen", "--key", str(key))
    bad = tmp_path / "bad.toml"
    bad.write_text('[hub]\nid = "GZ-666"\n[sos]\nack_tmeout_s = 3\n')
    assert cli("sign-config", "--key", str(key), "--version", "1", "--group", "g", str(bad)) == 2
    err = capsys.readouterr().err
    assert "hub.id: may not be set by a fleet push" in err


async def _hubs_come_online(port: int, statuses: dict[str, dict[str, Any]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="fake-hubs") as client:
        for hub_id, status in statuses.items():
            await client.publish(
                f"pingan/v1/{hub_id}/status", json.dumps(status), qos=1, retain=True
            )


async def _hub_reads_desired(port: int, hub_id: str) -> bytes:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"hub-{hub_id}") as client:
        await client.subscribe(f"pingan/v1/{hub_id}/config/desired", qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError("no retained config")


async def _hub_reports(port: int, hub_id: str, payload: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"hub-{hub_id}") as client:
        await client.publish(f"pingan/v1/{hub_id}/config/reported", payload, qos=1, retain=True)


def test_admin_pushes_to_a_group_and_sees_each_hub_report(
    broker: Mosquitto,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    contract: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    fresh = now.isoformat().replace("+00:00", "Z")
    old = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    def online(hub_id: str, ts: str) -> dict[str, Any]:
        return {
            "state": "online",
            "hub": hub_id,
            "ts": ts,
            "version": "0.1.0",
            "uptime_s": 42,
            "outbox": {"0": 0, "1": 0, "2": 3},
            "open_alarms": 0,
        }

    statuses = {
        "GZ-0001": online("GZ-0001", fresh),
        "GZ-0002": {"state": "offline", "hub": "GZ-0002"},
        "GZ-0003": {**online("GZ-0003", old), "config_version": 2},
    }
    for status in statuses.values():
        conforms(contract, "Status", status)
    asyncio.run(_hubs_come_online(broker.port, statuses))

    key = tmp_path / "k.pem"
    cli("keygen", "--key", str(key))
    public = Path(f"{key}.pub").read_text().strip()
    partial = tmp_path / "p.toml"
    partial.write_text("[sos]\nack_timeout_s = 20.0\n")
    env_path = tmp_path / "env.json"
    argv = ["sign-config", "--key", str(key), "--version", "3", "--group", "tianhe"]
    assert cli(*argv, "--out", str(env_path), str(partial)) == 0
    hubs_file = tmp_path / "tianhe.txt"
    hubs_file.write_text("GZ-0001\nGZ-0002\n")
    broker_args = ["--host", "127.0.0.1", "--port", str(broker.port)]
    assert cli("fleet", "push", *broker_args, "--hubs", str(hubs_file), str(env_path)) == 0
    assert "published to 2 hub(s)" in capsys.readouterr().out

    # Hub GZ-0001 finds the envelope retained on its own topic and applies it.
    raw = asyncio.run(_hub_reads_desired(broker.port, "GZ-0001"))
    accepted = ota.verify_envelope(
        raw,
        public_keys=[public],
        hub_id="GZ-0001",
        groups=["tianhe"],
        current_version=0,
        base={"hub": {"id": "GZ-0001"}},
        now=datetime.now(UTC),
        clock_synced=True,
    )
    applied = ota.reported_payload(accepted.version, ReportStatus.APPLIED, now)
    conforms(contract, "ConfigReported", applied)
    asyncio.run(_hub_reports(broker.port, "GZ-0001", applied))

    assert cli("fleet", "status", *broker_args, "--wait", "0.5", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    # Counts first: what an admin of 84,000 hubs reads before any row.
    assert doc["counts"] == {
        "hubs": 3,
        "state": {"online": 1, "offline": 1, "silent": 1},
        "software": {"0.1.0": 2, "-": 1},
        "config": {"v3": 1, "none": 1, "v2": 1},
        "report": {"none": 2, "v3 applied": 1},
    }
    rows = doc["hubs"]
    assert rows == [
        {
            "hub": "GZ-0001",
            "state": "online",
            "last_heartbeat": fresh,
            "software": "0.1.0",
            "running_config": None,
            "config_version": 3,
            "config_status": "applied",
            "config_error": "",
        },
        {
            "hub": "GZ-0002",
            "state": "offline",
            "last_heartbeat": "",
            "software": "",
            "running_config": None,
            "config_version": None,
            "config_status": "",
            "config_error": "",
        },
        {
            "hub": "GZ-0003",
            "state": "silent",
            "last_heartbeat": old,
            "software": "0.1.0",
            "running_config": 2,
            "config_version": None,
            "config_status": "",
            "config_error": "",
        },
    ]
    assert cli("fleet", "status", *broker_args, "--wait", "0.3") == 0
    table = capsys.readouterr().out
    assert table.startswith("3 hubs\nstate    online 1   offline 1   silent 1\n")
    assert "GZ-0001  online" in table
    assert table.rstrip().endswith("3 hubs, 1 online")


def test_status_of_named_hubs_shows_each_even_one_never_heard_from(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = {
        "GZ-0001": {"state": "offline", "hub": "GZ-0001"},
        "GZ-0002": {"state": "offline", "hub": "GZ-0002"},
    }
    asyncio.run(_hubs_come_online(broker.port, statuses))
    broker_args = ["--host", "127.0.0.1", "--port", str(broker.port), "--wait", "0.5"]
    assert cli("fleet", "status", *broker_args, "--hub", "GZ-0001", "--hub", "GZ-0404") == 0
    table = capsys.readouterr().out
    assert "GZ-0001  offline" in table
    assert "GZ-0404  unknown" in table
    assert "GZ-0002" not in table
    assert table.rstrip().endswith("2 hubs, 0 online")


def test_a_hub_envelope_goes_only_to_its_own_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k.pem"
    cli("keygen", "--key", str(key))
    partial = tmp_path / "p.toml"
    partial.write_text("[sos]\nack_timeout_s = 20.0\n")
    env_path = tmp_path / "env.json"
    argv = ["sign-config", "--key", str(key), "--version", "3", "--hub", "GZ-0001"]
    cli(*argv, "--out", str(env_path), str(partial))
    capsys.readouterr()
    assert cli("fleet", "push", "--port", "1", "--hub", "GZ-0002", str(env_path)) == 2
    assert "signed for hub GZ-0001" in capsys.readouterr().err


def test_status_ignores_garbage_on_the_status_topics() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    rows = fold_messages(
        "pingan/v1",
        [
            ("pingan/v1/A/status", b"\xff"),
            ("pingan/v1/B/status", b"[1]"),
            ("pingan/v1/C/config/reported", b'{"version": "x", "error": 5}'),
            ("other/D/status", b"{}"),
        ],
        now,
        180.0,
    )
    assert [(r.hub, r.config_version, r.config_status) for r in rows] == [("C", None, "")]


# -- the contract ------------------------------------------------------------------------


def test_the_contract_is_an_asyncapi_3_document_with_every_topic(contract: dict[str, Any]) -> None:
    assert contract["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in contract["channels"].values()}
    assert addresses == {
        "pingan/v1/{hub}/event/{kind}",
        "pingan/v1/{hub}/ack",
        "pingan/v1/{hub}/status",
        "pingan/v1/{hub}/config/desired",
        "pingan/v1/{hub}/config/reported",
        "pingan/v1/{hub}/update/reported",
        "pingan/v1/{hub}/cmd/{name}",
        "pingan/v1/{hub}/homeassistant/state",  # optional: [homeassistant] discovery
        "{prefix}/{component}/pingan_{hub}/{object}/config",
    }
    for schema in contract["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)


def test_events_the_hub_publishes_match_the_contract(contract: dict[str, Any]) -> None:
    sos = Event(
        id=new_event_id(),
        hub="GZ-000123",
        seq=41,
        kind="sos",
        priority=Priority.ALARM,
        ts=datetime(2026, 11, 23, 8, 0, 1, 250000, tzinfo=UTC),
        clock_synced=True,
        source=Source("gpio17", name="红色求助按钮", protocol="gpio"),
        data={"test": True},
    )
    conforms(contract, "Event", sos.to_json())
    telemetry = Event(
        new_event_id(), "GZ-000123", 42, "door", Priority.TELEMETRY, sos.ts, False, None, {}
    )
    conforms(contract, "Event", telemetry.to_json())
    broken = {**json.loads(sos.to_json()), "seq": 0}
    with pytest.raises(jsonschema.ValidationError):
        conforms(contract, "Event", broken)


def test_acks_and_commands_from_the_centre_match_the_contract(contract: dict[str, Any]) -> None:
    conforms(contract, "Ack", {"id": new_event_id(), "state": "received", "operator": "A07"})
    conforms(contract, "Ack", {"id": "x", "state": "resolved", "operator": None, "note": ""})
    with pytest.raises(jsonschema.ValidationError):
        conforms(contract, "Ack", {"id": "x", "state": "lost"})
    conforms(contract, "Command", {})
    conforms(contract, "Command", {"text": "今天有台风，请不要外出"})
    conforms(contract, "Command", {"id": "T-20261201-1", "escalation": True})
    with pytest.raises(jsonschema.ValidationError):
        conforms(contract, "Command", {"id": "", "escalation": "yes"})


def test_every_config_report_matches_the_contract(contract: dict[str, Any]) -> None:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    forged = ota.Rejected("unknown_key", "signed by a key that is not a fleet key of this hub")
    for payload in (
        ota.reported_payload(3, ReportStatus.APPLIED, at),
        ota.reported_payload(None, ReportStatus.REJECTED, at, error=forged),
        ota.reported_payload(4, ReportStatus.ROLLED_BACK, at, message="no broker within 120 s"),
    ):
        conforms(contract, "ConfigReported", payload)
    with pytest.raises(jsonschema.ValidationError):
        conforms(contract, "ConfigReported", {"version": 1, "status": "maybe", "at": "x"})


def test_an_envelope_with_an_unknown_field_breaks_the_contract(contract: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        conforms(
            contract,
            "ConfigEnvelope",
            {"version": 1, "issued_at": "2026-11-23T00:00:00Z", "hub": "A", "config": {}},
        )

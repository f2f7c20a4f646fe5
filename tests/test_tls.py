"""TLS with the fleet CA and a per-hub client certificate, and per-hub passwords."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.sim.broker import Mosquitto
from tests.conftest import HubFactory
from tests.helpers import eventually
from tests.test_spine import press


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    san: str | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None
) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    """mosquitto requiring TLS and a client certificate signed by the fleet CA."""
    pki = tmp_path / "pki"
    pki.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("pingan fleet CA", ca_key, _name("pingan fleet CA"), ca_key, ca=True)
    _write(pki / "ca.pem", ca)
    for who, san in (("server", "localhost"), ("hub", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(pki / f"{who}.pem", _cert(who, key, ca.subject, ca_key, ca=False, san=san), key)
    workdir = tmp_path / "broker"
    workdir.mkdir()
    mosq = Mosquitto(
        workdir=workdir,
        extra=(
            f"cafile {pki}/ca.pem\ncertfile {pki}/server.pem\nkeyfile {pki}/server.key\n"
            "require_certificate true\n"
        ),
    )
    mosq.start()
    yield mosq, pki
    mosq.close()


async def test_hub_connects_over_tls_with_its_client_certificate(
    tls_broker: tuple[Mosquitto, Path], make_hub: HubFactory
) -> None:
    broker, pki = tls_broker
    hub = await make_hub(
        broker.port,
        mqtt={
            "host": "localhost",
            "tls": True,
            "ca_file": str(pki / "ca.pem"),
            "cert_file": str(pki / "hub.pem"),
            "key_file": str(pki / "hub.key"),
        },
    )
    await eventually(hub.uplink.connected.is_set, timeout=15)
    await press(hub)
    await eventually(
        lambda: (
            (hub.alarms.book.open_sos() or None)
            and hub.alarms.book.open_sos().state.value == "sent"
        )
    )  # type: ignore[union-attr]


async def test_hub_without_a_client_certificate_is_refused_and_says_why(
    tls_broker: tuple[Mosquitto, Path], make_hub: HubFactory
) -> None:
    broker, pki = tls_broker
    hub = await make_hub(
        broker.port, mqtt={"host": "localhost", "tls": True, "ca_file": str(pki / "ca.pem")}
    )
    await eventually(lambda: hub.uplink.state.last_error, timeout=15)
    assert not hub.uplink.state.connected


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """mosquitto that only admits hub-T-0001 with its password."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    passwords = workdir / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "hub-T-0001", "s3cret"], check=True
    )
    mosq = Mosquitto(workdir=workdir, anonymous=False, extra=f"password_file {passwords}\n")
    mosq.start()
    yield mosq
    mosq.close()


async def test_per_hub_password_is_required_by_the_broker(
    password_broker: Mosquitto, make_hub: HubFactory
) -> None:
    port = password_broker.port
    wrong = await make_hub(port, mqtt={"username": "hub-T-0001", "password": "nope"})
    await eventually(lambda: wrong.uplink.state.last_error, timeout=15)
    assert "Not authorized" in wrong.uplink.state.last_error
    assert not wrong.uplink.state.connected
    await wrong.stop()
    right = await make_hub(port, mqtt={"username": "hub-T-0001", "password": "s3cret"})
    await eventually(right.uplink.connected.is_set, timeout=15)

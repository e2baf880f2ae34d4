"""TLS is verified by default: an HTTPS front with a certificate from an unknown CA is refused
before anything is sent, and `--ca-bundle` adds that CA."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import export_copy, run_upload
from .hapi import HapiServer
from .proxy import FaultProxy

pytestmark = pytest.mark.java


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ivig-fhir test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "ca.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_is_verified_and_ca_bundle_adds_a_ca(hapi: HapiServer, tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    copy = export_copy(tmp_path / "export", "tls")
    with FaultProxy(hapi.url, tls=tls) as proxy:
        assert proxy.url.startswith("https://127.0.0.1:")
        refused = run_upload(str(copy.path), "--server", proxy.url, env=hapi.env())
        assert refused.code == 1, refused.output
        assert "TLS certificate verification failed" in refused.output
        assert not any(method in ("POST", "PUT") for method, _, _ in proxy.log)

        trusted = run_upload(str(copy.path), "--server", proxy.url, "--ca-bundle",
                             str(cert_file), env=hapi.env())
        assert trusted.code == 0, trusted.output
    assert set(hapi.versions(copy.keys).values()) == {"1"}  # every resource of the copy landed

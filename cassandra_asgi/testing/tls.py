"""Throwaway TLS material for running ``CQLServer`` over TLS in tests.

Needs the ``cryptography`` package (in the ``test`` extra); it is imported only when a
certificate is made, so the rest of ``cassandra_asgi.testing`` works without it.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SelfSignedCertificate", "make_self_signed_certificate"]


@dataclass(frozen=True)
class SelfSignedCertificate:
    """A certificate and its key as PEM files, valid for one IP address."""

    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """For ``CQLServer(ssl_context=...)``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """For ``CassandraConfig(ssl_context=...)``: trusts this certificate, checks the host."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(self.cert_path)
        return context


def make_self_signed_certificate(
    folder: Path,
    host: str = "127.0.0.1",
    *,
    valid_for: datetime.timedelta = datetime.timedelta(hours=2),
) -> SelfSignedCertificate:
    """Write ``node.pem`` and ``node.key`` into ``folder`` for a certificate naming ``host``."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "making a test certificate needs the 'cryptography' package "
            "(pip install 'cassandra-asgi[test]')"
        ) from exc

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cassandra-asgi test {host}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate clock skew
        .not_valid_after(now + valid_for)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "node.pem", folder / "node.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SelfSignedCertificate(cert_path, key_path)

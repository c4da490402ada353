"""Password authentication and TLS, with the driver's own auth provider and ssl_context."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import RoundRobinPolicy

from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.tls import make_self_signed_certificate

pytestmark = pytest.mark.memory_only


def _connect_error(cluster: Cluster) -> BaseException:
    with pytest.raises(NoHostAvailable) as failure:
        cluster.connect()
    (error,) = failure.value.errors.values()
    assert isinstance(error, BaseException)
    return error


@pytest.fixture
def secured() -> Iterator[CQLServer]:
    with CQLServer(username="cassandra", password="s3cret") as server:
        yield server


def _cluster(server: CQLServer, **options: object) -> Cluster:
    return Cluster(
        [server.host], port=server.port, load_balancing_policy=RoundRobinPolicy(), **options
    )


def test_right_credentials_connect(secured: CQLServer) -> None:
    cluster = _cluster(secured, auth_provider=PlainTextAuthProvider("cassandra", "s3cret"))
    try:
        assert cluster.connect().execute("SELECT key FROM system.local").one().key == "local"
    finally:
        cluster.shutdown()


def test_wrong_password_is_an_authentication_failure(secured: CQLServer) -> None:
    cluster = _cluster(secured, auth_provider=PlainTextAuthProvider("cassandra", "wrong"))
    try:
        error = _connect_error(cluster)
        assert isinstance(error, AuthenticationFailed)
        assert "Provided username cassandra and/or password are incorrect" in str(error)
    finally:
        cluster.shutdown()


def test_missing_credentials_are_refused(secured: CQLServer) -> None:
    cluster = _cluster(secured)
    try:
        assert isinstance(_connect_error(cluster), AuthenticationFailed)
    finally:
        cluster.shutdown()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    made = make_self_signed_certificate(tmp_path)
    return made.cert_path, made.key_path


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[CQLServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with CQLServer(ssl_context=context) as server:
        yield server


def test_tls_client_verifying_the_certificate_connects(
    tls_server: CQLServer, certificate: tuple[Path, Path]
) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(certificate[0])
    cluster = _cluster(tls_server, ssl_context=client)
    try:
        session = cluster.connect()
        assert session.execute("SELECT key FROM system.local").one().key == "local"
    finally:
        cluster.shutdown()


def test_plain_client_cannot_talk_to_a_tls_server(tls_server: CQLServer) -> None:
    cluster = _cluster(tls_server, connect_timeout=2)
    try:
        with pytest.raises(NoHostAvailable):
            cluster.connect()
    finally:
        cluster.shutdown()

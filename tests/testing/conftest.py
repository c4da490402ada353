"""Fixtures shared by the in-memory server's tests.

CQL-semantics tests use ``session`` (a keyspace on the target from the plugin's
``cassandra_config``), so they run against a real cluster too when ``CASSANDRA_CONTACT_POINTS``
is set; that makes them a check of the server against Cassandra itself. Tests that need the
server object take ``server`` (the plugin's ``cql_server``) and are skipped there.

The pytest plugin itself is loaded through its ``pytest11`` entry point (the package is
installed in development mode), so it is deliberately not registered again here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.pytest_plugin import driver_cluster_kwargs

KEYSPACE_CQL = (
    "CREATE KEYSPACE {} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
)


def _with_profile(options: dict[str, Any]) -> dict[str, Any]:
    if "load_balancing_policy" not in options:
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
        options.setdefault("execution_profiles", {EXEC_PROFILE_DEFAULT: profile})
    return options


def make_cluster(server: CQLServer, **options: Any) -> Cluster:
    """A driver cluster for an in-memory ``server``."""
    return Cluster([server.host], port=server.port, **_with_profile(options))


def make_target_cluster(config: CassandraConfig, **options: Any) -> Cluster:
    """A driver cluster for the test target (in-memory server or real cluster)."""
    kwargs = driver_cluster_kwargs(config)
    kwargs.update(options)
    return Cluster(**_with_profile(kwargs))


@pytest.fixture
def server(cql_server: CQLServer) -> CQLServer:
    """The in-memory server behind ``cassandra_config`` (such tests skip on a real cluster)."""
    return cql_server


#: Cassandra 4.1 serves v3, v4 and v5 (the driver's default); CQL-semantics tests run at each
PROTOCOL_VERSIONS = (3, 4, 5)


@pytest.fixture(params=PROTOCOL_VERSIONS, ids=[f"v{v}" for v in PROTOCOL_VERSIONS])
def protocol_version(request: pytest.FixtureRequest) -> int:
    version: int = request.param
    return version


@pytest.fixture
def cluster(cassandra_config: CassandraConfig, protocol_version: int) -> Iterator[Cluster]:
    """A driver cluster pinned to each protocol version in turn."""
    cluster = make_target_cluster(cassandra_config, protocol_version=protocol_version)
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def session(cluster: Cluster, keyspace: str) -> Session:
    """A session in the test's own keyspace."""
    session = cluster.connect()
    session.set_keyspace(keyspace)
    return session

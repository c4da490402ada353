"""Helpers shared by the in-memory server's tests.

The pytest plugin itself is loaded through its ``pytest11`` entry point (the package is
installed in development mode), so it is deliberately not registered again here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy

from cassandra_asgi.testing import CQLServer

KEYSPACE_CQL = (
    "CREATE KEYSPACE {} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
)


def make_cluster(server: CQLServer, **options: object) -> Cluster:
    """A driver cluster for ``server``; default settings unless a test overrides them."""
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
    options.setdefault("execution_profiles", {EXEC_PROFILE_DEFAULT: profile})
    return Cluster([server.host], port=server.port, **options)


@pytest.fixture
def server() -> Iterator[CQLServer]:
    with CQLServer() as srv:
        yield srv


@pytest.fixture
def cluster(server: CQLServer) -> Iterator[Cluster]:
    cluster = make_cluster(server)
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def session(cluster: Cluster) -> Session:
    """A session already in keyspace ``ks``."""
    session = cluster.connect()
    session.execute(KEYSPACE_CQL.format("ks"))
    session.set_keyspace("ks")
    return session

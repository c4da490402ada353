"""pytest plugin (entry point ``pytest11``): in-memory server and Cassandra fixtures.

Tests written with ``cassandra_config`` / ``keyspace`` / ``cassandra_session`` run against the
in-memory server by default and against a real cluster when ``CASSANDRA_CONTACT_POINTS`` is
set; tests that need server-only features (fault injection, request counters) take
``cql_server`` or carry ``@pytest.mark.memory_only`` and are skipped against a real cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..config import CassandraConfig
from .cluster.server import CQLServer

if TYPE_CHECKING:
    from ..session import AsyncSession

__all__ = [
    "cassandra_config",
    "cassandra_session",
    "cql_server",
    "driver_cluster_kwargs",
    "keyspace",
    "real_cluster_requested",
]

_ENV = "CASSANDRA_CONTACT_POINTS"
_MEMORY_ONLY_HELP = (
    "memory_only: needs a feature of the in-memory server (skipped against a real Cassandra)"
)


def real_cluster_requested() -> bool:
    """True when the tests should target the cluster named by CASSANDRA_CONTACT_POINTS."""
    return bool(os.environ.get(_ENV, "").strip())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MEMORY_ONLY_HELP)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not real_cluster_requested():
        return
    skip = pytest.mark.skip(reason=f"memory_only: {_ENV} is set, so tests target a real cluster")
    for item in items:
        if item.get_closest_marker("memory_only") is not None:
            item.add_marker(skip)


@pytest.fixture
def cql_server() -> Iterator[CQLServer]:
    """A fresh in-memory server on a free port, on a background thread."""
    if real_cluster_requested():
        pytest.skip(f"needs the in-memory server, but {_ENV} is set")
    with CQLServer() as server:
        yield server


@pytest.fixture
def cassandra_config(request: pytest.FixtureRequest) -> CassandraConfig:
    """Settings for the real cluster from the environment, else for a fresh in-memory server."""
    if real_cluster_requested():
        return CassandraConfig.from_env()
    server: CQLServer = request.getfixturevalue("cql_server")
    return CassandraConfig(contact_points=(server.host,), port=server.port)


def driver_cluster_kwargs(config: CassandraConfig) -> dict[str, Any]:
    """Keyword arguments for a raw ``cassandra.cluster.Cluster`` matching ``config``."""
    return config.cluster_kwargs(driver_rows=True)


@pytest.fixture
def keyspace(cassandra_config: CassandraConfig) -> Iterator[str]:
    """A uniquely named keyspace (SimpleStrategy, RF 1), dropped after the test."""
    from cassandra.cluster import Cluster

    name = f"test_{uuid.uuid4().hex[:16]}"
    cluster = Cluster(**driver_cluster_kwargs(cassandra_config))
    try:
        session = cluster.connect()
        session.execute(
            f"CREATE KEYSPACE {name} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            timeout=60,
        )
        try:
            yield name
        finally:
            session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
    finally:
        cluster.shutdown()


def _async_fixture() -> Callable[..., Any]:
    try:
        import pytest_asyncio
    except ImportError:  # plain pytest: an async generator fixture needs another plugin
        return pytest.fixture
    fixture: Callable[..., Any] = pytest_asyncio.fixture
    return fixture


@_async_fixture()
async def cassandra_session(
    cassandra_config: CassandraConfig, keyspace: str
) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` on the test's keyspace, closed afterwards."""
    from .. import connect  # imported late: the core must not be needed to load the plugin

    async with connect(cassandra_config.replace(keyspace=keyspace)) as session:
        yield session

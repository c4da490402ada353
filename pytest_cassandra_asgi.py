"""cassandra-asgi's pytest plugin (entry point ``pytest11``): in-memory server, Cassandra fixtures.

Tests written with ``cassandra_config`` / ``keyspace`` / ``cassandra_session`` run against the
in-memory server by default and against a real cluster when ``CASSANDRA_CONTACT_POINTS`` is
set; tests that need server-only features (fault injection, request counters) take
``cql_server`` or carry ``@pytest.mark.memory_only`` and are skipped against a real cluster.
``cql_cluster`` is an in-memory multi-node cluster shaped by ``@pytest.mark.cql_cluster(...)``.
``CASSANDRA_IO=thread|loop`` runs every session of the run (the fixtures', and any
``CassandraConfig`` that leaves ``io`` out) in that I/O mode; the header names the mode.

pytest loads this module in every run of every environment where cassandra-asgi is installed,
whether or not a test uses it. So it imports nothing but pytest at load time, and it lives
outside the ``cassandra_asgi`` package: importing anything under that package runs the
package's ``__init__``, and with it the driver's ``cassandra.cluster`` (a few tenths of a
second). Each fixture imports what it needs when a test first asks for it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cassandra_asgi.config import CassandraConfig
    from cassandra_asgi.session import AsyncSession
    from cassandra_asgi.testing import CQLServer

__all__ = [
    "ExternalCluster",
    "cassandra_config",
    "cassandra_session",
    "cql_cluster",
    "cql_server",
    "cql_server_session",
    "driver_cluster_kwargs",
    "io_mode",
    "keyspace",
    "real_cluster_requested",
]

_ENV = "CASSANDRA_CONTACT_POINTS"
#: The I/O mode of every session that does not choose one (``CassandraConfig.io``).
_IO_ENV = "CASSANDRA_IO"
_IO_MODES = ("thread", "loop")
#: Addresses of the servers that live for the whole run (``cql_server_session``).
_RUN_LONG_SERVERS: set[tuple[str, int]] = set()
_MEMORY_ONLY_HELP = (
    "memory_only: needs a feature of the in-memory server (skipped against a real Cassandra)"
)
_CLUSTER_HELP = (
    "cql_cluster(shape=3, **options): shape of the cql_cluster fixture, e.g. "
    "@pytest.mark.cql_cluster({'dc1': 3, 'dc2': 2}, detection_delay=2.0) (CQLCluster arguments)"
)


def real_cluster_requested() -> bool:
    """True when the tests should target the cluster named by CASSANDRA_CONTACT_POINTS."""
    return bool(os.environ.get(_ENV, "").strip())


def io_mode() -> str:
    """The I/O mode sessions of this run use unless a test chooses (``CASSANDRA_IO``)."""
    return os.environ.get(_IO_ENV, "").strip() or "thread"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MEMORY_ONLY_HELP)
    config.addinivalue_line("markers", _CLUSTER_HELP)
    if io_mode() not in _IO_MODES:
        raise pytest.UsageError(
            f"{_IO_ENV}={os.environ[_IO_ENV]!r}: expected one of {', '.join(_IO_MODES)}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"cassandra-asgi: I/O mode {io_mode()} ({_IO_ENV})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not real_cluster_requested():
        return
    skip = pytest.mark.skip(reason=f"memory_only: {_ENV} is set, so tests target a real cluster")
    for item in items:
        if item.get_closest_marker("memory_only") is not None:
            item.add_marker(skip)


def _serve() -> Iterator[CQLServer]:
    if real_cluster_requested():
        pytest.skip(f"needs the in-memory server, but {_ENV} is set")
    from cassandra_asgi.testing import CQLServer

    with CQLServer() as server:
        yield server


@pytest.fixture
def cql_server() -> Iterator[CQLServer]:
    """A fresh in-memory server on a free port, on a background thread, for one test."""
    yield from _serve()


@pytest.fixture(scope="session")
def cql_server_session() -> Iterator[CQLServer]:
    """One in-memory server for the whole run. To run ``cassandra_config``, ``keyspace`` and
    ``cassandra_session`` on it too, override ``cql_server`` in a conftest.py (see README)."""
    for server in _serve():
        _RUN_LONG_SERVERS.add((server.host, server.port))
        try:
            yield server
        finally:
            _RUN_LONG_SERVERS.discard((server.host, server.port))


@pytest.fixture
def cassandra_config(request: pytest.FixtureRequest) -> CassandraConfig:
    """Settings for the real cluster from the environment, else for the ``cql_server``."""
    from cassandra_asgi.config import CassandraConfig

    if real_cluster_requested():
        return CassandraConfig.from_env(io=io_mode())
    server: CQLServer = request.getfixturevalue("cql_server")
    return CassandraConfig(contact_points=(server.host,), port=server.port, io=io_mode())


def driver_cluster_kwargs(config: CassandraConfig) -> dict[str, Any]:
    """Keyword arguments for a raw ``cassandra.cluster.Cluster`` matching ``config``."""
    return config.cluster_kwargs(driver_rows=True)


class _KeyspaceAdmin:
    """Raw driver sessions that create and drop the tests' keyspaces.

    Starting and shutting down a driver ``Cluster`` takes about 0.1 s, more than a test on the
    in-memory server, so when the target outlives the test (a real cluster, or
    ``cql_server_session``) one is kept for the whole run. A per-test server's goes with its
    test: kept, it would go on retrying a closed port for the rest of the run.
    """

    def __init__(self) -> None:
        self._kept: dict[CassandraConfig, tuple[Any, Any]] = {}  # config: (cluster, session)

    @contextlib.contextmanager
    def session(self, config: CassandraConfig, *, keep: bool) -> Iterator[Any]:
        if keep and config in self._kept:
            yield self._kept[config][1]
            return
        from cassandra.cluster import Cluster

        cluster = Cluster(**driver_cluster_kwargs(config))
        try:
            session = cluster.connect()
            if keep:
                self._kept[config], cluster = (cluster, session), None
            yield session
        finally:
            if cluster is not None:
                cluster.shutdown()

    def shutdown(self) -> None:
        for cluster, _ in self._kept.values():
            cluster.shutdown()
        self._kept.clear()


@pytest.fixture(scope="session")
def _keyspace_admin() -> Iterator[_KeyspaceAdmin]:
    admin = _KeyspaceAdmin()
    try:
        yield admin
    finally:
        admin.shutdown()


@pytest.fixture
def keyspace(cassandra_config: CassandraConfig, _keyspace_admin: _KeyspaceAdmin) -> Iterator[str]:
    """A uniquely named keyspace (SimpleStrategy, RF 1), dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    keep = real_cluster_requested() or cassandra_config.endpoints[0] in _RUN_LONG_SERVERS
    with _keyspace_admin.session(cassandra_config, keep=keep) as session:
        session.execute(
            f"CREATE KEYSPACE {name} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            timeout=60,
        )
        try:
            yield name
        finally:
            session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


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
    from cassandra_asgi import connect

    async with connect(cassandra_config.replace(keyspace=keyspace)) as session:
        yield session


class ExternalCluster:
    """What ``cql_cluster`` gives against a real cluster: its contact points, nothing to break."""

    def __init__(self, contact_points: tuple[str, ...]) -> None:
        self.contact_points = contact_points

    def __repr__(self) -> str:
        return f"<ExternalCluster {', '.join(self.contact_points)}>"


@pytest.fixture
def cql_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh in-memory ``CQLCluster`` on a background thread, shaped by the test's
    ``@pytest.mark.cql_cluster(...)`` (three nodes in ``datacenter1`` without one).

    Against a real cluster (``CASSANDRA_CONTACT_POINTS`` set) it is an ``ExternalCluster``
    when the variable lists several nodes, and the test is skipped otherwise; tests that
    break nodes are ``memory_only`` and skipped there.
    """
    if real_cluster_requested():
        points = tuple(p.strip() for p in os.environ[_ENV].split(",") if p.strip())
        if len(points) < 2:
            pytest.skip(f"needs a multi-node cluster, but {_ENV} lists one node")
        yield ExternalCluster(points)
        return
    from cassandra_asgi.testing import CQLCluster

    marker = request.node.get_closest_marker("cql_cluster")
    args, kwargs = (marker.args, marker.kwargs) if marker is not None else ((), {})
    with CQLCluster(*args, **kwargs) as cluster:
        yield cluster

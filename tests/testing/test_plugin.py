"""The pytest plugin's fixtures, used the way application tests use them."""

from __future__ import annotations

import pytest
from cassandra.cluster import Cluster

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.pytest_plugin import driver_cluster_kwargs

pytest_plugins = ["pytester"]


@pytest.mark.memory_only
def test_cassandra_config_points_at_the_cql_server_fixture(
    cql_server: CQLServer, cassandra_config: CassandraConfig
) -> None:
    assert cassandra_config.endpoints == ((cql_server.host, cql_server.port),)


def test_keyspace_fixture_creates_a_keyspace_that_exists(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    cluster = Cluster(**driver_cluster_kwargs(cassandra_config))
    try:
        session = cluster.connect()
        query = "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s"
        rows = session.execute(query, (keyspace,))
        assert [row[0] for row in rows] == [keyspace]
    finally:
        cluster.shutdown()


async def test_cassandra_session_is_connected_to_the_test_keyspace(
    cassandra_session: object, keyspace: str
) -> None:
    from cassandra_asgi import AsyncSession

    assert isinstance(cassandra_session, AsyncSession)
    await cassandra_session.execute("CREATE TABLE kv (k text PRIMARY KEY, v int)")
    await cassandra_session.execute("INSERT INTO kv (k, v) VALUES ('a', 1)")
    result = await cassandra_session.execute("SELECT v FROM kv WHERE k = 'a'")
    assert result.one()[0] == 1
    assert cassandra_session.keyspace == keyspace


def test_memory_only_tests_are_skipped_when_a_real_cluster_is_configured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memory_only
        def test_needs_server():
            pass

        def test_portable():
            pass
        """
    )
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", "127.0.0.1")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)

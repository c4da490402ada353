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


#: What a pytest run must not pay for unless a test uses a fixture: the driver's cluster module,
#: the cassandra_asgi package (whose __init__ imports the core) and the in-memory server.
HEAVY_MODULES = ("cassandra.cluster", "cassandra_asgi", "cassandra_asgi.testing.cluster.server")


def test_loading_the_plugin_imports_neither_the_driver_nor_the_library(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import sys

        def test_plugin_loaded_and_nothing_heavy_imported(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("cassandra_asgi")
            assert "pytest_cassandra_asgi" in sys.modules
            assert [m for m in {HEAVY_MODULES!r} if m in sys.modules] == []
        """
    )
    # A new interpreter, which loads the plugin through its pytest11 entry point as any run does.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_fixture_imports_the_library_when_a_test_uses_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_config(cassandra_config):
            assert "cassandra_asgi" in sys.modules
            assert cassandra_config.port > 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.memory_only
def test_cql_server_session_is_one_server_for_the_whole_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        ports = []

        def test_first(cql_server_session):
            ports.append(cql_server_session.port)

        def test_second(cql_server_session, cql_server):
            assert ports == [cql_server_session.port]
            assert cql_server.port != cql_server_session.port  # cql_server stays per test
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.memory_only
def test_keyspace_connection_is_kept_only_for_the_run_long_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def cql_server(request, cql_server_session):
            if "shared" in request.node.name:
                return cql_server_session
            return request.getfixturevalue("own_server")

        @pytest.fixture
        def own_server():
            from cassandra_asgi.testing import CQLServer
            with CQLServer() as server:
                yield server
        """
    )
    pytester.makepyfile(
        """
        def test_own_server(keyspace, _keyspace_admin):
            assert _keyspace_admin._kept == {}  # shut down with the test's server

        def test_shared_first(keyspace, _keyspace_admin, cassandra_config):
            assert list(_keyspace_admin._kept) == [cassandra_config]

        def test_shared_second(keyspace, _keyspace_admin, cassandra_config):
            assert list(_keyspace_admin._kept) == [cassandra_config]  # the same one, reused

        def test_own_server_again(keyspace, _keyspace_admin):
            assert len(_keyspace_admin._kept) == 1
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)

"""connect(): awaitable or async context manager, bounded, failing with a clear ConnectError."""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
from typing import Any

import pytest

from cassandra_asgi import AsyncSession, CassandraConfig, ConnectError, connect

from .conftest import server_config
from .helpers import eventually


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_awaiting_connect_returns_an_open_session(cassandra_config: CassandraConfig) -> None:
    session = await connect(cassandra_config)
    try:
        assert isinstance(session, AsyncSession)
        assert not session.closed
        rs = await session.execute("SELECT release_version FROM system.local")
        assert rs.one() is not None
    finally:
        await session.close()
    assert session.closed


async def test_connect_as_async_context_manager_closes_the_session_on_exit(
    cassandra_config: CassandraConfig,
) -> None:
    async with connect(cassandra_config) as session:
        assert not session.closed
    assert session.closed


async def test_connect_uses_the_configured_keyspace(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    async with connect(cassandra_config.replace(keyspace=keyspace)) as session:
        assert session.keyspace == keyspace


async def test_refused_connection_raises_connect_error_naming_the_contact_point() -> None:
    port = _unused_port()
    config = CassandraConfig(contact_points=[f"127.0.0.1:{port}"], connect_timeout=5)
    with pytest.raises(ConnectError, match=rf"127\.0\.0\.1:{port}.*NoHostAvailable"):
        await connect(config)


async def test_missing_keyspace_raises_connect_error_with_the_server_message(
    cassandra_config: CassandraConfig,
) -> None:
    with pytest.raises(ConnectError, match="no_such_keyspace"):
        await connect(cassandra_config.replace(keyspace="no_such_keyspace"))


@pytest.mark.memory_only
async def test_unresponsive_server_fails_within_connect_timeout(cql_server: Any) -> None:
    cql_server.blackhole()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ConnectError, match=r"connect_timeout=0\.5"):
        await connect(server_config(cql_server, connect_timeout=0.5))
    assert loop.time() - started < 5  # bounded by connect_timeout, not the driver's defaults


@pytest.mark.parametrize("attempt", range(3))  # the driver tries the contact points in any order
async def test_a_hung_contact_point_leaves_time_to_connect_through_the_next(
    cassandra_config: CassandraConfig, attempt: int
) -> None:
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # the kernel accepts; nothing ever answers
        hung_point = f"127.0.0.1:{hung.getsockname()[1]}"
        live_points = [f"{host}:{port}" for host, port in cassandra_config.endpoints]
        config = cassandra_config.replace(
            contact_points=[hung_point, *live_points], connect_timeout=3.0
        )
        async with connect(config) as session:
            assert (await session.execute("SELECT release_version FROM system.local")).one()


async def test_a_silent_contact_point_is_named_with_the_time_it_was_given() -> None:
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        point = f"127.0.0.1:{hung.getsockname()[1]}"
        with pytest.raises(ConnectError, match=rf"no answer from {point} within 0\.5s"):
            await connect(CassandraConfig(contact_points=[point], connect_timeout=1.0))


@pytest.mark.memory_only
async def test_credentials_are_sent_and_the_password_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cassandra_asgi.testing import CQLServer

    caplog.set_level(logging.DEBUG)
    with CQLServer(username="app", password="s3cret-pw") as server:
        async with connect(server_config(server, username="app", password="s3cret-pw")) as ok:
            await ok.ping()
        with pytest.raises(ConnectError) as caught:
            await connect(server_config(server, username="app", password="wrong-pw"))
    assert "wrong-pw" not in str(caught.value)
    assert "s3cret-pw" not in caplog.text
    assert "wrong-pw" not in caplog.text


@pytest.mark.memory_only
async def test_a_connection_that_completes_after_the_timeout_is_shut_down(
    cql_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the package attribute ``cassandra_asgi.connect`` is the function, not the module)
    connect_module = importlib.import_module("cassandra_asgi.connect")
    built: list[Any] = []
    real_build = connect_module.build_cluster

    def recording_build(config: CassandraConfig, *connection_class: Any) -> Any:
        cluster = real_build(config, *connection_class)
        built.append(cluster)
        return cluster

    monkeypatch.setattr(connect_module, "build_cluster", recording_build)
    cql_server.add_latency(0.4, pattern="system")  # connecting now takes over a second
    with pytest.raises(ConnectError, match="connect_timeout"):
        await connect(server_config(cql_server, connect_timeout=0.3))
    assert await eventually(lambda: bool(built) and built[0].is_shutdown, within=30)


@pytest.mark.memory_only
async def test_the_configured_port_reaches_the_driver_cluster(cql_server: Any) -> None:
    assert cql_server.port != 9042
    config = CassandraConfig(contact_points=[cql_server.host], port=cql_server.port)
    async with connect(config) as session:
        assert session.cluster.port == cql_server.port  # also the port of discovered nodes
        assert await session.ping() > 0

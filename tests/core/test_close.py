"""close(): refuse new calls, let in-flight requests finish, shut down off the loop, once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cassandra_asgi import CassandraConfig, SessionClosedError, connect

from .conftest import server_config

PING = "SELECT release_version FROM system.local"


async def test_every_call_after_close_raises_session_closed_error(
    cassandra_config: CassandraConfig,
) -> None:
    session = await connect(cassandra_config)
    await session.close()
    assert session.closed
    with pytest.raises(SessionClosedError):
        await session.execute(PING)
    with pytest.raises(SessionClosedError):
        await session.prepare(PING)
    with pytest.raises(SessionClosedError):
        session.stream(PING)
    with pytest.raises(SessionClosedError):
        await session.ping()
    with pytest.raises(SessionClosedError):
        await session.execute_concurrent([PING])


async def test_close_is_idempotent_and_safe_to_call_concurrently(
    cassandra_config: CassandraConfig,
) -> None:
    session = await connect(cassandra_config)
    await asyncio.gather(session.close(), session.close(), session.close())
    await session.close()
    assert session.closed


async def test_session_is_an_async_context_manager(cassandra_config: CassandraConfig) -> None:
    session = await connect(cassandra_config)
    async with session as same:
        assert same is session
    assert session.closed


@pytest.mark.memory_only
async def test_close_lets_in_flight_requests_finish(cql_server: Any) -> None:
    cql_server.add_latency(0.2, pattern="system.local")
    session = await connect(server_config(cql_server))
    running = asyncio.ensure_future(session.execute(PING))
    await asyncio.sleep(0.05)
    await session.close()
    assert (await running).one() is not None
    assert session.in_flight == 0


@pytest.mark.memory_only
async def test_close_stops_waiting_after_the_grace_period(cql_server: Any) -> None:
    session = await connect(server_config(cql_server))
    cql_server.blackhole(pattern="system.local")
    stuck = asyncio.ensure_future(session.execute(PING, timeout=30))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await session.close(grace=0.2)
    assert loop.time() - started < 5
    # The driver never completes a request cut off by its shutdown: it fails instead of hanging.
    done, _ = await asyncio.wait({stuck}, timeout=10)
    assert stuck in done
    assert isinstance(stuck.exception(), SessionClosedError)
    assert "grace period" in str(stuck.exception())


async def test_fetching_another_page_after_close_raises_session_closed_error(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    session = await connect(cassandra_config.replace(keyspace=keyspace))
    await session.execute("CREATE TABLE t (p int, c int, PRIMARY KEY (p, c))")
    insert = await session.prepare("INSERT INTO t (p, c) VALUES (0, ?)")
    await session.execute_concurrent([(insert, (c,)) for c in range(10)])
    rs = await session.execute("SELECT c FROM t WHERE p = 0", fetch_size=5)
    await session.close()
    assert rs.has_more_pages
    with pytest.raises(SessionClosedError):
        await rs.fetch_next_page()


@pytest.mark.memory_only
async def test_results_already_running_keep_paging_during_the_close_grace_period(
    cql_server: Any,
) -> None:
    session = await connect(server_config(cql_server))
    await session.execute(
        "CREATE KEYSPACE core WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    await session.execute("USE core")
    await session.execute("CREATE TABLE t (p int, c int, PRIMARY KEY (p, c))")
    insert = await session.prepare("INSERT INTO t (p, c) VALUES (0, ?)")
    await session.execute_concurrent([(insert, (c,)) for c in range(20)])
    rs = await session.execute("SELECT c FROM t WHERE p = 0", fetch_size=5)
    stream = session.stream("SELECT c FROM t WHERE p = 0", fetch_size=5, prefetch=0)
    first_streamed = await stream.__anext__()
    cql_server.add_latency(1.0, pattern="system.local")
    slow = asyncio.ensure_future(session.execute(PING))  # keeps close() in its grace period
    await asyncio.sleep(0.05)
    closing = asyncio.ensure_future(session.close())
    await asyncio.sleep(0.05)
    assert session.closed
    assert not closing.done()
    assert [row.c for row in await rs.fetch_next_page()] == [5, 6, 7, 8, 9]
    streamed = [first_streamed.c] + [row.c async for row in stream]
    assert streamed == list(range(20))
    await slow
    await closing
    with pytest.raises(SessionClosedError):
        await rs.fetch_next_page()

"""Every failing call lets the loop run at least once before raising.

A call that succeeds waits for the driver, so other tasks run meanwhile; a call that fails at
once (a bad value, a closed session, no node up) would otherwise raise without ever yielding,
and a retry loop of such calls would starve every other task on the loop. A ticker task
counts how often it got to run while a loop of failing calls went on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cassandra import InvalidRequest

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.testing import CQLServer

from .conftest import server_config
from .helpers import ticks_while

CALLS = 50


async def _ticks_during(failing: Callable[[], Awaitable[object]]) -> int:
    """How often a ticker task ran while ``failing()`` was awaited ``CALLS`` times."""

    async def calls() -> None:
        for _ in range(CALLS):
            with pytest.raises(Exception):  # noqa: B017 - each kind is named by its test
                await failing()

    return await ticks_while(calls)


async def test_a_bind_error(cassandra_session: AsyncSession) -> None:
    await cassandra_session.execute("CREATE TABLE kv (k int PRIMARY KEY, v text)")
    insert = await cassandra_session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    assert await _ticks_during(lambda: cassandra_session.execute(insert, (1, 2))) >= CALLS


async def test_a_query_that_is_not_one(cassandra_session: AsyncSession) -> None:
    bad: Any = 42
    assert await _ticks_during(lambda: cassandra_session.execute(bad)) >= CALLS
    assert await _ticks_during(lambda: cassandra_session.prepare(bad)) >= CALLS


async def test_a_bad_concurrency(cassandra_session: AsyncSession) -> None:
    calls = lambda: cassandra_session.execute_concurrent([], concurrency=0)  # noqa: E731
    assert await _ticks_during(calls) >= CALLS


async def test_calls_on_a_closed_session(cassandra_config: CassandraConfig) -> None:
    session = await connect(cassandra_config)
    rs = await session.execute("SELECT keyspace_name FROM system_schema.keyspaces", fetch_size=1)
    await session.close()
    assert await _ticks_during(lambda: session.execute("SELECT 1 FROM system.local")) >= CALLS
    assert await _ticks_during(lambda: session.prepare("SELECT 1 FROM system.local")) >= CALLS
    assert await _ticks_during(rs.fetch_next_page) >= CALLS


async def test_reading_a_failed_stream_again(cassandra_session: AsyncSession) -> None:
    stream = cassandra_session.stream("SELECT * FROM no_such_table")
    with pytest.raises(InvalidRequest):
        await stream.__anext__()  # waits for the server's answer
    assert await _ticks_during(stream.__anext__) >= CALLS  # the error is at hand now


@pytest.mark.memory_only
async def test_every_node_down(cql_server: CQLServer) -> None:
    async with connect(server_config(cql_server)) as session:
        cql_server.go_down()
        try:
            # The driver raises NoHostAvailable in the calling thread, before any reply.
            assert (
                await _ticks_during(lambda: session.execute("SELECT * FROM system.local")) >= CALLS
            )
        finally:
            cql_server.come_up()

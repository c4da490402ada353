"""The lean path of ``io="loop"``: which requests skip the driver's ``ResponseFuture``, and
that every reply it does not settle itself ends exactly as on the driver's full path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.errors import SessionClosedError
from cassandra_asgi.testing import CQLServer

from .helpers import eventually

pytestmark = pytest.mark.memory_only


@pytest.fixture
async def loop_session(cql_server: CQLServer) -> AsyncIterator[AsyncSession]:
    config = CassandraConfig(contact_points=[cql_server.contact_point], io="loop")
    async with connect(config) as session:
        await session.execute(
            "CREATE KEYSPACE lean WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute("CREATE TABLE lean.rows (p int, c int, v text, PRIMARY KEY (p, c))")
        insert = await session.prepare("INSERT INTO lean.rows (p, c, v) VALUES (?, ?, ?)")
        await asyncio.gather(*(session.execute(insert, (1, c, f"v{c}")) for c in range(10)))
        yield session


async def select_partition(session: AsyncSession) -> Any:
    return await session.prepare("SELECT c, v FROM lean.rows WHERE p = ?")


async def test_a_prepared_read_is_answered_without_a_driver_future(
    loop_session: AsyncSession,
) -> None:
    rs = await loop_session.execute(await select_partition(loop_session), (1,))
    assert rs.response_future is None
    assert [row.c for row in rs.current_rows] == list(range(10))
    assert rs.column_names == ["c", "v"]
    assert not rs.has_more_pages


async def test_a_prepared_write_is_answered_without_a_driver_future_too(
    loop_session: AsyncSession,
) -> None:
    insert = await loop_session.prepare("INSERT INTO lean.rows (p, c, v) VALUES (?, ?, ?)")
    rs = await loop_session.execute(insert, (2, 0, "x"))
    assert rs.response_future is None
    assert rs.current_rows == []


async def test_a_read_of_several_pages_goes_on_with_the_driver_one_request_per_page(
    loop_session: AsyncSession, cql_server: CQLServer
) -> None:
    select = await select_partition(loop_session)
    cql_server.reset_counters()
    rs = await loop_session.execute(select, (1,), fetch_size=3)
    assert rs.has_more_pages
    assert rs.response_future is not None  # the driver's future took the first page over
    assert [row.c for row in await rs.all()] == list(range(10))
    assert cql_server.requests.get("EXECUTE") == 4


@pytest.mark.parametrize("error", ["unavailable", "read_timeout", "overloaded", "server_error"])
async def test_a_server_error_ends_as_it_does_with_the_reactor_thread(
    loop_session: AsyncSession, cql_server: CQLServer, error: str
) -> None:
    config = CassandraConfig(contact_points=[cql_server.contact_point], io="thread")
    async with connect(config) as threaded:
        sessions = (threaded, loop_session)
        selects = [await select_partition(session) for session in sessions]
        cql_server.fail(error, pattern="lean.rows")
        failures = []
        for session, select in zip(sessions, selects, strict=True):
            cql_server.reset_counters()
            with pytest.raises(Exception) as raised:
                await session.execute(select, (1,))
            sent = cql_server.requests.get("EXECUTE")
            failures.append((type(raised.value), str(raised.value), sent))
    expected, got = failures
    assert got == expected  # the same error after the same number of attempts


async def test_requests_on_the_lean_path_count_in_the_session_and_host_metrics(
    loop_session: AsyncSession, cql_server: CQLServer
) -> None:
    select = await select_partition(loop_session)
    before = loop_session.metrics
    await asyncio.gather(*(loop_session.execute(select, (1,)) for _ in range(25)))
    after = loop_session.metrics
    assert after.requests - before.requests == 25
    (address,) = after.hosts
    assert after.hosts[address].requests - before.hosts[address].requests == 25
    assert after.hosts[address].in_flight == 0


async def test_a_cancelled_caller_keeps_its_slot_until_the_reply_comes(
    loop_session: AsyncSession, cql_server: CQLServer
) -> None:
    select = await select_partition(loop_session)
    cql_server.add_latency(0.3, pattern="lean.rows")
    task = asyncio.ensure_future(loop_session.execute(select, (1,)))
    assert await eventually(lambda: loop_session.in_flight == 1, within=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop_session.in_flight == 1  # the stream id is still taken on the connection
    assert await eventually(lambda: loop_session.in_flight == 0, within=5)


async def test_close_fails_a_lean_request_that_outlives_the_grace_period(
    loop_session: AsyncSession, cql_server: CQLServer
) -> None:
    select = await select_partition(loop_session)
    cql_server.blackhole(pattern="lean.rows")
    task = asyncio.ensure_future(loop_session.execute(select, (1,), timeout=30))
    assert await eventually(lambda: loop_session.in_flight == 1, within=5)
    await loop_session.close(grace=0.1)
    with pytest.raises(SessionClosedError):
        await task

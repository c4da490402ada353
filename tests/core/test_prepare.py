"""prepare(): off the loop, cached per query text, one round trip for concurrent callers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cassandra import InvalidRequest
from cassandra.query import PreparedStatement

from cassandra_asgi import AsyncSession

from .helpers import create_rows_table


async def test_prepare_returns_a_driver_prepared_statement(cassandra_session: AsyncSession) -> None:
    await create_rows_table(cassandra_session)
    prepared = await cassandra_session.prepare("SELECT v FROM rows WHERE p = ?")
    assert isinstance(prepared, PreparedStatement)


async def test_the_same_text_returns_the_same_statement(cassandra_session: AsyncSession) -> None:
    await create_rows_table(cassandra_session)
    first = await cassandra_session.prepare("SELECT v FROM rows WHERE p = ?")
    second = await cassandra_session.prepare("SELECT v FROM rows WHERE p = ?")
    assert first is second


async def test_a_failed_prepare_raises_the_driver_exception(
    cassandra_session: AsyncSession,
) -> None:
    with pytest.raises(InvalidRequest):
        await cassandra_session.prepare("SELECT v FROM no_such_table WHERE p = ?")


@pytest.mark.memory_only
async def test_the_same_text_is_prepared_once(
    server_session: AsyncSession, cql_server: Any
) -> None:
    await create_rows_table(server_session)
    cql_server.reset_counters()
    for _ in range(3):
        await server_session.prepare("SELECT v FROM rows WHERE p = ?")
    assert cql_server.requests.get("PREPARE", 0) == 1


@pytest.mark.memory_only
async def test_concurrent_prepares_of_one_text_share_a_round_trip(
    server_session: AsyncSession, cql_server: Any
) -> None:
    await create_rows_table(server_session)
    cql_server.add_latency(0.1, pattern="PREPARE|SELECT v FROM rows")
    cql_server.reset_counters()
    statements = await asyncio.gather(
        *(server_session.prepare("SELECT v FROM rows WHERE p = ?") for _ in range(10))
    )
    assert all(statement is statements[0] for statement in statements)
    assert cql_server.requests.get("PREPARE", 0) == 1


@pytest.mark.memory_only
async def test_a_failed_prepare_is_retried_on_the_next_call(
    server_session: AsyncSession, cql_server: Any
) -> None:
    cql_server.reset_counters()
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            await server_session.prepare("SELECT v FROM missing_table WHERE p = ?")
    assert cql_server.requests.get("PREPARE", 0) == 2


@pytest.mark.memory_only
async def test_a_cancelled_caller_does_not_cancel_the_shared_prepare(
    server_session: AsyncSession, cql_server: Any
) -> None:
    await create_rows_table(server_session)
    cql_server.add_latency(0.2, pattern="SELECT v FROM rows")
    impatient = asyncio.ensure_future(server_session.prepare("SELECT v FROM rows WHERE p = ?"))
    patient = asyncio.ensure_future(server_session.prepare("SELECT v FROM rows WHERE p = ?"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert isinstance(await patient, PreparedStatement)

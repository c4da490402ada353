"""AsyncResultSet paging: first page in hand, further pages fetched without blocking."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import AsyncSession

from .helpers import create_rows_table, fill_rows


@pytest.fixture
async def hundred_rows(cassandra_session: AsyncSession) -> AsyncSession:
    await create_rows_table(cassandra_session)
    await fill_rows(cassandra_session, 100)
    return cassandra_session


async def test_first_page_holds_fetch_size_rows(hundred_rows: AsyncSession) -> None:
    rs = await hundred_rows.execute("SELECT c FROM rows WHERE p = 0", fetch_size=30)
    assert [row.c for row in rs.current_rows] == list(range(30))
    assert rs.has_more_pages
    assert rs.paging_state is not None


async def test_fetch_next_page_replaces_the_current_rows(hundred_rows: AsyncSession) -> None:
    rs = await hundred_rows.execute("SELECT c FROM rows WHERE p = 0", fetch_size=30)
    page = await rs.fetch_next_page()
    assert [row.c for row in page] == list(range(30, 60))
    assert rs.current_rows is page


async def test_fetch_next_page_after_the_last_page_returns_nothing(
    hundred_rows: AsyncSession,
) -> None:
    rs = await hundred_rows.execute("SELECT c FROM rows WHERE p = 0", fetch_size=100)
    if rs.has_more_pages:  # a server may announce an empty last page
        await rs.fetch_next_page()
    assert not rs.has_more_pages
    assert await rs.fetch_next_page() == []


async def test_async_for_walks_every_page(hundred_rows: AsyncSession) -> None:
    rs = await hundred_rows.execute("SELECT c FROM rows WHERE p = 0", fetch_size=7)
    assert [row.c async for row in rs] == list(range(100))


async def test_all_collects_every_row(hundred_rows: AsyncSession) -> None:
    rs = await hundred_rows.execute("SELECT c FROM rows WHERE p = 0", fetch_size=9)
    rows = await rs.all()
    assert [row.c for row in rows] == list(range(100))


async def test_paging_state_resumes_where_the_previous_request_stopped(
    hundred_rows: AsyncSession,
) -> None:
    query = "SELECT c FROM rows WHERE p = 0"
    first = await hundred_rows.execute(query, fetch_size=40)
    resumed = await hundred_rows.execute(query, fetch_size=40, paging_state=first.paging_state)
    assert [row.c for row in resumed.current_rows] == list(range(40, 80))


async def test_each_page_counts_as_one_request_in_the_metrics(hundred_rows: AsyncSession) -> None:
    before = hundred_rows.metrics.requests
    rs = await hundred_rows.execute("SELECT c FROM rows WHERE p = 0", fetch_size=50)
    await rs.all()
    assert hundred_rows.metrics.requests - before >= 2
    assert hundred_rows.in_flight == 0


@pytest.mark.memory_only
async def test_a_page_that_never_arrives_fails_with_operation_timed_out(
    server_session: AsyncSession, cql_server: Any
) -> None:
    await create_rows_table(server_session)
    await fill_rows(server_session, 20)
    rs = await server_session.execute("SELECT c FROM rows WHERE p = 0", fetch_size=5, timeout=1)
    cql_server.blackhole()
    with pytest.raises(OperationTimedOut):
        await asyncio.wait_for(rs.fetch_next_page(timeout=0.3), 10)


@pytest.mark.memory_only
async def test_each_page_is_one_request_to_the_server(
    server_session: AsyncSession, cql_server: Any
) -> None:
    await create_rows_table(server_session)
    await fill_rows(server_session, 50)
    select = await server_session.prepare("SELECT c FROM rows WHERE p = 0")
    cql_server.reset_counters()
    rs = await server_session.execute(select, fetch_size=10)
    pages = 1
    while rs.has_more_pages:
        await rs.fetch_next_page()
        pages += 1
    assert pages >= 5
    assert cql_server.requests.get("EXECUTE", 0) == pages

"""Connection dropped mid-stream: the stream raises instead of hanging, and what it yielded
before the error is exactly the start of the result, in order, with nothing repeated.

Injected latency on the table keeps a page request in flight almost all the time, so dropping
the connections after a few pages cuts one off on the wire.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cassandra_asgi import AsyncSession
from cassandra_asgi.testing import CQLServer

from .conftest import MARGIN, serves_again

ROWS = 1000
FETCH_SIZE = 50
READ_BEFORE_DROP = 120  # rows: a couple of pages in, mid-page
SELECT = "SELECT c, v FROM wide WHERE p = 0"
EXPECTED = [(c, f"v{c}") for c in range(ROWS)]


def is_driver_exception(error: BaseException) -> bool:
    return type(error).__module__.startswith("cassandra.")


@pytest.fixture
async def wide(fault_session: AsyncSession) -> AsyncSession:
    await fault_session.execute("CREATE TABLE wide (p int, c int, v text, PRIMARY KEY (p, c))")
    insert = await fault_session.prepare("INSERT INTO wide (p, c, v) VALUES (0, ?, ?)")
    await fault_session.execute_concurrent([(insert, row) for row in EXPECTED], concurrency=200)
    return fault_session


async def read_rows_dropping_midway(
    session: AsyncSession, server: CQLServer, seen: list[tuple[int, str]], prefetch: int
) -> None:
    async with session.stream(SELECT, fetch_size=FETCH_SIZE, prefetch=prefetch) as rows:
        async for row in rows:
            seen.append((row.c, row.v))
            if len(seen) == READ_BEFORE_DROP:
                server.drop_connections()


def assert_strict_prefix(seen: list[Any]) -> None:
    assert len(set(seen)) == len(seen), "a row was yielded twice"
    assert seen == EXPECTED[: len(seen)], "rows were skipped or reordered"
    assert len(seen) < ROWS, "the stream finished although its connection was dropped"


@pytest.mark.memory_only
@pytest.mark.parametrize("prefetch", [0, 1, 3])
async def test_dropped_connection_makes_the_stream_raise_after_a_clean_prefix(
    cql_server: CQLServer, wide: AsyncSession, prefetch: int
) -> None:
    cql_server.add_latency(0.05, pattern="FROM wide")
    seen: list[tuple[int, str]] = []
    with pytest.raises(Exception) as raised:  # any driver exception; checked below
        await asyncio.wait_for(read_rows_dropping_midway(wide, cql_server, seen, prefetch), MARGIN)
    assert is_driver_exception(raised.value), repr(raised.value)
    assert len(seen) >= READ_BEFORE_DROP
    assert_strict_prefix(seen)
    assert wide.in_flight == 0


@pytest.mark.memory_only
async def test_pages_stream_raises_too_and_never_hands_out_a_page_twice(
    cql_server: CQLServer, wide: AsyncSession
) -> None:
    cql_server.add_latency(0.05, pattern="FROM wide")
    pages: list[list[Any]] = []

    async def read_pages() -> None:
        async with wide.stream(SELECT, fetch_size=FETCH_SIZE) as stream:
            async for page in stream.pages():
                pages.append(page)
                if len(pages) == 2:
                    cql_server.drop_connections()

    with pytest.raises(Exception) as raised:
        await asyncio.wait_for(read_pages(), MARGIN)
    assert is_driver_exception(raised.value), repr(raised.value)
    assert all(len(page) == FETCH_SIZE for page in pages)
    assert_strict_prefix([(row.c, row.v) for page in pages for row in page])


@pytest.mark.memory_only
async def test_a_new_stream_after_reconnecting_reads_every_row_exactly_once(
    cql_server: CQLServer, wide: AsyncSession
) -> None:
    cql_server.add_latency(0.05, pattern="FROM wide")
    with pytest.raises(Exception):  # noqa: B017 - the first stream's error is tested above
        await asyncio.wait_for(read_rows_dropping_midway(wide, cql_server, [], 1), MARGIN)
    cql_server.clear_faults()
    await serves_again(wide, within=30)
    async with wide.stream(SELECT, fetch_size=FETCH_SIZE) as rows:
        assert [(row.c, row.v) async for row in rows] == EXPECTED

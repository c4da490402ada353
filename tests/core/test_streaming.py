"""stream(): every row, bounded read-ahead, early exit stops fetching, flat memory."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import pytest
from cassandra import InvalidRequest

from cassandra_asgi import AsyncSession

from .helpers import create_rows_table, eventually, fill_partitions, fill_rows, ticks_while


@pytest.fixture
async def rows_session(cassandra_session: AsyncSession) -> AsyncSession:
    await create_rows_table(cassandra_session)
    await fill_rows(cassandra_session, 100)
    return cassandra_session


@pytest.fixture
async def server_rows(server_session: AsyncSession) -> AsyncSession:
    await create_rows_table(server_session)
    await fill_rows(server_session, 100)
    return server_session


async def _select_all(session: AsyncSession) -> Any:
    """A prepared SELECT: its pages are EXECUTE requests, which the driver's own metadata
    queries (plain QUERY messages on the control connection) cannot be mistaken for."""
    return await session.prepare("SELECT c FROM rows WHERE p = 0")


async def test_stream_yields_every_row_in_order(rows_session: AsyncSession) -> None:
    stream = rows_session.stream("SELECT c FROM rows WHERE p = 0", fetch_size=8)
    assert [row.c async for row in stream] == list(range(100))


async def test_stream_pages_yields_lists_of_rows(rows_session: AsyncSession) -> None:
    async with rows_session.stream("SELECT c FROM rows WHERE p = 0", fetch_size=30) as stream:
        sizes = [len(page) async for page in stream.pages()]
    assert sum(sizes) == 100
    assert max(sizes) == 30


async def test_stream_with_parameters_and_no_prefetch(rows_session: AsyncSession) -> None:
    stream = rows_session.stream(
        "SELECT c FROM rows WHERE p = %s AND c < %s", (0, 10), fetch_size=3, prefetch=0
    )
    assert [row.c async for row in stream] == list(range(10))


async def test_stream_raises_the_driver_error(rows_session: AsyncSession) -> None:
    with pytest.raises(InvalidRequest):
        async for _ in rows_session.stream("SELECT * FROM no_such_table"):
            pass


async def test_negative_prefetch_is_rejected(rows_session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="prefetch"):
        rows_session.stream("SELECT c FROM rows", prefetch=-1)


@pytest.mark.memory_only
async def test_breaking_out_early_stops_fetching_pages(
    server_rows: AsyncSession, cql_server: Any
) -> None:
    select = await _select_all(server_rows)
    cql_server.reset_counters()
    async for row in server_rows.stream(select, fetch_size=10):
        if row.c == 3:
            break
    await asyncio.sleep(0.2)  # give a runaway prefetcher every chance to show itself
    # the first page plus at most `prefetch` (1) page read ahead: not all 10 pages
    assert cql_server.requests.get("EXECUTE", 0) <= 2
    assert server_rows.in_flight == 0


@pytest.mark.memory_only
async def test_leaving_the_context_manager_stops_fetching_at_once(
    server_rows: AsyncSession, cql_server: Any
) -> None:
    select = await _select_all(server_rows)
    cql_server.reset_counters()
    async with server_rows.stream(select, fetch_size=10, prefetch=3) as stream:
        async for row in stream:
            if row.c == 0:
                break
    # Whatever was already sent completes unobserved; nothing new is sent after the exit.
    assert await eventually(lambda: server_rows.in_flight == 0)
    sent = cql_server.requests.get("EXECUTE", 0)
    await asyncio.sleep(0.2)
    assert cql_server.requests.get("EXECUTE", 0) == sent
    assert sent <= 2


@pytest.mark.memory_only
@pytest.mark.parametrize("prefetch", [0, 2])
async def test_read_ahead_is_bounded_by_prefetch(
    server_rows: AsyncSession, cql_server: Any, prefetch: int
) -> None:
    select = await _select_all(server_rows)
    cql_server.reset_counters()
    async with server_rows.stream(select, fetch_size=10, prefetch=prefetch) as stream:
        first = await stream.__anext__()
        assert first.c == 0
        # The reader stalls on page 1: `prefetch` pages are fetched ahead, and then no more.
        assert await eventually(lambda: cql_server.requests.get("EXECUTE", 0) >= 1 + prefetch)
        await asyncio.sleep(0.2)
        assert cql_server.requests.get("EXECUTE", 0) == 1 + prefetch
        if prefetch == 0:  # the next page is asked for once the reader has finished this one
            assert [(await stream.__anext__()).c for _ in range(10)] == list(range(1, 11))
            assert cql_server.requests.get("EXECUTE", 0) == 2


@pytest.mark.memory_only
async def test_cancelling_the_reader_stops_fetching(
    server_rows: AsyncSession, cql_server: Any
) -> None:
    select = await _select_all(server_rows)
    cql_server.add_latency(0.05)
    cql_server.reset_counters()
    stream = server_rows.stream(select, fetch_size=10)

    async def read_all() -> None:
        async for _ in stream:
            await asyncio.sleep(0)

    reader = asyncio.ensure_future(read_all())
    await asyncio.sleep(0.12)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    # At most the page already requested completes; nothing new is sent after it.
    assert await eventually(lambda: server_rows.in_flight == 0)
    sent = cql_server.requests.get("EXECUTE", 0)
    await asyncio.sleep(0.3)
    assert cql_server.requests.get("EXECUTE", 0) == sent
    assert sent < 10
    await stream.aclose()


@pytest.mark.slow
async def test_streaming_200000_rows_keeps_memory_flat(
    out_of_process_session: AsyncSession,
) -> None:
    session = out_of_process_session
    partitions, per_partition, fetch_size = 400, 500, 2_000
    total = partitions * per_partition
    await create_rows_table(session)
    await fill_partitions(session, partitions, per_partition)
    query = "SELECT p, c, v FROM rows"
    gc.collect()
    tracemalloc.start()
    try:
        # What one page of rows costs, to compare the streaming peak against.
        before = tracemalloc.get_traced_memory()[0]
        one_page = await session.execute(query, fetch_size=fetch_size)
        page_bytes = tracemalloc.get_traced_memory()[0] - before
        del one_page
        gc.collect()
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        seen = 0
        async with session.stream(query, fetch_size=fetch_size) as stream:
            async for row in stream:
                assert len(row.v) == 100
                seen += 1
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert seen == total
    # Holding every row would cost about total / fetch_size (100) pages; streaming a handful.
    assert peak < 10 * page_bytes, (peak, page_bytes)


async def test_a_long_buffered_page_does_not_monopolise_the_loop(
    cassandra_session: AsyncSession,
) -> None:
    await create_rows_table(cassandra_session)
    await fill_rows(cassandra_session, 3000)

    async def consume() -> None:
        async with cassandra_session.stream(
            "SELECT c FROM rows WHERE p = 0", fetch_size=3000
        ) as stream:
            async for _ in stream:
                pass

    assert await ticks_while(consume) >= 3000 // 256


async def test_walking_a_long_result_set_does_not_monopolise_the_loop(
    cassandra_session: AsyncSession,
) -> None:
    await create_rows_table(cassandra_session)
    await fill_rows(cassandra_session, 3000)
    rs = await cassandra_session.execute("SELECT c FROM rows WHERE p = 0", fetch_size=3000)

    async def consume() -> None:
        async for _ in rs:
            pass

    assert await ticks_while(consume) >= 3000 // 256


async def test_stream_resumes_from_a_paging_state(rows_session: AsyncSession) -> None:
    first = await rows_session.execute("SELECT c FROM rows WHERE p = 0", fetch_size=60)
    rest = rows_session.stream(
        "SELECT c FROM rows WHERE p = 0", fetch_size=60, paging_state=first.paging_state
    )
    assert [row.c async for row in rest] == list(range(60, 100))

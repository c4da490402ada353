"""Each page's time budget: the timeout minus that page's own wait for an in-flight slot.

A page that queued for a slot gets only what is left of its timeout; later pages of the same
result never inherit that shortfall, and a request whose whole budget went on queueing is not
sent at all (a write sent with a millisecond left may still be applied).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLServer

from .conftest import server_config
from .helpers import create_rows_table, eventually, fill_rows

pytestmark = pytest.mark.memory_only

#: The configured request timeout, and how long the blocker holds the only slot.
TIMEOUT = 2.0
QUEUEING = 1.6
#: Server latency of the later pages: more than the 0.4 s a queued first page is left with,
#: well under the whole timeout.
SLOW_PAGE = 1.0
BLOCKER = "SELECT v FROM blocker WHERE k = 0"


@pytest.fixture
async def one_slot(cql_server: CQLServer) -> AsyncIterator[AsyncSession]:
    """A session with a single in-flight slot on keyspace ``core``: 15 rows and a blocker."""
    config = server_config(cql_server, request_timeout=TIMEOUT, max_in_flight=1)
    async with connect(config) as session:
        await session.execute(
            "CREATE KEYSPACE core WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute("USE core")
        await create_rows_table(session)
        await fill_rows(session, 15)
        await session.execute("CREATE TABLE blocker (k int PRIMARY KEY, v int)")
        await session.execute("CREATE TABLE kv (k int PRIMARY KEY, v int)")
        yield session


async def _hold_the_only_slot(session: AsyncSession, server: CQLServer) -> asyncio.Task[object]:
    """Start a request that keeps the session's one slot for ``QUEUEING`` seconds."""
    server.add_latency(QUEUEING, pattern="FROM blocker")
    blocker = asyncio.ensure_future(session.execute(BLOCKER))
    assert await eventually(lambda: session.in_flight == 1)
    return blocker


async def test_a_page_after_a_queued_first_page_gets_the_whole_timeout(
    one_slot: AsyncSession, cql_server: CQLServer
) -> None:
    blocker = await _hold_the_only_slot(one_slot, cql_server)
    rs = await one_slot.execute("SELECT c FROM rows WHERE p = 0", fetch_size=5)
    await blocker
    cql_server.clear_faults()
    cql_server.add_latency(SLOW_PAGE, pattern="FROM rows")
    page = await rs.fetch_next_page()  # never queued: the whole 2 s, not the first page's 0.4 s
    assert [row.c for row in page] == [5, 6, 7, 8, 9]


async def test_stream_pages_after_a_queued_first_page_get_the_whole_timeout(
    one_slot: AsyncSession, cql_server: CQLServer
) -> None:
    blocker = await _hold_the_only_slot(one_slot, cql_server)
    async with one_slot.stream("SELECT c FROM rows WHERE p = 0", fetch_size=5, prefetch=0) as rows:
        seen = [(await rows.__anext__()).c for _ in range(5)]
        await blocker
        cql_server.clear_faults()
        cql_server.add_latency(SLOW_PAGE, pattern="FROM rows")
        seen += [row.c async for row in rows]
    assert seen == list(range(15))


async def test_a_request_whose_whole_budget_went_on_queueing_is_never_sent(
    one_slot: AsyncSession, cql_server: CQLServer
) -> None:
    cql_server.add_latency(0.1, pattern="FROM blocker")
    blocker = asyncio.ensure_future(one_slot.execute(BLOCKER))
    assert await eventually(lambda: one_slot.in_flight == 1)
    write = asyncio.ensure_future(
        one_slot.execute("INSERT INTO kv (k, v) VALUES (1, 1)", timeout=0.3)
    )
    await asyncio.sleep(0)  # the write queues for the slot
    assert one_slot.metrics.waiting == 1
    # Hold the loop past the write's timeout while the blocker's reply arrives: the slot is
    # handed to the write before its queue timer runs, with nothing of its budget left.
    time.sleep(1.0)  # noqa: ASYNC251 - blocking the loop is the point here
    with pytest.raises(OperationTimedOut, match="max_in_flight=1"):
        await write
    await blocker
    assert one_slot.in_flight == 0
    assert (await one_slot.execute("SELECT v FROM kv WHERE k = 1")).one() is None

"""Cancellation storm: 10,000 requests cancelled while the driver holds them leave nothing behind.

Each wave of requests is cancelled right after it has been written to the connection and long
before the (delayed) replies arrive. The slots stay taken until the driver completes the
requests, because the stream ids are still in use on the wire; once the replies are in, the
session must be exactly as before: nothing in flight, no tasks, no driver callbacks waiting, no
growth in memory, and still serving.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import pytest
from cassandra.cluster import ResponseFuture

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLServer

from .conftest import MARGIN, PING, eventually, server_config

STORM = 10_000
WAVE = 500
LATENCY = 1.0
#: Allowed growth of traced memory across a storm (measured: 0.4-1.5 KB); a leak of even
#: 20 bytes per request would exceed it.
MEMORY_SLACK = 200_000


def driver_requests_pending(session: AsyncSession) -> int:
    """Callbacks the driver still keeps for unanswered stream ids, over every connection."""
    pending = 0
    for pool in session.driver_session.get_pools():
        for connection in pool.get_connections():
            pending += len(connection._requests)
    return pending


def live(kind: type[Any]) -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


async def cancel_mid_flight(session: AsyncSession, count: int) -> None:
    """Start ``count`` requests in waves and cancel every wave once it is on the wire."""
    cancelled = 0
    for _ in range(count // WAVE):
        wave = [asyncio.ensure_future(session.execute(PING)) for _ in range(WAVE)]
        await asyncio.sleep(0)  # each task runs up to its await: the request has been written
        assert session.in_flight >= WAVE
        for task in wave:
            task.cancel()
        outcomes = await asyncio.gather(*wave, return_exceptions=True)
        cancelled += sum(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert cancelled == count
    assert session.in_flight > 0  # the driver still holds them: the slots are not given back early
    assert await eventually(lambda: session.in_flight == 0, within=LATENCY + 30)


@pytest.fixture
async def storm_session(cql_server: CQLServer) -> Any:
    async with connect(server_config(cql_server, max_in_flight=STORM)) as session:
        cql_server.add_latency(LATENCY, pattern="system.local")
        yield session


@pytest.mark.slow
@pytest.mark.memory_only
async def test_cancelling_10000_requests_in_flight_leaves_nothing_behind(
    cql_server: CQLServer, storm_session: AsyncSession
) -> None:
    # Tracing starts before a full-size warm-up storm. Started later, it would count objects
    # that merely replace untraced ones (the driver recycles its stream-id ints) as growth;
    # and the warm-up takes containers sized by the peak in flight to their high-water mark.
    tracemalloc.start()
    try:
        await cancel_mid_flight(storm_session, STORM)
        gc.collect()
        tasks_before = len(asyncio.all_tasks())
        futures_before = live(ResponseFuture)
        memory_before, _ = tracemalloc.get_traced_memory()
        await cancel_mid_flight(storm_session, STORM)
        assert await eventually(lambda: driver_requests_pending(storm_session) == 0, within=MARGIN)
        gc.collect()
        memory_after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert storm_session.in_flight == 0
    assert len(asyncio.all_tasks()) == tasks_before
    assert live(ResponseFuture) <= futures_before
    assert memory_after - memory_before < MEMORY_SLACK, (
        f"memory grew by {memory_after - memory_before} bytes over {STORM} cancelled requests"
    )
    cql_server.clear_faults()
    assert (await storm_session.execute(PING)).one() is not None
    assert storm_session.metrics.waiting == 0

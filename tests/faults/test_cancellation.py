"""Cancellation storm: 10,000 requests cancelled while the driver holds them leave nothing behind.

Each wave of requests is cancelled right after it has been written to the connection and long
before the (delayed) replies arrive. The slots stay taken until the driver completes the
requests, because the stream ids are still in use on the wire; once the replies are in, the
session must be exactly as before: nothing in flight, no tasks, no driver callbacks waiting,
nothing retained, and still serving.

"Nothing retained" counts objects, not bytes. Traced bytes move with the machine's load (a
busier machine lets more replies pile up per socket read, and the driver's buffers keep the
larger size), so a byte budget either flakes or is too loose to see a leak. A leak, though,
keeps something per request: an object the garbage collector tracks (a future, a callback, a
task, a closure) or an entry in a container (a dict, list, set or deque that keeps growing).
Both are counted after a full collection, and both must stay flat across a storm.
"""

from __future__ import annotations

import asyncio
import collections
import gc
from typing import Any, NamedTuple

import pytest
from cassandra.cluster import ResponseFuture

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLServer

from .conftest import MARGIN, PING, eventually, server_config

STORM = 10_000
WAVE = 500
LATENCY = 1.0
#: Allowed growth, across a storm of STORM requests, of the objects the collector tracks and of
#: the entries held in containers (measured: 0 to 1 of each, the baseline's own record). A leak
#: of one object or one entry per 20 cancelled requests exceeds it.
RETAINED_SLACK = STORM // 20


def driver_requests_pending(session: AsyncSession) -> int:
    """Callbacks the driver still keeps for unanswered stream ids, over every connection."""
    pending = 0
    for pool in session.driver_session.get_pools():
        for connection in pool.get_connections():
            pending += len(connection._requests)
    return pending


def free_stream_ids(session: AsyncSession) -> int:
    """Stream ids in the driver's free pools. Each pool grows to the most requests its connection
    ever had in flight at once (a high-water mark the machine's load moves), never past 32768."""
    return sum(
        len(connection.request_ids)
        for pool in session.driver_session.get_pools()
        for connection in pool.get_connections()
    )


def live(kind: type[Any]) -> int:
    # type(), not isinstance(): isinstance() on a weakref.proxy whose referent is gone raises
    # ReferenceError, and the driver leaves such proxies behind in pools of killed nodes
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), kind))


_CONTAINERS = (dict, list, set, collections.deque)


class Retained(NamedTuple):
    """What the process holds on to after a full collection."""

    objects: collections.Counter[str]  # objects the garbage collector tracks, by type
    entries: int  # items held by every dict, list, set and deque, free stream ids excepted

    @classmethod
    def now(cls, session: AsyncSession) -> Retained:
        gc.collect()
        objects = gc.get_objects()
        entries = sum(len(obj) for obj in objects if type(obj) in _CONTAINERS)
        return cls(
            objects=collections.Counter(type(obj).__qualname__ for obj in objects),
            entries=entries - free_stream_ids(session),
        )

    def growth_since(self, before: Retained) -> tuple[int, int]:
        return self.objects.total() - before.objects.total(), self.entries - before.entries

    def grown_types(self, before: Retained) -> list[tuple[str, int]]:
        return (self.objects - before.objects).most_common(5)


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
    # A full-size warm-up storm first: it takes containers sized by the peak in flight to their
    # high-water mark and creates whatever the driver builds once per connection; the baseline
    # is taken after the same waits the measurement makes.
    await cancel_mid_flight(storm_session, STORM)
    assert await eventually(lambda: driver_requests_pending(storm_session) == 0, within=MARGIN)
    tasks_before = len(asyncio.all_tasks())
    futures_before = live(ResponseFuture)
    Retained.now(storm_session)  # the first walk over all objects leaves ~300 of its own behind
    before = Retained.now(storm_session)

    await cancel_mid_flight(storm_session, STORM)
    assert await eventually(lambda: driver_requests_pending(storm_session) == 0, within=MARGIN)
    # The driver drops a completed request's timer on its next reactor pass, so what is still
    # held right after the last reply can be transient; a leak, unlike that, never drains.
    after = before

    def drained() -> bool:
        nonlocal after
        after = Retained.now(storm_session)
        return max(after.growth_since(before)) < RETAINED_SLACK

    await eventually(drained, within=MARGIN)

    assert storm_session.in_flight == 0
    assert len(asyncio.all_tasks()) == tasks_before
    assert live(ResponseFuture) <= futures_before
    objects, entries = after.growth_since(before)
    assert objects < RETAINED_SLACK, (
        f"{objects} more objects after {STORM} cancelled requests; grew most: "
        f"{after.grown_types(before)}"
    )
    assert entries < RETAINED_SLACK, (
        f"containers hold {entries} more entries after {STORM} cancelled requests"
    )
    cql_server.clear_faults()
    assert (await storm_session.execute(PING)).one() is not None
    assert storm_session.metrics.waiting == 0

"""Failed requests are freed by reference counting: an error storm leaves no cyclic garbage.

A raised exception's traceback holds the frames it passed through; if one of those frames (or
an object it holds) also holds the exception, every failure becomes a cycle that only a full
collection frees, each pausing the whole process. These tests switch the cyclic collector off,
fail 1,000 requests of each kind, and then look at what a collection would have to free.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLServer

from .conftest import create_keyspace, server_config

pytestmark = pytest.mark.memory_only

FAILURES = 1000
SELECT = "SELECT v FROM storm.kv WHERE k = 1"
#: What a failed request is made of; none of it may be left for the cyclic collector.
REQUEST_PARTS = {"DriverRequest", "ResponseFuture", "Deadline", "Future", "frame", "traceback"}


@pytest.fixture
async def storm(cql_server: CQLServer) -> Any:
    async with connect(server_config(cql_server, request_timeout=5.0)) as session:
        await create_keyspace(session, "storm")
        await session.execute("CREATE TABLE storm.kv (k int PRIMARY KEY, v text)")
        yield session


def _garbage_after(run: Callable[[], Awaitable[list[BaseException]]]) -> Callable[[], Any]:
    async def measured() -> tuple[list[str], list[str]]:
        await run()  # warm up: caches, prepared statements, the driver's own first-use objects
        await asyncio.sleep(0.2)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            errors = await run()
            assert len(errors) == FAILURES
            # Built-in exceptions (a bind error's TypeError) cannot be weakly referenced: for
            # those the frames and tracebacks among the garbage tell.
            alive = [weakref.ref(e) for e in errors if type(e).__weakrefoffset__]
            del errors
            await asyncio.sleep(0.2)  # late driver callbacks, the timer heap letting go
            gc.collect()
            left = sorted({type(o).__name__ for o in gc.garbage} & REQUEST_PARTS)
            kept = sorted({type(ref()).__name__ for ref in alive if ref() is not None})
            return left, kept
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    return measured


async def _failures(attempt: Callable[[], Awaitable[object]]) -> list[BaseException]:
    outcomes = await asyncio.gather(*(attempt() for _ in range(FAILURES)), return_exceptions=True)
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


@pytest.fixture
def no_garbage_from() -> Callable[..., Awaitable[None]]:
    async def check(run: Callable[[], Awaitable[list[BaseException]]]) -> None:
        left, kept = await _garbage_after(run)()
        assert left == [], f"cyclic garbage of a failed request: {left}"
        assert kept == [], f"exceptions still alive after being dropped: {kept}"

    return check


async def test_server_errors(
    storm: AsyncSession, cql_server: CQLServer, no_garbage_from: Any
) -> None:
    cql_server.fail("server_error", pattern="storm.kv")
    await no_garbage_from(lambda: _failures(lambda: storm.execute(SELECT)))


async def test_client_timeouts(
    storm: AsyncSession, cql_server: CQLServer, no_garbage_from: Any
) -> None:
    cql_server.blackhole(pattern="storm.kv")
    await no_garbage_from(lambda: _failures(lambda: storm.execute(SELECT, timeout=0.05)))


async def test_timeouts_waiting_for_a_slot(cql_server: CQLServer, no_garbage_from: Any) -> None:
    async with connect(server_config(cql_server, max_in_flight=1)) as session:
        cql_server.add_latency(0.3, pattern="system.local")

        async def queued_behind_a_slow_request() -> list[BaseException]:
            slow = asyncio.ensure_future(session.execute("SELECT * FROM system.local"))
            await asyncio.sleep(0.05)
            failed = await _failures(
                lambda: session.execute("SELECT * FROM system.peers", timeout=0.05)
            )
            await slow  # the queue lets go of the expired waiters once the slot frees
            return failed

        await no_garbage_from(queued_behind_a_slow_request)


async def test_no_host_available(
    storm: AsyncSession, cql_server: CQLServer, no_garbage_from: Any
) -> None:
    cql_server.go_down()
    try:
        await no_garbage_from(lambda: _failures(lambda: storm.execute(SELECT)))
    finally:
        cql_server.come_up()


async def test_bind_errors(storm: AsyncSession, no_garbage_from: Any) -> None:
    insert = await storm.prepare("INSERT INTO storm.kv (k, v) VALUES (?, ?)")
    await no_garbage_from(lambda: _failures(lambda: storm.execute(insert, (1, 2))))


async def test_cancellations(storm: AsyncSession, no_garbage_from: Any) -> None:
    async def cancelled_requests() -> list[BaseException]:
        tasks = [asyncio.ensure_future(storm.execute(SELECT)) for _ in range(FAILURES)]
        await asyncio.sleep(0)  # every request is in the driver's hands
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        del tasks
        return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]

    await no_garbage_from(cancelled_requests)

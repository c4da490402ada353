"""Node dies under load: nothing in flight hangs, and the same session recovers on its own.

The server stops (stops listening and drops every connection) while 1,000 requests are held
in flight by injected latency. Each must end, with a row or a driver exception, within
``request_timeout`` plus a margin. When the node listens again on the same port, the driver's
reconnection (a short constant policy here) brings the *same* session back: no restart.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import AsyncSession
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

from .conftest import FAULT_REQUEST_TIMEOUT, MARGIN, PING, eventually, serves_again

IN_FLIGHT = 1000
REQUEST_TIMEOUT = FAULT_REQUEST_TIMEOUT
#: Injected latency that keeps requests in flight until the node dies (it never elapses).
HOLD = 30.0
SELECT = "SELECT v FROM kv WHERE k = ?"
#: Longest time the loop may go without running callbacks: a stall check, not a speed target.
STALL = 0.1


def is_driver_exception(outcome: object) -> bool:
    """Raised by cassandra-driver itself (NoHostAvailable, ConnectionShutdown, timeouts...)."""
    return isinstance(outcome, Exception) and type(outcome).__module__.startswith("cassandra.")


async def start_requests_in_flight(
    session: AsyncSession, count: int
) -> list[asyncio.Future[object]]:
    select = await session.prepare(SELECT)
    tasks: list[asyncio.Future[object]] = []
    for start in range(0, count, 250):  # waves keep the test's own burst off the loop lag
        tasks += [
            asyncio.ensure_future(session.execute(select, (k % 10,)))
            for k in range(start, min(start + 250, count))
        ]
        await asyncio.sleep(0)
    assert await eventually(lambda: session.in_flight == count, within=30)
    return tasks


@pytest.fixture
async def kv_session(fault_session: AsyncSession) -> AsyncSession:
    await fault_session.execute("CREATE TABLE kv (k int PRIMARY KEY, v int)")
    insert = await fault_session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    await fault_session.execute_concurrent([(insert, (k, k * k)) for k in range(10)])
    await fault_session.prepare(SELECT)  # cached now: later prepare() calls skip the server
    return fault_session


@pytest.mark.memory_only
async def test_every_request_in_flight_resolves_when_the_node_dies(
    cql_server: CQLServer, kv_session: AsyncSession
) -> None:
    cql_server.add_latency(HOLD, pattern="FROM kv")
    tasks = await start_requests_in_flight(kv_session, IN_FLIGHT)
    died = time.monotonic()
    cql_server.go_down()
    done, pending = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + MARGIN)
    assert not pending, f"{len(pending)} requests still hanging after the node died"
    outcomes = [task.exception() or task.result() for task in done]
    unexpected = [
        o for o in outcomes if isinstance(o, BaseException) and not is_driver_exception(o)
    ]
    assert unexpected == []
    assert time.monotonic() - died < REQUEST_TIMEOUT + MARGIN
    assert kv_session.in_flight == 0


@pytest.mark.memory_only
async def test_requests_while_the_node_is_down_fail_fast_with_a_driver_exception(
    cql_server: CQLServer, kv_session: AsyncSession
) -> None:
    cql_server.go_down()
    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # the type is checked just below
        await kv_session.execute(PING)
    assert is_driver_exception(raised.value), repr(raised.value)
    assert time.monotonic() - started < REQUEST_TIMEOUT + MARGIN
    assert kv_session.in_flight == 0


@pytest.mark.memory_only
async def test_the_same_session_serves_again_when_the_node_comes_back(
    cql_server: CQLServer, kv_session: AsyncSession
) -> None:
    cql_server.add_latency(HOLD, pattern="FROM kv")
    tasks = await start_requests_in_flight(kv_session, IN_FLIGHT)
    cql_server.go_down()
    await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + MARGIN)
    cql_server.clear_faults()
    cql_server.come_up()
    assert await serves_again(kv_session, within=30) is not None
    select = await kv_session.prepare(SELECT)
    rows = await asyncio.gather(*(kv_session.execute(select, (k,)) for k in range(10)))
    assert [rs.one().v for rs in rows] == [k * k for k in range(10)]  # nothing lost either


@pytest.mark.memory_only
async def test_the_loop_never_stalls_while_the_node_is_down_and_the_driver_reconnects(
    cql_server: CQLServer, kv_session: AsyncSession
) -> None:
    async with LoopLagProbe(interval=0.005) as probe:
        cql_server.go_down()
        down_until = time.monotonic() + 1.5  # several reconnection attempts (every 0.2 s)
        failures = 0
        while time.monotonic() < down_until:
            try:
                await kv_session.execute(PING, timeout=1.0)
            except Exception:
                failures += 1
            await asyncio.sleep(0.01)
        cql_server.come_up()
        assert await serves_again(kv_session, within=30) is not None
    assert failures > 0
    assert probe.max_blocked < STALL, (
        f"the loop stalled for {probe.max_blocked:.3f}s (lag {probe.max_lag:.3f}s)"
    )


@pytest.mark.memory_only
async def test_a_node_that_goes_silent_times_out_every_request_in_flight_then_recovers(
    cql_server: CQLServer, kv_session: AsyncSession
) -> None:
    # A partition rather than a crash: the socket stays open and nothing comes back, so only
    # the client-side timeout can end the requests.
    timeout = 1.0
    select = await kv_session.prepare(SELECT)
    cql_server.blackhole(pattern="FROM kv")
    tasks = [
        asyncio.ensure_future(kv_session.execute(select, (k % 10,), timeout=timeout))
        for k in range(IN_FLIGHT)
    ]
    done, pending = await asyncio.wait(tasks, timeout=timeout + MARGIN)
    assert not pending, f"{len(pending)} requests outlived their timeout"
    assert all(isinstance(t.exception(), OperationTimedOut) for t in done)
    assert kv_session.in_flight == 0
    cql_server.clear_faults()
    rows = await asyncio.gather(*(kv_session.execute(select, (k,)) for k in range(10)))
    assert [rs.one().v for rs in rows] == [k * k for k in range(10)]

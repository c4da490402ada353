"""Slow node: a reply later than ``request_timeout`` is an ``OperationTimedOut``, the loop keeps
running while requests wait, and the late replies change nothing afterwards.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

from .conftest import MARGIN, PING, eventually, server_config

REQUEST_TIMEOUT = 0.5
SERVER_LATENCY = 2.0
#: Longest time the loop may go without running callbacks: a stall check, not a speed target.
STALL = 0.1


@pytest.fixture
async def slow_session(cql_server: CQLServer) -> AsyncSession:
    session = await connect(server_config(cql_server, request_timeout=REQUEST_TIMEOUT))
    cql_server.add_latency(SERVER_LATENCY, pattern="system.local")
    return session


@pytest.mark.memory_only
async def test_a_reply_later_than_request_timeout_raises_operation_timed_out(
    slow_session: AsyncSession,
) -> None:
    started = time.monotonic()
    try:
        with pytest.raises(OperationTimedOut):
            await slow_session.execute(PING)
        assert time.monotonic() - started < SERVER_LATENCY  # the client gave up, not the server
    finally:
        await slow_session.close(grace=0)


@pytest.mark.memory_only
async def test_the_loop_never_stalls_while_requests_to_a_slow_node_time_out(
    slow_session: AsyncSession,
) -> None:
    try:
        async with LoopLagProbe(interval=0.005) as probe:
            outcomes = await asyncio.wait_for(
                asyncio.gather(
                    *(slow_session.execute(PING) for _ in range(200)), return_exceptions=True
                ),
                REQUEST_TIMEOUT + MARGIN,
            )
        assert all(isinstance(o, OperationTimedOut) for o in outcomes)
        assert probe.samples > 10
        assert probe.max_blocked < STALL, (
            f"the loop stalled for {probe.max_blocked:.3f}s (lag {probe.max_lag:.3f}s)"
        )
        assert slow_session.in_flight == 0  # a timed-out request gives its slot back at once
    finally:
        await slow_session.close(grace=0)


@pytest.mark.memory_only
async def test_late_replies_after_timeouts_do_not_disturb_later_requests(
    cql_server: CQLServer, slow_session: AsyncSession
) -> None:
    try:
        outcomes = await asyncio.gather(
            *(slow_session.execute(PING) for _ in range(50)), return_exceptions=True
        )
        assert all(isinstance(o, OperationTimedOut) for o in outcomes)
        cql_server.clear_faults()
        # The late replies land on orphaned stream ids while fresh requests run.
        deadline = time.monotonic() + SERVER_LATENCY + 0.5
        rows = []
        while time.monotonic() < deadline:
            rows.append((await slow_session.execute(PING)).one())
            await asyncio.sleep(0.01)
        assert rows
        assert all(row.release_version for row in rows)
        assert await eventually(lambda: slow_session.in_flight == 0, within=MARGIN)
    finally:
        await slow_session.close(grace=0)

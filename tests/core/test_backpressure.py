"""The in-flight cap: excess callers wait, the wait counts against their timeout, and
cancelled callers never leak a slot."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import connect

from .conftest import server_config
from .helpers import eventually

PING = "SELECT release_version FROM system.local"


@pytest.mark.memory_only
async def test_requests_beyond_max_in_flight_wait_for_a_slot(cql_server: Any) -> None:
    cql_server.add_latency(0.02, pattern="system.local")
    async with connect(server_config(cql_server, max_in_flight=4)) as session:
        highest = 0

        async def watch() -> None:
            nonlocal highest
            while True:
                highest = max(highest, session.in_flight)
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        results = await asyncio.gather(*(session.execute(PING) for _ in range(40)))
        watcher.cancel()
        assert len(results) == 40
        assert highest == 4
        assert session.metrics.max_in_flight == 4
        assert session.in_flight == 0


@pytest.mark.memory_only
async def test_waiting_for_a_slot_counts_against_the_timeout(cql_server: Any) -> None:
    cql_server.blackhole(pattern="never_answered")
    async with connect(server_config(cql_server, max_in_flight=1)) as session:
        stuck = asyncio.ensure_future(
            session.execute("SELECT * FROM system.never_answered", timeout=3)
        )
        assert await eventually(lambda: session.in_flight == 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(OperationTimedOut, match="max_in_flight=1"):
            await session.execute(PING, timeout=0.2)
        assert loop.time() - started < 1.5
        with pytest.raises(OperationTimedOut):
            await stuck


@pytest.mark.memory_only
async def test_cancelling_1000_in_flight_awaits_leaves_nothing_in_flight(cql_server: Any) -> None:
    async with connect(server_config(cql_server, max_in_flight=1024)) as session:
        # Long enough that all 1,000 requests are out before the first reply, even on a
        # loaded machine.
        cql_server.add_latency(2.0, pattern="system.local")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tasks = [asyncio.ensure_future(session.execute(PING)) for _ in range(1000)]
            assert await eventually(lambda: session.in_flight == 1000, within=10)
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            # Slots come back only when the driver completes the requests (after ~2 s).
            assert await eventually(lambda: session.in_flight == 0, within=15)
            gc.collect()
        assert [str(w.message) for w in caught] == []
        cql_server.clear_faults()
        assert (await session.execute(PING)).one() is not None
        assert session.metrics.requests >= 1001

"""Overload: 20,000 concurrent callers against ``max_in_flight=256``.

The cap holds at the session and on the wire (the driver's own count of stream ids in use),
callers beyond it queue without stalling the loop, and every call ends, with a row or with
``OperationTimedOut`` when its wait for a slot outlived its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import OperationTimedOut

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

from .conftest import MARGIN, PING, server_config

CALLERS = 20_000
CAP = 256
WAVE = 100
REQUEST_TIMEOUT = 30.0
#: A stall check, not a speed target: one loop turn may send up to CAP requests after a burst
#: of completions frees CAP slots at once, on a shared 2-core machine. A blocking call (the
#: driver's 2 s wait for a free stream id, say) would show far above it.
STALL = 0.25


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Keep CPython's cyclic garbage collector out of the loop-lag measurement.

    With 20,000 callers alive, the process holds ~400,000 tracked objects (tasks, coroutines,
    contexts, plus the in-process test server's own), and a full collection pauses every
    thread for 0.2-1.2 s on this machine. That pause is the interpreter's, proportional to the
    number of live coroutines, and would hide what this test looks for: a blocking call made by
    the library on the loop. Collections resume (and run) right after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


async def call(session: AsyncSession) -> bool:
    """One caller: what a request handler does, keeping only whether it got its row."""
    return (await session.execute(PING)).one() is not None


def wire_in_flight(session: AsyncSession) -> int:
    """Stream ids the driver has in use, summed over its connections."""
    return sum(
        connection.in_flight
        for pool in session.driver_session.get_pools()
        for connection in pool.get_connections()
    )


class CapWatcher:
    """Samples the session's and the driver's in-flight counts on every loop turn."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.highest_session = 0
        self.highest_wire = 0
        self.samples = 0

    async def run(self) -> None:
        while True:
            self.highest_session = max(self.highest_session, self.session.in_flight)
            self.highest_wire = max(self.highest_wire, wire_in_flight(self.session))
            self.samples += 1
            await asyncio.sleep(0)


@pytest.mark.slow
@pytest.mark.memory_only
async def test_20000_callers_against_a_cap_of_256_queue_without_stalling_and_all_finish(
    cql_server: CQLServer,
) -> None:
    config = server_config(cql_server, max_in_flight=CAP, request_timeout=REQUEST_TIMEOUT)
    async with connect(config) as session:
        cql_server.add_latency(0.01, pattern="system.local")
        watcher = CapWatcher(session)
        watching = asyncio.ensure_future(watcher.run())
        callers: list[asyncio.Future[Any]] = []
        try:
            with cyclic_gc_paused():
                async with LoopLagProbe(interval=0.005) as probe:
                    for _ in range(CALLERS // WAVE):
                        callers += [asyncio.ensure_future(call(session)) for _ in range(WAVE)]
                        await asyncio.sleep(0)
                    assert session.metrics.waiting > 0  # they really queue behind the cap
                    done, pending = await asyncio.wait(callers, timeout=REQUEST_TIMEOUT + MARGIN)
        finally:
            watching.cancel()
        assert not pending, f"{len(pending)} callers never finished"
        failures = [t.exception() for t in done if t.exception() is not None]
        assert all(isinstance(f, OperationTimedOut) for f in failures), failures[:3]
        assert all(t.result() for t in done if t.exception() is None)
        assert len(done) == CALLERS
        assert watcher.samples > 100
        assert watcher.highest_session == CAP
        assert watcher.highest_wire <= CAP
        assert probe.max_blocked < STALL, (
            f"the loop stalled for {probe.max_blocked:.3f}s (lag {probe.max_lag:.3f}s)"
        )
        assert session.in_flight == 0
        assert session.metrics.waiting == 0


@pytest.mark.memory_only
async def test_callers_who_cannot_get_a_slot_in_time_fail_with_operation_timed_out(
    cql_server: CQLServer,
) -> None:
    config = server_config(cql_server, max_in_flight=8, request_timeout=1.0)
    async with connect(config) as session:
        cql_server.add_latency(0.05, pattern="system.local")
        callers = [asyncio.ensure_future(call(session)) for _ in range(2000)]
        done, pending = await asyncio.wait(callers, timeout=1.0 + MARGIN)
        assert not pending
        failures = [t.exception() for t in done if t.exception() is not None]
        served = [t.result() for t in done if t.exception() is None]
        assert served
        assert all(served)
        assert failures, "every caller was served: the queue never outlived the timeout"
        assert all(isinstance(f, OperationTimedOut) for f in failures)
        assert any("max_in_flight=8" in str(f) for f in failures)
        assert session.in_flight == 0

"""LoopLagProbe: sees a blocked loop, stays quiet on an idle one."""

from __future__ import annotations

import asyncio
import gc
import sys
import time

import pytest

from cassandra_asgi.testing.lag import LoopLagProbe


async def test_probe_measures_a_blocking_call_on_the_loop() -> None:
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.02)
        time.sleep(0.1)  # noqa: ASYNC251 - deliberately block the loop
        await asyncio.sleep(0.02)
    assert probe.max_lag >= 0.08
    assert probe.max_blocked >= 0.08  # waiting in a system call is not CPU contention


async def test_probe_counts_busy_computation_on_the_loop_as_blocked() -> None:
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.02)
        deadline = time.perf_counter() + 0.1
        while time.perf_counter() < deadline:  # hog the loop thread with work
            pass
        await asyncio.sleep(0.02)
    assert probe.max_lag >= 0.08
    # Only time spent waiting for a CPU is forgiven; the loop thread was running here (even
    # on a machine so busy that it ran a fifth of the time, that leaves 20 ms).
    assert probe.max_blocked >= 0.02


def _hog_the_gil(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


async def test_probe_counts_another_thread_holding_the_gil_as_blocked() -> None:
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # the hogging thread keeps the GIL for its whole 0.1 s
    try:
        async with LoopLagProbe(interval=0.005) as probe:
            await asyncio.sleep(0.02)
            await asyncio.to_thread(_hog_the_gil, 0.1)
            await asyncio.sleep(0.02)
    finally:
        sys.setswitchinterval(switch_interval)
    assert probe.max_lag >= 0.08
    # Forgiven is only the time a thread waited for a CPU; the hogging thread was running.
    assert probe.max_blocked >= 0.02


async def test_probe_takes_samples_while_the_block_runs() -> None:
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.1)
    assert probe.samples >= 5


def _build_a_heap_of_cycles(objects: int) -> list[list[object]]:
    """Objects the cyclic collector must walk on every full collection."""
    heap: list[list[object]] = []
    for _ in range(objects):
        cell: list[object] = []
        cell.append(cell)
        heap.append(cell)
    return heap


async def test_probe_forgives_garbage_collection_but_reports_its_longest_pause() -> None:
    heap = _build_a_heap_of_cycles(1_000_000)
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.02)
        started = time.perf_counter()
        gc.collect()  # what an allocation anywhere in the process may start
        pause = time.perf_counter() - started
        await asyncio.sleep(0.02)
    del heap
    assert pause >= 0.02, "the heap was too small to make a pause worth measuring"
    assert probe.max_lag >= pause * 0.9
    assert probe.max_gc_pause == pytest.approx(pause, rel=0.2)
    assert probe.max_blocked < probe.max_lag - pause * 0.8


async def test_probe_still_counts_a_blocking_call_made_beside_a_collection() -> None:
    heap = _build_a_heap_of_cycles(1_000_000)
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.02)
        gc.collect()
        time.sleep(0.1)  # noqa: ASYNC251 - deliberately block the loop
        await asyncio.sleep(0.02)
    del heap
    assert probe.max_gc_pause > 0
    assert probe.max_blocked >= 0.08


async def test_probe_stops_listening_to_the_collector_when_it_ends() -> None:
    before = list(gc.callbacks)
    async with LoopLagProbe(interval=0.005):
        assert len(gc.callbacks) == len(before) + 1
    assert gc.callbacks == before

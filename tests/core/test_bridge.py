"""The bridge from driver threads to the loop, forced through the thread races it must survive.

These tests drive ``DriverRequest`` with a stand-in for the driver's ``ResponseFuture`` because
the races (result already there when callbacks are added, delivery from a foreign thread after
the loop closed, ...) cannot be produced on demand with a real server. The stand-in follows the
driver's callback contract: callbacks added to a finished future run at once in the caller's
thread; ``clear_callbacks()`` drops registered ones.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable
from typing import Any, cast

import pytest

from cassandra_asgi._bridge import LoopBridge
from cassandra_asgi._core import SessionCore
from cassandra_asgi._request import DriverRequest


class FakeResponseFuture:
    """The slice of ``cassandra.cluster.ResponseFuture`` the bridge relies on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Any], None]] = []
        self._errbacks: list[Callable[[BaseException], None]] = []
        self._outcome: tuple[Any, BaseException | None] | None = None
        self._paging_state: bytes | None = None
        self._col_names = ["k"]
        self.timeout = 10.0
        self.cleared = 0

    def add_callbacks(
        self, callback: Callable[[Any], None], errback: Callable[[BaseException], None]
    ) -> None:
        with self._lock:
            self._callbacks.append(callback)
            self._errbacks.append(errback)
            outcome = self._outcome
        if outcome is not None:
            result, error = outcome
            if error is None:
                callback(result)
            else:
                errback(error)

    def clear_callbacks(self) -> None:
        with self._lock:
            self._callbacks = []
            self._errbacks = []
            self.cleared += 1

    def complete(self, result: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            self._outcome = (result, error)
            callbacks = list(self._callbacks) if error is None else list(self._errbacks)
        for callback in callbacks:
            callback(result if error is None else error)


def _request(core: SessionCore) -> DriverRequest:
    assert core.gate.admit(None).slot is None
    request = DriverRequest(core, None)
    request.arm()
    return request


def _in_thread(fn: Callable[[], None]) -> None:
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join(5)


async def test_result_from_another_thread_reaches_the_awaiting_task() -> None:
    core = SessionCore(asyncio.get_running_loop(), 4)
    request = _request(core)
    future = FakeResponseFuture()
    request.start(future)
    _in_thread(lambda: future.complete([("row",)]))
    assert await asyncio.wait_for(request.wait(), 5) == [("row",)]
    assert core.gate.in_flight == 0


async def test_result_already_there_when_callbacks_are_added_settles_on_the_loop_thread() -> None:
    core = SessionCore(asyncio.get_running_loop(), 4)
    request = _request(core)
    future = FakeResponseFuture()
    future.complete([1, 2])  # e.g. NoHostAvailable raised inside send_request
    request.start(future)  # the callback runs right here, in the loop thread
    assert request.settled
    assert await request.wait() == [1, 2]


async def test_error_from_an_executor_thread_is_raised_unchanged() -> None:
    core = SessionCore(asyncio.get_running_loop(), 4)
    request = _request(core)
    future = FakeResponseFuture()
    request.start(future)
    error = KeyError("schema agreement")
    await asyncio.get_running_loop().run_in_executor(None, lambda: future.complete(None, error))
    with pytest.raises(KeyError) as caught:
        await asyncio.wait_for(request.wait(), 5)
    assert caught.value is error


async def test_cancelled_await_drops_callbacks_and_frees_the_slot_when_the_driver_finishes() -> (
    None
):
    core = SessionCore(asyncio.get_running_loop(), 4)
    request = _request(core)
    future = FakeResponseFuture()
    request.start(future)
    task = asyncio.ensure_future(request.wait())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cleared == 1
    assert core.gate.in_flight == 1  # the stream id is still in use on the connection
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _in_thread(lambda: future.complete(["late"]))
        for _ in range(100):
            if core.gate.in_flight == 0:
                break
            await asyncio.sleep(0.01)
    assert core.gate.in_flight == 0
    assert core.metrics.requests == 1


async def test_cancellation_racing_a_queued_result_settles_exactly_once() -> None:
    core = SessionCore(asyncio.get_running_loop(), 4)
    request = _request(core)
    future = FakeResponseFuture()
    request.start(future)
    task = asyncio.ensure_future(request.wait())
    await asyncio.sleep(0)
    _in_thread(lambda: future.complete(["queued"]))  # queued for the loop, not drained yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert core.gate.in_flight == 0  # released once, not twice (that would go negative)
    assert core.metrics.requests == 1


def test_delivery_after_the_loop_closed_is_dropped_quietly() -> None:
    loop = asyncio.new_event_loop()
    bridge = LoopBridge(loop, threading.get_ident())
    loop.close()
    settled: list[Any] = []

    class Target:
        def settle(self, result: Any, error: BaseException | None) -> None:
            settled.append(result)

    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            bridge.deliver(Target(), "late", None)
            bridge.deliver(Target(), "later", None)
        except BaseException as exc:
            errors.append(exc)

    _in_thread(deliver)
    assert errors == []
    assert settled == []


async def test_a_burst_of_results_wakes_the_loop_once() -> None:
    loop = asyncio.get_running_loop()

    class CountingLoop:
        wakeups = 0

        def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
            CountingLoop.wakeups += 1
            loop.call_soon_threadsafe(callback)

        def call_soon(self, callback: Callable[[], None]) -> None:
            loop.call_soon(callback)

    bridge = LoopBridge(cast(asyncio.AbstractEventLoop, CountingLoop()), threading.get_ident())
    settled: list[Any] = []

    class Target:
        def settle(self, result: Any, error: BaseException | None) -> None:
            settled.append(result)

    def burst() -> None:
        for n in range(100):
            bridge.deliver(Target(), n, None)

    _in_thread(burst)
    await asyncio.sleep(0.01)
    assert settled == list(range(100))
    assert CountingLoop.wakeups == 1


async def test_a_burst_of_results_is_settled_64_per_loop_iteration_in_order() -> None:
    loop = asyncio.get_running_loop()
    bridge = LoopBridge(loop, threading.get_ident())
    iteration = 0
    settled_in: list[tuple[int, int]] = []

    def count_iterations() -> None:
        nonlocal iteration
        iteration += 1
        if len(settled_in) < 200:
            loop.call_soon(count_iterations)

    all_settled = asyncio.Event()

    class Target:
        def settle(self, result: Any, error: BaseException | None) -> None:
            settled_in.append((iteration, result))
            if len(settled_in) == 200:
                all_settled.set()

    def burst() -> None:
        for n in range(200):
            bridge.deliver(Target(), n, None)

    _in_thread(burst)
    loop.call_soon(count_iterations)
    await asyncio.wait_for(all_settled.wait(), 5)
    assert [result for _, result in settled_in] == list(range(200))
    per_iteration = [
        sum(1 for i, _ in settled_in if i == it) for it in sorted({i for i, _ in settled_in})
    ]
    assert per_iteration == [64, 64, 64, 8]

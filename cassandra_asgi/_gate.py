"""The in-flight cap: at most ``limit`` requests are in the driver's hands at once.

Why not ``asyncio.Semaphore``: the fast path here is one comparison and one increment, and a
slot is released from the bridge (when the *driver* finishes), not by the awaiting task, which
may have been cancelled long before. Waiters queue in FIFO order and a released slot is handed
straight to the oldest live waiter, so nobody can barge past the queue.

Everything here runs on the event loop thread only.
"""

from __future__ import annotations

import asyncio
from collections import deque

from cassandra import OperationTimedOut

__all__ = ["InFlightGate"]


class InFlightGate:
    __slots__ = ("_idle_waiters", "_in_flight", "_limit", "_loop", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._loop = loop
        self._limit = limit
        self._in_flight = 0
        # Invariant: while this deque holds a live waiter, every slot is taken.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle_waiters: list[asyncio.Future[None]] = []

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is queued; never waits."""
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return True
        return False

    def enqueue(self, timeout: float | None) -> asyncio.Future[None]:
        """Queue for a slot; the future resolves when the slot is ours.

        It fails with ``OperationTimedOut`` after ``timeout`` seconds. Whoever receives a slot
        through it must eventually ``release()`` it, even if they no longer want it.
        """
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        if timeout is not None:
            timer = self._loop.call_later(timeout, self._expire, waiter, timeout)
            waiter.add_done_callback(lambda _: timer.cancel())
        return waiter

    async def acquire(self, timeout: float | None) -> float:  # noqa: ASYNC109 - see enqueue()
        """Wait for a slot; return the seconds spent waiting (they count against the timeout)."""
        if self.try_acquire():
            return 0.0
        started = self._loop.time()
        waiter = self.enqueue(timeout)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot arrived just as we were cancelled: pass it on
            raise
        return self._loop.time() - started

    def _expire(self, waiter: asyncio.Future[None], timeout: float) -> None:
        if not waiter.done():
            waiter.set_exception(
                OperationTimedOut(
                    f"no request slot became free within {timeout:.3f}s "
                    f"(max_in_flight={self._limit} requests were already in flight)"
                )
            )

    def release(self) -> None:
        """Return a slot: hand it to the oldest live waiter, or free it."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle_waiters:
            idle, self._idle_waiters = self._idle_waiters, []
            for waiter in idle:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_idle(self, grace: float | None) -> bool:
        """Wait until nothing is in flight; ``False`` if ``grace`` seconds passed first."""
        if self._in_flight == 0:
            return True
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._idle_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, grace)
        except TimeoutError:
            return self._in_flight == 0
        return True

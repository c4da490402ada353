"""Admission: at most ``limit`` requests in the driver's hands at once, and each page's deadline.

Every request, first page or later page, is admitted once: ``admit(budget)`` takes a free slot
or queues for one, and returns the page's ``Deadline``, asked just before sending how long the
driver may take. Only that page's own wait counts against its budget, so a page that queued
never shortens the next one, and a page whose budget all went on queueing is never sent.

Not ``asyncio.Semaphore``: the fast path is one comparison and one increment, and a slot is
released by the bridge when the *driver* finishes, not by the awaiting task, which may have
been cancelled long before. Waiters queue in FIFO order and a released slot goes straight to
the oldest live waiter. Everything here runs on the event loop thread only.
"""

from __future__ import annotations

import asyncio
from collections import deque

from cassandra import OperationTimedOut

from .errors import SessionClosedError

__all__ = ["Deadline", "InFlightGate"]


class Deadline:
    """One page's admission: its slot (``slot is None``: held) and the time it may take."""

    __slots__ = ("_gate", "budget", "queued_at", "slot")

    def __init__(self, gate: InFlightGate, budget: float | None) -> None:
        self._gate = gate
        #: The call's timeout (or its execution profile's); ``None`` means no limit.
        self.budget = budget
        #: Loop time the page started queueing; ``None`` when a slot was free at once.
        self.queued_at: float | None = None
        #: While queued: resolves once the slot is ours, or fails with ``OperationTimedOut``
        #: (the budget ran out first) or ``SessionClosedError`` (the session shut down).
        self.slot: asyncio.Future[None] | None = None

    def remaining(self) -> float | None:
        """Seconds the driver may take for this page; raises if queueing used them all, or
        ``SessionClosedError`` if the session has shut down since the page was admitted."""
        gate = self._gate
        if gate._refusal is not None:
            raise SessionClosedError(gate._refusal)
        budget, queued_at = self.budget, self.queued_at
        if queued_at is None or budget is None:
            return budget
        left = budget - (gate._loop.time() - queued_at)
        if left > 0:
            return left
        raise gate.timed_out(budget)


class InFlightGate:
    __slots__ = ("_idle_waiters", "_in_flight", "_limit", "_loop", "_refusal", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._loop = loop
        self._limit = limit
        self._in_flight = 0
        # Invariant: while this deque holds a live waiter, every slot is taken.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle_waiters: list[asyncio.Future[None]] = []
        #: Set by ``refuse()``: why no page may be sent any more.
        self._refusal: str | None = None

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def admit(self, budget: float | None) -> Deadline:
        """Ask for a slot for one page; never waits.

        If ``deadline.slot`` is set, the slot is not ours yet: await ``wait(deadline)`` or add a
        callback to ``deadline.slot``. Whoever receives a slot must eventually ``release()`` it.
        """
        deadline = Deadline(self, budget)
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return deadline
        deadline.queued_at = self._loop.time()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        if budget is not None:
            timer = self._loop.call_later(budget, self._expire, waiter, budget)
            waiter.add_done_callback(lambda _: timer.cancel())
        deadline.slot = waiter
        return deadline

    async def wait(self, deadline: Deadline) -> None:
        """Wait for the slot of a queued ``deadline`` (from a task)."""
        slot = deadline.slot
        assert slot is not None, "the slot was free at once: nothing to wait for"
        try:
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self.release()  # the slot arrived just as we were cancelled: pass it on
            raise
        except BaseException:
            deadline.slot = slot = None  # it holds the exception, whose traceback holds us
            raise

    def timed_out(self, budget: float) -> OperationTimedOut:
        return OperationTimedOut(
            f"no request slot became free within {budget:.3f}s "
            f"(max_in_flight={self._limit} requests were already in flight)"
        )

    def _expire(self, waiter: asyncio.Future[None], budget: float) -> None:
        if not waiter.done():
            waiter.set_exception(self.timed_out(budget))

    def refuse(self, reason: str) -> None:
        """From now on fail every page, queued or admitted and not yet sent, with
        ``SessionClosedError(reason)``: the cluster is being shut down."""
        self._refusal = reason
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(SessionClosedError(reason))

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

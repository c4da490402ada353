"""Carry driver completions from whatever thread produced them onto the event loop.

The driver completes a request on its reactor thread normally, on the caller's thread when a
callback is added to an already finished future or when sending fails, and on an executor
thread for schema changes. Completions from other threads are queued and the loop is woken
once per batch rather than once per result: under load one ``call_soon_threadsafe`` (a pipe
write and a loop wake-up) serves many results. Completions that already run on the loop thread
are settled on the spot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any, Protocol

__all__ = ["LoopBridge", "Settleable"]

log = logging.getLogger("cassandra_asgi")

#: Completions settled per loop iteration. Each wakes a waiting task, and a node's death
#: answers hundreds of requests at once (with their retries' replies close behind).
_SETTLED_PER_ITERATION = 64


class Settleable(Protocol):
    def settle(self, result: Any, error: BaseException | None) -> None:
        """Runs on the loop thread with the driver's outcome."""


class LoopBridge:
    __slots__ = ("_drain_pending", "_loop", "_loop_thread", "_ready")

    def __init__(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        self._loop = loop
        self._loop_thread = loop_thread
        self._ready: deque[tuple[Settleable, Any, BaseException | None]] = deque()
        self._drain_pending = False

    def deliver(self, target: Settleable, result: Any, error: BaseException | None) -> None:
        """Hand ``(result, error)`` to ``target.settle`` on the loop thread; callable from any."""
        if threading.get_ident() == self._loop_thread:
            target.settle(result, error)
            return
        self._ready.append((target, result, error))
        # Ordering makes this safe without a lock: the drain clears the flag *before* emptying
        # the queue, so an item appended after the flag was seen set is always drained.
        if not self._drain_pending:
            self._drain_pending = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:
                # The loop is closed: nobody is left to receive these results.
                self._ready.clear()
                self._drain_pending = False

    def _drain(self) -> None:
        self._drain_pending = False
        ready = self._ready
        for _ in range(_SETTLED_PER_ITERATION):
            if not ready:
                return
            target, result, error = ready.popleft()
            try:
                target.settle(result, error)
            except Exception:  # never let one bad completion strand the rest of the batch
                log.exception("cassandra_asgi: failed to deliver a driver result")
        if ready and not self._drain_pending:  # the rest at the next iteration
            self._drain_pending = True
            self._loop.call_soon(self._drain)

"""State every request touches: the owning loop, the bridge, the in-flight gate, the metrics.

Kept apart from ``AsyncSession`` so that result sets and streams can fetch further pages
without importing the session (no import cycles) and so the per-request checks live in one
place.
"""

from __future__ import annotations

import asyncio
import threading
from asyncio.events import _get_running_loop
from typing import Any

from cassandra.cluster import _NOT_SET

from . import _forks
from ._bridge import LoopBridge
from ._gate import InFlightGate
from .errors import ForkedSessionError, SessionClosedError, WrongEventLoopError
from .metrics import MetricsRecorder

__all__ = ["DRIVER_DEFAULT", "SessionCore"]

#: Passed as ``timeout`` to the driver when the execution profile's timeout should apply.
DRIVER_DEFAULT: Any = _NOT_SET


class SessionCore:
    __slots__ = (
        "bridge",
        "closing",
        "gate",
        "generation",
        "loop",
        "metrics",
        "pending",
        "shut_down",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, max_in_flight: int) -> None:
        self.loop = loop
        # Sessions are created by a coroutine running on ``loop``, so this is the loop thread.
        self.bridge = LoopBridge(loop, threading.get_ident())
        self.gate = InFlightGate(loop, max_in_flight)
        self.metrics = MetricsRecorder()
        self.closing = False
        self.shut_down = False
        #: Requests in the driver's hands (``DriverRequest``), to fail them if the cluster is
        #: shut down under them: the driver never completes those.
        self.pending: set[Any] = set()
        self.generation = _forks.current_generation()

    def check_usable(self) -> None:
        """Fail fast, with a message naming the fix, when the session cannot serve a call."""
        if self.generation != _forks._generation:
            raise ForkedSessionError(
                "this session was created in another process (before a fork()); driver "
                "connections do not survive fork(): connect() again in this process, e.g. at "
                "application startup in each worker"
            )
        if _get_running_loop() is not self.loop:
            raise self.wrong_loop_error()
        if self.closing:
            raise SessionClosedError("the session is closed (close() was called)")

    def wrong_loop_error(self) -> WrongEventLoopError:
        running = _get_running_loop()
        where = "outside any running event loop" if running is None else "from another loop"
        return WrongEventLoopError(
            f"this session belongs to the event loop that connected it ({self.loop!r}) and was "
            f"used {where}; create one session per event loop (per worker, per test), or "
            "submit the call to the owning loop with asyncio.run_coroutine_threadsafe()"
        )

    async def admit(self, timeout: float | None, default_timeout: float | None) -> Any:  # noqa: ASYNC109 - passed on to the driver
        """Take an in-flight slot; return the timeout to hand to the driver.

        Time spent queueing counts against the caller's timeout, so the driver gets only
        what is left of it.
        """
        if self.gate.try_acquire():
            return DRIVER_DEFAULT if timeout is None else timeout
        budget = default_timeout if timeout is None else timeout
        waited = await self.gate.acquire(budget)
        if self.shut_down:  # queued before close(), but the grace period ran out
            self.gate.release()
            raise SessionClosedError("the session was closed while this call waited for a slot")
        if budget is None:
            return None
        return max(budget - waited, 0.001)

"""State every request touches: the owning loop, the bridge, the in-flight gate, the metrics.

Kept apart from ``AsyncSession`` so that result sets and streams can fetch further pages
without importing the session (no import cycles) and so the per-request checks live in one
place.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._bridge import LoopBridge
from ._compat import running_loop
from ._gate import InFlightGate
from .errors import ForkedSessionError, SessionClosedError, WrongEventLoopError
from .metrics import MetricsRecorder

if TYPE_CHECKING:
    from .tracing import Tracing

__all__ = ["SessionCore", "process_generation", "yield_to_the_loop"]

#: Changes in a child process after every ``fork()``, without a system call per request: driver
#: connections and threads do not survive a fork, so a session created before one must refuse
#: to run in the child rather than time out.
_generation = 0


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def process_generation() -> int:
    return _generation


async def yield_to_the_loop() -> None:
    """Every call that fails lets other tasks run once before raising, as a call that succeeds
    does (it waits for the driver): a retry loop of failing calls (a bad value, a closed
    session, every node down) must not starve the loop. Called only on failure paths."""
    await asyncio.sleep(0)


class SessionCore:
    __slots__ = (
        "bridge",
        "closing",
        "explain_error",
        "gate",
        "generation",
        "loop",
        "loop_io",
        "metrics",
        "pending",
        "shut_down",
        "tracing",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, max_in_flight: int) -> None:
        self.loop = loop
        # Sessions are created by a coroutine running on ``loop``, so this is the loop thread.
        self.bridge = LoopBridge(loop, threading.get_ident())
        self.gate = InFlightGate(loop, max_in_flight)
        self.metrics = MetricsRecorder()
        #: ``close()`` has started: no new calls. Results already running still page.
        self.closing = False
        #: The cluster is (being) shut down: no page of anything may be sent any more.
        self.shut_down = False
        #: Requests in the driver's hands (``DriverRequest``), to fail them if the cluster is
        #: shut down under them: the driver never completes those.
        self.pending: set[Any] = set()
        self.generation = _generation
        #: The session's spans (``tracing``); ``None`` when nothing would record them, so the
        #: request path checks one attribute.
        self.tracing: Tracing | None = None
        #: ``io="loop"``: the task that closes the session's connections if the loop stops
        #: before ``close()`` (``_loop_io.watch_loop``); ``None`` with the reactor thread.
        self.loop_io: asyncio.Task[None] | None = None
        #: Turns a driver error into one that says more (``health.NoHostExplainer``), on the
        #: failure path only; set by ``connect()``, which knows the cluster.
        self.explain_error: Callable[[BaseException], BaseException] | None = None

    def check_usable(self, *, new_call: bool = True) -> None:
        """Fail fast, with a message naming the fix, when the session cannot serve a call.

        ``new_call=False`` is for a later page of a result already running, which may still
        be fetched while ``close()`` waits for work in flight.
        """
        if self.generation != _generation:
            raise ForkedSessionError(
                "this session was created in another process (before a fork()); driver "
                "connections do not survive fork(): connect() again in this process, e.g. at "
                "application startup in each worker"
            )
        if running_loop() is not self.loop:
            raise self.wrong_loop_error()
        if self.shut_down or (new_call and self.closing):
            raise SessionClosedError("the session is closed (close() was called)")

    def wrong_loop_error(self) -> WrongEventLoopError:
        running = running_loop()
        where = "outside any running event loop" if running is None else "from another loop"
        return WrongEventLoopError(
            f"this session belongs to the event loop that connected it ({self.loop!r}) and was "
            f"used {where}; create one session per event loop (per worker, per test), or "
            "submit the call to the owning loop with asyncio.run_coroutine_threadsafe()"
        )

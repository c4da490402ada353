"""One driver ``ResponseFuture`` followed through its pages, as something asyncio can await.

A request holds an in-flight slot from the moment it is handed to the driver until the driver
reports an outcome, even when the task awaiting it was cancelled: the stream id stays in use on
the connection until then, so releasing the slot earlier would let callers exhaust the stream
ids and reach the driver's blocking ``borrow_connection`` wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cassandra import OperationTimedOut
from cassandra.query import tuple_factory

from . import _compat
from ._core import SessionCore
from .errors import NoHostAvailable
from .rows import RowFactory, loop_shaper

if TYPE_CHECKING:
    from .tracing import TracedCall

__all__ = ["DriverRequest", "PageListener"]

PageListener = Callable[[list[Any], BaseException | None], None]
_perf_counter = time.perf_counter


def _as_rows(result: Any) -> list[Any]:
    """A page as a list: a row factory's list or tuple of rows, ``[]`` for a result without
    rows, and anything else (a DataFrame, from the driver's pandas recipe) as one value."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    if isinstance(result, tuple):
        return list(result)
    return [result]


class DriverRequest:
    __slots__ = (
        "__weakref__",  # tests check that nothing keeps a finished request alive
        "abandoned",
        "budget",
        "column_names",
        "core",
        "host",
        "listener",
        "paging_state",
        "response_future",
        "settled",
        "shaper",
        "started",
        "trace",
        "waiter",
    )

    def __init__(self, core: SessionCore, budget: float | None) -> None:
        self.core = core
        #: Seconds each page may take: the call's timeout, else its execution profile's.
        self.budget = budget
        self.response_future: Any = None
        #: the driver ``Host`` the page in flight was sent to first (per-host metrics)
        self.host: Any = None
        self.waiter: asyncio.Future[list[Any]] | None = None
        self.listener: PageListener | None = None
        self.settled = True
        self.abandoned = False
        self.started = 0.0
        self.paging_state: bytes | None = None
        self.column_names: list[str] | None = None
        #: Set when the driver delivers plain tuples: the factory giving rows their shape.
        self.shaper: RowFactory | None = None
        #: The span of the call waiting for this request's pages (``None``: not traced).
        self.trace: TracedCall | None = None

    def shape(self, rows: list[Any]) -> list[Any]:
        """``rows`` (some or all of a page) in their configured shape."""
        shaper = self.shaper
        if shaper is None:
            return rows
        return shaper(self.column_names or [], rows)

    def deliver_plain_tuples(self) -> None:
        """Have the driver deliver the *following* pages as plain tuples (see ``rows``).

        Only between pages: the driver reads a future's ``row_factory`` when a reply arrives,
        and none is outstanding once the previous page has settled on the loop thread.
        """
        future = self.response_future
        if self.settled and self.shaper is None and future is not None:
            shaper = loop_shaper(future.row_factory)
            if shaper is not None:
                future.row_factory = tuple_factory
                self.shaper = shaper

    def arm(self, listener: PageListener | None = None) -> None:
        """Prepare for the next outcome; the caller already holds a slot for it."""
        self.settled = False
        self.started = _perf_counter()
        if listener is None:
            self.waiter = self.core.loop.create_future()
            self.listener = None
        else:
            self.waiter = None
            self.listener = listener

    def give_back_slot(self, error: BaseException) -> None:
        """The driver refused the request before taking it: free the slot we reserved."""
        if not self.settled:
            self.settled = True
            self.core.gate.release()
            self.core.metrics.record(0.0, error, _perf_counter())

    def start(self, response_future: Any) -> None:
        """Follow a future returned by ``execute_async`` (its first page)."""
        self.response_future = response_future
        self.core.pending.add(self)
        self._sent(response_future)
        response_future.add_callbacks(self._on_result, self._on_error)

    def fetch_next(self, timeout: float | None) -> None:
        """Ask the driver for the next page; the callbacks already registered fire again."""
        future = self.response_future
        _compat.rearm_timer(future, timeout)
        self.core.pending.add(self)
        future.start_fetching_next_page()
        self._sent(future)

    def _sent(self, future: Any) -> None:
        tried = getattr(future, "attempted_hosts", None)
        if tried:
            self.host = host = tried[-1]
            self.core.metrics.sent(host)

    # -- driver callbacks: any thread -------------------------------------------------------
    def _on_result(self, result: Any) -> None:
        self.core.bridge.deliver(self, result, None)

    def _on_error(self, error: BaseException) -> None:
        self.core.bridge.deliver(self, None, error)

    def _on_abandoned_outcome(self, outcome: Any) -> None:
        # Only whether it failed matters now (for the metrics): the rows are dropped here.
        error = outcome if isinstance(outcome, BaseException) else None
        self.core.bridge.deliver(self, None, error)

    # -- loop thread ------------------------------------------------------------------------
    def settle(self, result: Any, error: BaseException | None) -> None:
        """The driver's outcome for the page in flight (``Settleable``, via the bridge)."""
        future = self.response_future
        if future is not None and _compat.paging_state(future) is None:
            # No page is left to fetch (or the first page failed): the driver will never call
            # back again, so drop what ties the future to itself and to us (see _unlink).
            _unlink(future)
        if self.settled:  # a duplicate from abandon(), or fail() came first
            return
        self._finish(result, error)

    def fail(self, error: BaseException) -> None:
        """End the page in flight with ``error`` before the driver has finished it.

        The driver's links stay: its own timer and late callbacks still need them, and
        ``settle()`` then ignores the late outcome.
        """
        if not self.settled:
            self._finish(None, error)

    def coordinator(self, error: BaseException | None) -> Any:
        """The driver ``Host`` that answered the page just settled (for a client-side timeout,
        the one that did not answer in time; ``None`` when no host is to blame): the span's
        ``server.address``. Exact where the metrics' "last host tried" is not: a speculative
        execution may be tried last and answer second."""
        future = self.response_future
        if error is None:
            return None if future is None else future.coordinator_host
        if isinstance(error, OperationTimedOut):
            return error.last_host
        if future is None or isinstance(error, NoHostAvailable):
            return None  # an earlier page's coordinator, if any, is not the culprit
        return future.coordinator_host

    def last_tried(self) -> Any:
        """The host the page in flight was sent to last (per-host metrics), or ``None``."""
        tried = getattr(self.response_future, "attempted_hosts", None)
        return tried[-1] if tried else None

    def read_page_state(self) -> None:
        """Where the page just delivered ends, and its column names."""
        future = self.response_future
        self.paging_state = _compat.paging_state(future)
        self.column_names = _compat.column_names(future)

    def sent_message(self) -> Any:
        """The protocol message of the page in flight (its consistency and page size)."""
        future = self.response_future
        return None if future is None else future.message

    def _finish(self, result: Any, error: BaseException | None) -> None:
        self.settled = True
        core = self.core
        if error is not None and core.explain_error is not None:
            error = core.explain_error(error)
        core.pending.discard(self)
        core.gate.release()
        now = _perf_counter()
        metrics = core.metrics
        metrics.record(now - self.started, error, now)
        metrics.answered(self.host, self.last_tried(), error)
        self.host = None
        rows: list[Any] = []
        if error is None:
            if self.abandoned:
                return
            self.read_page_state()
            rows = result if type(result) is list else _as_rows(result)
        trace = self.trace
        if trace is not None:
            trace.page_done(self, self.coordinator(error), len(rows), error)
        listener = self.listener
        if listener is not None:
            self.listener = None  # it refers back to us: no cycle once the page is delivered
            listener(rows, error)
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(rows)
            else:
                # The driver's future keeps the exception, whose traceback will hold the frames
                # that await us: let go of it so a failure is freed by reference counting.
                self.response_future = None
                waiter.set_exception(error)

    async def wait(self) -> list[Any]:
        """Await the outcome; if the awaiting task is cancelled, drop the result when it comes."""
        waiter = self.waiter
        assert waiter is not None, "arm() without a listener first"
        try:
            return await waiter
        except asyncio.CancelledError:
            if not self.settled:
                self.abandon()
            raise
        except BaseException:
            self.waiter = waiter = None  # it holds the exception, whose traceback holds us
            raise

    def abandon(self) -> None:
        """Nobody wants the outcome any more; keep only what releases the slot."""
        self.abandoned = True
        self.listener = None
        future = self.response_future
        if future is None or self.settled:
            return
        future.clear_callbacks()
        # If the outcome already arrived this runs at once (here, on the loop thread); if the
        # original callbacks already queued it, settle() ignores the second delivery.
        future.add_callbacks(self._on_abandoned_outcome, self._on_abandoned_outcome)


def _unlink(future: Any) -> None:
    """Break the reference cycles of a finished ``ResponseFuture``.

    The future holds our callbacks (bound methods of the request that holds the future) and
    its spent timer (which holds the future's ``_on_timeout``). Left alone, every request
    becomes about 30 objects of cyclic garbage: they outlive young collections while in flight,
    get promoted, and are only freed by full collections, which walk the whole heap holding the
    GIL. Unlinked, a finished request is freed by reference counting the moment its result is
    dropped. The timer was cancelled by the driver before it called back, so forgetting it
    changes nothing else (the driver itself sets ``_timer = None`` when a timer fires).
    """
    future.clear_callbacks()
    _compat.forget_spent_timer(future)

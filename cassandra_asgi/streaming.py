"""``RowStream``: a result read page by page with a bounded read-ahead; the paging engine of
``AsyncResultSet`` too (a result set is a stream with ``prefetch=0`` whose first page is in hand).

Fetching is driven by callbacks, not by a background task: a page is requested only while
fewer than ``prefetch`` unread pages are buffered (or the reader is waiting), so a reader who
stops reading (``break``, an exception, cancellation, or simply forgetting the result) stops
the fetching too, and leaves no task behind. Every page is admitted on its own, with its own
deadline (``_gate``).

Pages are buffered as the driver delivered them. ``AsyncSession.stream`` asks the driver for
plain tuples (a copy of the execution profile with ``tuple_factory``) and a result set does so
from its second page on; rows then get their configured shape on the loop thread, a chunk at a
time, as the reader reaches them, so they die young instead of being promoted by the cyclic
collector (``rows``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._core import SessionCore, yield_to_the_loop
from ._gate import Deadline
from ._request import DriverRequest

if TYPE_CHECKING:
    from .tracing import TracedCall

__all__ = ["ROWS_PER_CHUNK", "FirstPageSender", "RowStream"]

#: Rows shaped (and handed out) between two yields to the event loop.
ROWS_PER_CHUNK = 256

#: Sends the first request of a stream: ``(armed_request, driver_timeout) -> None``. It sets
#: ``armed_request.shaper`` when it asked the driver for plain tuples.
FirstPageSender = Callable[[DriverRequest, float | None], None]


class RowStream:
    """Async iterator of rows (``async for row in stream``), ``.pages()`` for lists of rows.

    Use it as ``async with session.stream(...) as rows:`` to stop any read-ahead the moment
    the block exits.
    """

    __slots__ = (
        "__weakref__",
        "_chunk",
        "_closed",
        "_core",
        "_deadline",
        "_error",
        "_fetching",
        "_index",
        "_offset",
        "_page",
        "_pages",
        "_prefetch",
        "_raw",
        "_reader",
        "_send_first",
        "request",
    )

    def __init__(
        self,
        core: SessionCore,
        request: DriverRequest,
        *,
        prefetch: int,
        send_first: FirstPageSender | None = None,
        page: list[Any] | None = None,
    ) -> None:
        """``send_first`` sends page one when first asked; without it, ``page`` is page one,
        already delivered (and shaped by the driver) to ``request``."""
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"prefetch: expected an integer >= 0, got {prefetch!r}")
        self._core = core
        self.request = request
        self._prefetch = prefetch
        self._send_first = send_first
        self._pages: deque[list[Any]] = deque()
        self._error: BaseException | None = None
        self._fetching = False
        self._closed = False
        self._reader: asyncio.Future[None] | None = None
        self._deadline: Deadline | None = None
        #: The page being read, as delivered; whether its rows still need their shape; the
        #: shaped chunk being handed out; where the next chunk starts and the chunk's next row.
        self._page: list[Any] = page or []
        self._raw = False
        self._chunk: list[Any] = []
        self._offset = 0
        self._index = 0

    @property
    def exhausted(self) -> bool:
        """No page is left to fetch (the last one arrived, or was buffered)."""
        return self._send_first is None and self.request.paging_state is None

    # -- fetching (loop thread, synchronous) -------------------------------------------------
    def _maybe_fetch(self, budget: float | None) -> None:
        if self._fetching or self._closed or self._error is not None or self.exhausted:
            return
        if len(self._pages) >= self._prefetch and self._reader is None:
            return
        self._fetching = True
        deadline = self._core.gate.admit(budget)
        if deadline.slot is None:
            self._send(deadline)
        else:
            self._deadline = deadline
            deadline.slot.add_done_callback(self._on_slot)

    def _on_slot(self, slot: asyncio.Future[None]) -> None:
        deadline, self._deadline = self._deadline, None
        if slot.cancelled():  # closed while queued
            self._fetching = False
        elif (error := slot.exception()) is not None:
            self._fetching = False
            self._fail(error)
        elif self._closed or deadline is None:
            self._fetching = False
            self._core.gate.release()
        else:
            self._send(deadline)

    def _send(self, deadline: Deadline) -> None:
        request = self.request
        send_first, self._send_first = self._send_first, None
        if send_first is None:
            request.deliver_plain_tuples()
        request.arm(listener=self._on_page)
        try:
            timeout = deadline.remaining()
            if send_first is None:
                request.fetch_next(timeout)
            else:
                send_first(request, timeout)
        except Exception as exc:
            request.give_back_slot(exc)
            self._fetching = False
            self._fail(exc)

    def _on_page(self, rows: list[Any], error: BaseException | None) -> None:
        self._fetching = False
        if error is not None:
            self._fail(error)
            return
        if self._closed:
            return
        self._pages.append(rows)
        self._wake_reader()
        self._maybe_fetch(self.request.budget)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake_reader()

    def _wake_reader(self) -> None:
        # Forget the reader as it is woken: it no longer waits, so it must not count as a
        # reader asking for one more page (prefetch=0 fetches only what is asked for).
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.set_result(None)

    # -- reading -----------------------------------------------------------------------------
    async def next_page(self, budget: float | None) -> list[Any] | None:
        """The next page as delivered (``None`` after the last). ``budget``: the timeout of a
        page fetched because of this call."""
        trace = self.request.trace
        if trace is None:
            return await self._next_page(budget)
        return await self._traced_next_page(trace, budget)

    async def _traced_next_page(self, trace: TracedCall, budget: float | None) -> list[Any] | None:
        """``_next_page`` inside a span: the stream's one span, started by its first read and
        ended by its last (or by ``close()``), or for a result set's page, a span of its own
        for each read that has to fetch."""
        if trace.is_stream:
            if not trace.started:
                trace.start()
                # A stream left without close() ends its span when it is garbage.
                weakref.finalize(self, trace.end, closed_early=True)
        elif self._pages or self._error is not None or self._closed or self.exhausted:
            return await self._next_page(budget)  # nothing to fetch: no span
        else:
            self.request.trace = trace = trace.next_page(self.request)
        try:
            page = await self._next_page(budget)
        except BaseException as exc:
            trace.end(exc)
            raise
        if not trace.is_stream:
            trace.end()
        elif page is None:
            trace.end(closed_early=not self.exhausted)
        return page

    async def _next_page(self, budget: float | None) -> list[Any] | None:
        try:
            if self._reader is not None:
                raise RuntimeError("a page fetch of this result is already in progress")
            while True:
                if self._pages:
                    page = self._pages.popleft()
                    self._maybe_fetch(self.request.budget)
                    return page
                if self._error is not None:
                    raise self._error
                if self._closed or (self.exhausted and not self._fetching):
                    return None
                self._core.check_usable(new_call=self._send_first is not None)
                reader: asyncio.Future[None] = self._core.loop.create_future()
                self._reader = reader
                try:
                    self._maybe_fetch(budget)
                    await reader
                finally:
                    if self._reader is reader:
                        self._reader = None
        except Exception:
            await yield_to_the_loop()
            raise

    def shape(self, rows: list[Any]) -> list[Any]:
        """``rows`` of the page in hand in their configured shape."""
        return self.request.shape(rows) if self._raw else rows

    def rows_in_hand(self) -> list[Any]:
        """The whole page in hand in its configured shape."""
        return self.shape(self._page)

    async def advance(self, budget: float | None) -> bool:
        """Make the next page the page in hand; ``False`` (and an empty page) after the last."""
        page = await self.next_page(budget)
        # Pages fetched by the engine are plain tuples whenever the request has a shaper.
        self._page, self._raw = page or [], self.request.shaper is not None
        self._offset, self._chunk, self._index = 0, [], 0
        return page is not None

    def rewind(self) -> None:
        """Read the page in hand again from its first row."""
        self._offset, self._chunk, self._index = 0, [], 0

    def __aiter__(self) -> RowStream:
        return self

    async def __anext__(self) -> Any:
        index = self._index
        chunk = self._chunk
        if index < len(chunk):
            self._index = index + 1
            return chunk[index]
        return await self._start_chunk()

    async def _start_chunk(self) -> Any:
        """Shape the next chunk of rows (fetching a page when needed); return its first row."""
        if self._offset:
            # Buffered rows never suspend the reader: let other tasks run between chunks, so a
            # page of thousands of rows does not hold the loop for its whole length.
            await asyncio.sleep(0)
        while True:
            page, start = self._page, self._offset  # read after the sleep: close() may have run
            if start >= len(page):
                if not await self.advance(self.request.budget):
                    raise StopAsyncIteration
                continue
            end = start + ROWS_PER_CHUNK
            self._offset = end
            whole = start == 0 and end >= len(page)
            chunk = self.shape(page if whole else page[start:end])
            if chunk:
                self._chunk, self._index = chunk, 1
                return chunk[0]

    def close(self) -> None:
        """Stop fetching and drop buffered pages; a request already sent finishes unobserved."""
        if self._closed:
            return
        self._closed = True
        self._pages.clear()
        self._page, self._offset, self._chunk, self._index = [], 0, [], 0
        deadline, self._deadline = self._deadline, None
        if deadline is not None and deadline.slot is not None:
            deadline.slot.cancel()
        if self._fetching and not self.request.settled:
            self.request.abandon()
        self._wake_reader()
        trace = self.request.trace
        if trace is not None and trace.is_stream:
            trace.end(closed_early=not self.exhausted)

    async def pages(self) -> AsyncIterator[list[Any]]:
        """Yield each page as a list of rows."""
        while (page := await self.next_page(self.request.budget)) is not None:
            yield self.request.shape(page)

    async def aclose(self) -> None:
        """``close()``, awaitable."""
        self.close()

    async def __aenter__(self) -> RowStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def column_names(self) -> list[str] | None:
        """Known once the first page has arrived."""
        return self.request.column_names

    @property
    def paging_state(self) -> bytes | None:
        """Resume token after the most recently *fetched* page (it may run ahead of reading)."""
        return self.request.paging_state

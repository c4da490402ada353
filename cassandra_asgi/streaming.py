"""``RowStream``: read a large result page by page with a bounded read-ahead.

Fetching is driven by callbacks, not by a background task: a page is requested only while
fewer than ``prefetch`` unread pages are buffered (or the reader is waiting), so a reader who
stops reading (``break``, an exception, cancellation, or simply forgetting the stream) stops
the fetching too, and an abandoned stream leaves no task behind.

Pages are buffered as the driver's plain tuples whenever the session could ask for them
(``AsyncSession.stream`` sends with a copy of the execution profile whose row factory gives
plain tuples) and rows get their configured shape on the loop thread, a chunk at a time, as the
reader reaches them. Rows shaped this way die young; whole buffered pages of named tuples would
be promoted by the cyclic collector and set off full collections that stall the loop (``rows``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

from ._core import DRIVER_DEFAULT, SessionCore
from ._request import DriverRequest
from .errors import SessionClosedError

__all__ = ["RowStream"]

#: Rows shaped (and handed out) between two yields to the event loop.
ROWS_PER_CHUNK = 256

#: Sends the first request of a stream: ``(armed_request, driver_timeout) -> None``. It sets
#: ``armed_request.shaper`` when it asked the driver for plain tuples.
FirstPageSender = Callable[[DriverRequest, Any], None]


class RowStream:
    """Async iterator of rows (``async for row in stream``), ``.pages()`` for lists of rows.

    Use it as ``async with session.stream(...) as rows:`` to stop any read-ahead the moment
    the block exits.
    """

    def __init__(
        self,
        core: SessionCore,
        send_first: FirstPageSender,
        *,
        prefetch: int,
        timeout: float | None,
        default_timeout: float | None,
    ) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"prefetch: expected an integer >= 0, got {prefetch!r}")
        self._core = core
        self._send_first = send_first
        self._prefetch = prefetch
        self._timeout = timeout
        self._budget = default_timeout if timeout is None else timeout
        self._request = DriverRequest(core)
        self._pages: deque[list[Any]] = deque()
        self._error: BaseException | None = None
        self._sent_first = False
        self._fetching = False
        self._exhausted = False
        self._closed = False
        self._reader: asyncio.Future[None] | None = None
        self._slot_waiter: asyncio.Future[None] | None = None
        #: The page being read (as delivered) and where its next chunk starts.
        self._page: list[Any] = []
        self._offset = 0
        #: The shaped chunk being handed out and the index of its next row.
        self._chunk: list[Any] = []
        self._index = 0

    # -- fetching (loop thread, synchronous) -------------------------------------------------
    def _maybe_fetch(self) -> None:
        if self._fetching or self._closed or self._exhausted or self._error is not None:
            return
        if len(self._pages) >= self._prefetch and self._reader is None:
            return
        if self._core.closing:
            self._fail(SessionClosedError("the session was closed before the stream finished"))
            return
        self._fetching = True
        if self._core.gate.try_acquire():
            self._send(DRIVER_DEFAULT if self._timeout is None else self._timeout)
            return
        started = self._core.loop.time()
        waiter = self._core.gate.enqueue(self._budget)
        self._slot_waiter = waiter
        waiter.add_done_callback(lambda done: self._on_slot(done, started))

    def _on_slot(self, waiter: asyncio.Future[None], started: float) -> None:
        self._slot_waiter = None
        if waiter.cancelled():
            self._fetching = False
            return
        error = waiter.exception()
        if error is not None:
            self._fetching = False
            self._fail(error)
            return
        if self._closed or self._core.shut_down:
            self._core.gate.release()
            if not self._closed:
                self._fail(SessionClosedError("the session was closed before the stream finished"))
            return
        if self._budget is None:
            self._send(None)
        else:
            self._send(max(self._budget - (self._core.loop.time() - started), 0.001))

    def _send(self, driver_timeout: Any) -> None:
        request = self._request
        request.arm(listener=self._on_page)
        try:
            if self._sent_first:
                request.fetch_next(driver_timeout)
            else:
                self._sent_first = True
                self._send_first(request, driver_timeout)
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
        self._exhausted = self._request.paging_state is None
        self._pages.append(rows)
        self._wake_reader()
        self._maybe_fetch()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    # -- reading -----------------------------------------------------------------------------
    async def _next_page(self) -> list[Any] | None:
        if not self._sent_first:
            self._core.check_usable()
        while True:
            if self._pages:
                page = self._pages.popleft()
                self._maybe_fetch()
                return page
            if self._error is not None:
                raise self._error
            if self._closed or (self._exhausted and not self._fetching):
                return None
            reader: asyncio.Future[None] = self._core.loop.create_future()
            self._reader = reader
            try:
                self._maybe_fetch()
                await reader
            finally:
                self._reader = None

    async def pages(self) -> AsyncIterator[list[Any]]:
        """Yield each page as a list of rows."""
        while (page := await self._next_page()) is not None:
            yield self._request.shape(page)

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
            page, start = self._page, self._offset  # read after the sleep: aclose() may have run
            if start >= len(page):
                fetched = await self._next_page()
                if fetched is None:
                    self._page, self._offset, self._chunk, self._index = [], 0, [], 0
                    raise StopAsyncIteration
                self._page, self._offset = fetched, 0
                continue
            end = start + ROWS_PER_CHUNK
            self._offset = end
            whole = start == 0 and end >= len(page)
            chunk = self._request.shape(page if whole else page[start:end])
            if chunk:
                self._chunk, self._index = chunk, 1
                return chunk[0]

    # -- lifetime ----------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop fetching and drop buffered pages; a request already sent finishes unobserved."""
        if self._closed:
            return
        self._closed = True
        self._pages.clear()
        self._page, self._offset, self._chunk, self._index = [], 0, [], 0
        if self._slot_waiter is not None:
            self._slot_waiter.cancel()
        if self._fetching and not self._request.settled:
            self._request.abandon()
        self._wake_reader()

    async def __aenter__(self) -> RowStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def column_names(self) -> list[str] | None:
        """Known once the first page has arrived."""
        return self._request.column_names

    @property
    def paging_state(self) -> bytes | None:
        """Resume token after the most recently *fetched* page (it may run ahead of reading)."""
        return self._request.paging_state

"""``AsyncResultSet``: one page in hand, further pages on request, never a blocking fetch.

The driver's ``ResultSet`` fetches the next page *synchronously* when iterated past its first
page, which would freeze the event loop for a round trip. This class never touches a driver
``ResultSet``: it keeps the rows the driver's callback delivered and asks for more pages with
the non-blocking ``start_fetching_next_page()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn

from ._request import DriverRequest

__all__ = ["AsyncResultSet"]

#: Rows handed out (and shaped) between two yields to the event loop.
_ROWS_PER_CHUNK = 256


class AsyncResultSet:
    """The result of ``AsyncSession.execute``: the current page plus paging controls."""

    __slots__ = ("_page", "_request", "_rows")

    def __init__(self, request: DriverRequest, rows: list[Any]) -> None:
        """``rows``: the first page, already shaped by the driver's row factory."""
        self._request = request
        #: The page in hand as delivered: later pages come as plain tuples when
        #: ``request.shaper`` is set (see ``DriverRequest.deliver_plain_tuples``).
        self._page = rows
        #: ``_page`` in its configured shape, made when first asked for.
        self._rows: list[Any] | None = rows

    @property
    def current_rows(self) -> list[Any]:
        """The rows of the page in hand (the first page until ``fetch_next_page()``)."""
        rows = self._rows
        if rows is None:
            rows = self._rows = self._request.shape(self._page)
        return rows

    @property
    def column_names(self) -> list[str] | None:
        """Column names as the server sent them; ``None`` for results without rows."""
        return self._request.column_names

    @property
    def has_more_pages(self) -> bool:
        return self._request.paging_state is not None

    @property
    def paging_state(self) -> bytes | None:
        """Opaque token for ``execute(..., paging_state=...)``: resume after this page later."""
        return self._request.paging_state

    @property
    def response_future(self) -> Any:
        """The driver's ``ResponseFuture`` (warnings, tracing, custom payloads). Never call its
        blocking ``result()`` on the event loop."""
        return self._request.response_future

    def one(self) -> Any:
        """The first row of the current page, or ``None`` when it is empty."""
        rows = self.current_rows
        return rows[0] if rows else None

    @property
    def was_applied(self) -> bool:
        """For a conditional (``IF ...``) statement: whether the server applied it."""
        names = self.column_names
        rows = self.current_rows
        if not names or names[0] != "[applied]" or not rows:
            raise RuntimeError(
                "was_applied needs the result of a conditional (lightweight transaction) "
                f"statement, whose first column is [applied]; this result has columns {names}"
            )
        row = rows[0]
        return bool(row["[applied]"] if isinstance(row, Mapping) else row[0])

    async def fetch_next_page(self, *, timeout: float | None = None) -> list[Any]:  # noqa: ASYNC109
        """Replace ``current_rows`` with the next page and return it (``[]`` when none is left)."""
        await self._load_next_page(timeout)
        return self.current_rows

    async def _load_next_page(self, timeout: float | None) -> None:  # noqa: ASYNC109
        if not self.has_more_pages:
            self._page = self._rows = []
            return
        self._page = await self._request.next_page(timeout)
        self._rows = self._page if self._request.shaper is None else None

    async def _walk(self) -> AsyncIterator[Any]:
        # Rows are shaped a chunk at a time just before they are handed out (unless the page
        # in hand was already shaped): they die young instead of being promoted (see ``rows``).
        request = self._request
        while True:
            shaped = self._rows
            page = self._page if shaped is None else shaped
            for start in range(0, len(page), _ROWS_PER_CHUNK):
                if start:
                    await asyncio.sleep(0)  # a long page must not hold the loop for its length
                chunk = page[start : start + _ROWS_PER_CHUNK]
                for row in chunk if shaped is not None else request.shape(chunk):
                    yield row
            if not self.has_more_pages:
                return
            await self._load_next_page(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        """Every row from the current page onwards, fetching pages as the loop reaches them."""
        return self._walk()

    async def all(self) -> list[Any]:
        """Every row from the current page onwards, as one list (mind the memory)."""
        rows = list(self.current_rows)
        while self.has_more_pages:
            rows.extend(await self.fetch_next_page())
        return rows

    def __iter__(self) -> NoReturn:
        raise TypeError(
            "AsyncResultSet is not iterable with a plain for loop (that would stop silently at "
            "the first page): use `async for row in rs` for every row, `await rs.all()`, or "
            "`rs.current_rows` for the page in hand"
        )

    def __repr__(self) -> str:
        return (
            f"<AsyncResultSet rows={len(self._page)} columns={self.column_names} "
            f"has_more_pages={self.has_more_pages}>"
        )

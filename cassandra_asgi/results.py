"""``AsyncResultSet``: one page in hand, further pages on request, never a blocking fetch.

The driver's ``ResultSet`` fetches the next page *synchronously* when iterated past its first
page, which would freeze the event loop for a round trip. This class never touches a driver
``ResultSet``: it keeps the rows the driver's callback delivered and asks for more pages with
the non-blocking ``start_fetching_next_page()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from ._request import DriverRequest
from .streaming import RowStream

__all__ = ["AsyncResultSet"]


class AsyncResultSet:
    """The result of ``AsyncSession.execute``: the current page plus paging controls."""

    __slots__ = ("_pager", "_request", "_rows")

    def __init__(self, request: DriverRequest, rows: list[Any]) -> None:
        """``rows``: the first page, already shaped by the driver's row factory."""
        self._request = request
        #: The page in hand in its configured shape (``None``: not made yet).
        self._rows: list[Any] | None = rows
        #: The paging engine, made when a page after the first is wanted.
        self._pager: RowStream | None = None

    def _paging(self) -> RowStream:
        pager = self._pager
        if pager is None:
            pager = self._pager = RowStream(
                self._request.core, self._request, prefetch=0, page=self._rows
            )
        return pager

    @property
    def current_rows(self) -> list[Any]:
        """The rows of the page in hand (the first page until ``fetch_next_page()``)."""
        rows = self._rows
        if rows is None:
            rows = self._rows = self._paging().rows_in_hand()
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
        """Replace ``current_rows`` with the next page and return it (``[]`` when none is left).

        ``timeout`` (default: the one ``execute()`` had) covers any wait for a slot and the page.
        """
        pager = self._paging()
        await pager.advance(self._request.budget if timeout is None else timeout)
        self._rows = None
        return self.current_rows

    def __aiter__(self) -> RowStream:
        """Every row from the current page onwards, fetching pages as the loop reaches them."""
        pager = self._paging()
        pager.rewind()
        self._rows = None  # the walk moves the page in hand along
        return pager

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
            f"<AsyncResultSet rows={len(self.current_rows)} columns={self.column_names} "
            f"has_more_pages={self.has_more_pages}>"
        )

"""Every private name of cassandra-driver (3.29, 3.30) and asyncio this package relies on.

The driver has no public way to re-arm a future's timer for its next page, to read the paging
state and column names a callback was given, to set the timeout ``Session.prepare()`` waits, or
to reach the policy a ``TokenAwarePolicy`` wraps;
asyncio has no public "running loop or None". Reaching them from one module keeps the list
short and checked: ``tests/core/test_compat.py`` fails, naming the driver version, if the
installed driver lacks any name in ``RELIED_ON``, and fails if another module reaches past this
one.
"""

from __future__ import annotations

import time
from asyncio.events import _get_running_loop
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.query import _clean_column_name
from cassandra.util import _sanitize_identifiers

__all__ = [
    "RELIED_ON",
    "child_policy",
    "clean_column_name",
    "column_names",
    "forget_spent_timer",
    "paging_state",
    "query_retries",
    "rearm_timer",
    "running_loop",
    "sanitize_identifiers",
    "set_prepare_timeout",
]

#: ``module:object.attribute`` for each private name used below.
RELIED_ON = (
    "asyncio.events:_get_running_loop",
    "cassandra.query:_clean_column_name",
    "cassandra.util:_sanitize_identifiers",
    "cassandra.cluster:ResponseFuture._timer",
    "cassandra.cluster:ResponseFuture._start_time",
    "cassandra.cluster:ResponseFuture._paging_state",
    "cassandra.cluster:ResponseFuture._col_names",
    "cassandra.cluster:ResponseFuture._query_retries",
    "cassandra.cluster:Session._default_timeout",
    "cassandra.policies:TokenAwarePolicy._child_policy",
)

#: The running event loop of this thread, or ``None`` (``asyncio.get_running_loop`` raises).
running_loop: Callable[[], Any] = _get_running_loop
#: The driver's cleaning of column names into attribute names (``[applied]`` -> ``applied``).
clean_column_name: Callable[[str], str] = _clean_column_name
#: The driver's fallback for names that still are not identifiers (keywords, duplicates).
sanitize_identifiers: Callable[[Sequence[str]], list[str]] = _sanitize_identifiers


def paging_state(future: Any) -> bytes | None:
    """Where the page a ``ResponseFuture`` just delivered ends (``None``: it was the last)."""
    return future._paging_state  # type: ignore[no-any-return]


def column_names(future: Any) -> list[str] | None:
    """Column names of the result a ``ResponseFuture`` delivered (``None`` without rows)."""
    return future._col_names  # type: ignore[no-any-return]


def query_retries(future: Any) -> int:
    """How many times the retry policy had a ``ResponseFuture`` sent again, over all its pages
    (the driver counts them for the policy and exposes no public count)."""
    return future._query_retries  # type: ignore[no-any-return]


def rearm_timer(future: Any, timeout: float | None) -> None:
    """Let ``timeout`` govern the next page of ``future``.

    The driver arms a future's client-side timer once and never forgets the spent one, so
    without this a page that never arrives would never time out; ``_start_time`` also bounds
    its retries of the page.
    """
    future._timer = None
    future._start_time = time.time()
    future.timeout = timeout


def forget_spent_timer(future: Any) -> None:
    """Drop a finished future's cancelled timer, which refers back to the future."""
    future._timer = None


def set_prepare_timeout(driver_session: Any, seconds: float) -> None:
    """The timeout ``Session.prepare()`` waits. The public setter refuses to change it once
    execution profiles are in use, although ``prepare()`` still reads it."""
    driver_session._default_timeout = seconds


def child_policy(policy: Any) -> Any:
    """The policy a ``TokenAwarePolicy`` orders replicas for (``None`` for any other policy)."""
    return getattr(policy, "_child_policy", None)

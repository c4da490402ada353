"""A request that succeeded leaves no reference cycle behind for the cyclic collector.

Left to itself, every driver ``ResponseFuture`` is tied into cycles (its callbacks hold the
object that holds the future; its spent timer holds the future's ``_on_timeout``), so each
request would become garbage that only a full collection frees: pauses of the whole process
that grow with load. These tests run with the cyclic collector switched off, so a future that
is freed at all was freed by reference counting. (A failed request is still collected the
usual way: a raised exception's traceback and the future holding that exception form a cycle,
as with any exception kept by the object whose frames raised it.)
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from cassandra_asgi import AsyncSession

from .helpers import create_rows_table, eventually, fill_rows


@pytest.fixture
def cyclic_gc_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("cyclic_gc_off")
async def test_a_single_page_result_is_freed_once_dropped(cassandra_session: AsyncSession) -> None:
    select = await cassandra_session.prepare("SELECT release_version FROM system.local")
    rs = await cassandra_session.execute(select)
    assert rs.one() is not None
    # io="loop" answers it without a driver future: then the request itself must go.
    future = weakref.ref(rs.response_future or rs._request)
    del rs
    # The driver's timer heap lets go of the cancelled timer on its next loop iteration.
    assert await eventually(lambda: future() is None, within=5.0)


@pytest.mark.usefixtures("cyclic_gc_off")
async def test_the_last_page_of_a_paged_result_is_freed_once_dropped(
    cassandra_session: AsyncSession,
) -> None:
    await create_rows_table(cassandra_session)
    await fill_rows(cassandra_session, 25)
    rs = await cassandra_session.execute("SELECT v FROM rows WHERE p = 0", fetch_size=10)
    assert len([row async for row in rs]) == 25
    assert not rs.has_more_pages
    future = weakref.ref(rs.response_future)
    del rs
    assert await eventually(lambda: future() is None, within=5.0)

"""Row factories that build one object per page, as the driver's pandas recipe does.

A list or a tuple from the row factory is a page of rows; anything else (a DataFrame, which
iterates over its column labels) is one value standing for the whole page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cassandra_asgi import AsyncSession, CassandraConfig, connect

from .helpers import create_rows_table, fill_rows


class Frame:
    """Shaped like a DataFrame where it matters: iterating it yields the column labels."""

    def __init__(self, columns: list[str], rows: list[Any]) -> None:
        self.columns = list(columns)
        self.rows = [tuple(row) for row in rows]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)


def frame_factory(columns: list[str], rows: list[Any]) -> Any:
    return Frame(columns, rows)


def tuple_of_rows_factory(columns: list[str], rows: list[Any]) -> Any:
    return tuple(tuple(row) for row in rows)


@pytest.fixture
async def frames(cassandra_config: CassandraConfig, keyspace: str) -> Any:
    config = cassandra_config.replace(keyspace=keyspace, row_factory=frame_factory)
    async with connect(config) as session:
        await create_rows_table(session)
        await fill_rows(session, 12)
        yield session


async def test_a_page_object_from_the_row_factory_arrives_whole(frames: AsyncSession) -> None:
    rs = await frames.execute("SELECT c FROM rows WHERE p = 0", fetch_size=5)
    (frame,) = rs.current_rows
    assert isinstance(frame, Frame)
    assert frame.columns == ["c"]
    assert frame.rows == [(c,) for c in range(5)]
    assert rs.one() is frame


async def test_walking_a_result_yields_one_page_object_per_page(frames: AsyncSession) -> None:
    rs = await frames.execute("SELECT c FROM rows WHERE p = 0", fetch_size=5)
    walked = [frame async for frame in rs]
    assert [row for frame in walked for row in frame.rows] == [(c,) for c in range(12)]
    assert all(isinstance(frame, Frame) for frame in walked)


async def test_a_stream_yields_one_page_object_per_page(frames: AsyncSession) -> None:
    async with frames.stream("SELECT c FROM rows WHERE p = 0", fetch_size=5) as stream:
        streamed = [frame async for frame in stream]
    assert [row for frame in streamed for row in frame.rows] == [(c,) for c in range(12)]


async def test_a_tuple_from_the_row_factory_is_a_page_of_rows(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    config = cassandra_config.replace(keyspace=keyspace, row_factory=tuple_of_rows_factory)
    async with connect(config) as session:
        await create_rows_table(session)
        await fill_rows(session, 3)
        rs = await session.execute("SELECT c FROM rows WHERE p = 0")
        assert rs.current_rows == [(0,), (1,), (2,)]

"""Rows keep their configured shape however they are read, and long reads keep no whole pages
of GC-tracked rows alive (the driver hands over plain tuples; rows are shaped a chunk at a time).
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.query import dict_factory, named_tuple_factory, ordered_dict_factory

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.rows import named_tuple_rows
from cassandra_asgi.streaming import ROWS_PER_CHUNK

from .helpers import create_rows_table, eventually, fill_rows

#: Enough rows for several pages, with pages that end inside a shaping chunk.
ROWS = 1200
FETCH_SIZE = ROWS_PER_CHUNK + 1
#: Pages several chunks long, for counting how many shaped rows are alive at once.
LONG_PAGE = 600
QUERY = "SELECT c, v FROM rows WHERE p = 0"
EXPECTED = [(c, str(c)) for c in range(ROWS)]


def _is_named_tuple(row: Any) -> bool:
    return type(row) is not tuple and getattr(row, "_fields", None) == ("c", "v")


@dataclass(frozen=True)
class Shape:
    """One way of choosing the row shape, and what the rows must then look like."""

    name: str
    config_row_factory: Any = "named_tuple"
    #: A profile name, or a function building a profile object from the driver session.
    profile: Any = EXEC_PROFILE_DEFAULT
    has_shape: Callable[[Any], bool] = _is_named_tuple
    as_tuple: Callable[[Any], tuple[Any, ...]] = tuple

    def execution_profile(self, session: AsyncSession) -> Any:
        return self.profile(session.driver_session) if callable(self.profile) else self.profile


def _dict_values(row: Any) -> tuple[Any, ...]:
    return (row["c"], row["v"])


def _driver_profile(factory: Any) -> Callable[[Any], Any]:
    """A user-made profile object: a clone, as the driver documents for ad hoc profiles."""

    def build(driver_session: Any) -> Any:
        return driver_session.execution_profile_clone_update(
            EXEC_PROFILE_DEFAULT, row_factory=factory
        )

    return build


SHAPES = [
    Shape("default"),
    Shape("named_tuple profile", profile="named_tuple"),
    Shape(
        "dict profile",
        profile="dict",
        has_shape=lambda row: type(row) is dict,
        as_tuple=_dict_values,
    ),
    Shape("tuple profile", profile="tuple", has_shape=lambda row: type(row) is tuple),
    Shape(
        "dict config",
        config_row_factory="dict",
        has_shape=lambda row: type(row) is dict,
        as_tuple=_dict_values,
    ),
    Shape("tuple config", config_row_factory="tuple", has_shape=lambda row: type(row) is tuple),
    Shape("driver named_tuple_factory profile", profile=_driver_profile(named_tuple_factory)),
    Shape(
        "driver dict_factory profile",
        profile=_driver_profile(dict_factory),
        has_shape=lambda row: type(row) is dict,
        as_tuple=_dict_values,
    ),
    Shape(
        "driver ordered_dict_factory profile",
        profile=_driver_profile(ordered_dict_factory),
        has_shape=lambda row: type(row) is OrderedDict,
        as_tuple=_dict_values,
    ),
    Shape(
        "user callable config",
        config_row_factory=lambda names, rows: [("row", names, row) for row in rows],
        has_shape=lambda row: row[0] == "row" and row[1] == ["c", "v"],
        as_tuple=lambda row: tuple(row[2]),
    ),
]


@pytest.fixture
async def filled_config(cassandra_config: CassandraConfig, keyspace: str) -> CassandraConfig:
    config = cassandra_config.replace(keyspace=keyspace)
    async with connect(config) as session:
        await create_rows_table(session)
        await fill_rows(session, ROWS)
    return config


@pytest.fixture(params=SHAPES, ids=[shape.name for shape in SHAPES])
def shape(request: pytest.FixtureRequest) -> Shape:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def shaped_session(
    filled_config: CassandraConfig, shape: Shape
) -> AsyncIterator[AsyncSession]:
    async with connect(filled_config.replace(row_factory=shape.config_row_factory)) as session:
        yield session


def _page_sizes() -> list[int]:
    full, rest = divmod(ROWS, FETCH_SIZE)
    return [FETCH_SIZE] * full + ([rest] if rest else [])


def _assert_shaped(shape: Shape, rows: list[Any], *, first: int = 0) -> None:
    """``rows`` have the shape and hold rows ``first``, ``first + 1``, ... of the partition."""
    assert all(shape.has_shape(row) for row in rows), rows[:3]
    assert [shape.as_tuple(row) for row in rows] == EXPECTED[first : first + len(rows)]


async def test_stream_rows_have_the_configured_shape(
    shaped_session: AsyncSession, shape: Shape
) -> None:
    profile = shape.execution_profile(shaped_session)
    stream = shaped_session.stream(QUERY, fetch_size=FETCH_SIZE, execution_profile=profile)
    rows = [row async for row in stream]
    assert len(rows) == ROWS
    _assert_shaped(shape, rows)


async def test_stream_pages_have_the_configured_shape(
    shaped_session: AsyncSession, shape: Shape
) -> None:
    profile = shape.execution_profile(shaped_session)
    stream = shaped_session.stream(QUERY, fetch_size=FETCH_SIZE, execution_profile=profile)
    pages = [page async for page in stream.pages()]
    assert [len(page) for page in pages] == _page_sizes()
    _assert_shaped(shape, [row for page in pages for row in page])


async def test_walking_a_result_set_yields_the_configured_shape(
    shaped_session: AsyncSession, shape: Shape
) -> None:
    profile = shape.execution_profile(shaped_session)
    rs = await shaped_session.execute(QUERY, fetch_size=FETCH_SIZE, execution_profile=profile)
    rows = [row async for row in rs]
    assert len(rows) == ROWS
    _assert_shaped(shape, rows)


async def test_current_rows_of_later_pages_have_the_configured_shape(
    shaped_session: AsyncSession, shape: Shape
) -> None:
    profile = shape.execution_profile(shaped_session)
    rs = await shaped_session.execute(QUERY, fetch_size=FETCH_SIZE, execution_profile=profile)
    _assert_shaped(shape, rs.current_rows)
    second = await rs.fetch_next_page()
    assert rs.current_rows is second
    assert len(second) == FETCH_SIZE
    assert shape.as_tuple(rs.one()) == EXPECTED[FETCH_SIZE]
    _assert_shaped(shape, second, first=FETCH_SIZE)


async def test_all_collects_every_row_in_the_configured_shape(
    shaped_session: AsyncSession, shape: Shape
) -> None:
    profile = shape.execution_profile(shaped_session)
    rs = await shaped_session.execute(QUERY, fetch_size=FETCH_SIZE, execution_profile=profile)
    rows = await rs.all()
    assert len(rows) == ROWS
    _assert_shaped(shape, rows)


async def test_a_user_row_factory_still_receives_whole_pages(
    filled_config: CassandraConfig,
) -> None:
    def page_sizes(names: list[str], rows: list[Any]) -> list[Any]:
        return [len(rows)]

    async with connect(filled_config.replace(row_factory=page_sizes)) as session:
        streamed = [size async for size in session.stream(QUERY, fetch_size=FETCH_SIZE)]
        rs = await session.execute(QUERY, fetch_size=FETCH_SIZE)
        walked = [size async for size in rs]
    assert streamed == walked == _page_sizes()


async def test_streaming_leaves_the_registered_profiles_unchanged(
    filled_config: CassandraConfig,
) -> None:
    async with connect(filled_config) as session:
        async for _ in session.stream(QUERY, fetch_size=FETCH_SIZE):
            pass
        profiles = session.cluster.profile_manager.profiles
        assert profiles[EXEC_PROFILE_DEFAULT].row_factory is named_tuple_rows
        assert profiles["named_tuple"].row_factory is named_tuple_rows


# -- garbage the cyclic collector has to track ---------------------------------------------------
def _alive(row_class: type) -> int:
    """Objects of ``row_class`` still alive after a full collection."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is row_class)


async def test_a_stream_holds_at_most_one_chunk_of_named_tuples(
    filled_config: CassandraConfig,
) -> None:
    # Buffered pages stay plain tuples, which the collector stops tracking; only the chunk
    # being read is made of named tuples, which it never stops tracking.
    async with connect(filled_config) as session:
        stream = session.stream(QUERY, fetch_size=LONG_PAGE, prefetch=1)
        async with stream:
            first = await stream.__anext__()
            assert _is_named_tuple(first)
            # Every page is fetched by now: the first one being read and one read ahead.
            assert await eventually(lambda: session.in_flight == 0)
            assert _alive(type(first)) <= ROWS_PER_CHUNK


async def test_walking_a_result_set_holds_at_most_one_chunk_of_later_named_tuples(
    filled_config: CassandraConfig,
) -> None:
    async with connect(filled_config) as session:
        rs = await session.execute(QUERY, fetch_size=LONG_PAGE)
        async for row in rs:
            if row.c == LONG_PAGE:  # the first row of the second page
                assert _alive(type(row)) <= ROWS_PER_CHUNK
                break
        else:
            pytest.fail("the walk never reached the second page")

"""execute(): rows, parameters, prepared statements, row shapes, errors, timeouts, metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from cassandra import InvalidRequest, OperationTimedOut, WriteTimeout
from cassandra.cluster import NoHostAvailable
from cassandra.query import SimpleStatement

from cassandra_asgi import AsyncSession, CassandraConfig, connect

from .conftest import server_config
from .helpers import create_rows_table, eventually


async def test_select_returns_the_inserted_row(cassandra_session: AsyncSession) -> None:
    await create_rows_table(cassandra_session)
    await cassandra_session.execute("INSERT INTO rows (p, c, v) VALUES (1, 2, 'two')")
    rs = await cassandra_session.execute("SELECT p, c, v FROM rows WHERE p = 1")
    assert rs.column_names == ["p", "c", "v"]
    row = rs.one()
    assert (row.p, row.c, row.v) == (1, 2, "two")
    assert not rs.has_more_pages


async def test_positional_parameters_are_bound(cassandra_session: AsyncSession) -> None:
    await create_rows_table(cassandra_session)
    await cassandra_session.execute("INSERT INTO rows (p, c, v) VALUES (%s, %s, %s)", (1, 1, "a"))
    rs = await cassandra_session.execute("SELECT v FROM rows WHERE p = %s AND c = %s", (1, 1))
    assert [row.v for row in rs.current_rows] == ["a"]


async def test_prepared_statement_executes_with_parameters(cassandra_session: AsyncSession) -> None:
    await create_rows_table(cassandra_session)
    insert = await cassandra_session.prepare("INSERT INTO rows (p, c, v) VALUES (?, ?, ?)")
    await cassandra_session.execute(insert, (3, 4, "bound"))
    select = await cassandra_session.prepare("SELECT v FROM rows WHERE p = ?")
    rs = await cassandra_session.execute(select.bind((3,)))
    assert rs.one().v == "bound"


async def test_driver_statement_objects_are_accepted(cassandra_session: AsyncSession) -> None:
    statement = SimpleStatement("SELECT release_version FROM system.local")
    rs = await cassandra_session.execute(statement, fetch_size=10)
    assert rs.one() is not None
    assert statement.fetch_size != 10  # the caller's statement is not modified


async def test_schema_change_completes_and_returns_no_rows(cassandra_session: AsyncSession) -> None:
    # DDL results are completed by the driver on an executor thread after schema agreement.
    rs = await cassandra_session.execute("CREATE TABLE ddl_probe (k int PRIMARY KEY)")
    assert rs.current_rows == []
    assert rs.one() is None


async def test_invalid_query_raises_the_driver_exception_unchanged(
    cassandra_session: AsyncSession,
) -> None:
    with pytest.raises(InvalidRequest, match="no_such_table"):
        await cassandra_session.execute("SELECT * FROM no_such_table")


async def test_result_set_refuses_plain_iteration(cassandra_session: AsyncSession) -> None:
    rs = await cassandra_session.execute("SELECT release_version FROM system.local")
    with pytest.raises(TypeError, match="async for"):
        iter(rs)


async def test_dict_rows_when_configured(cassandra_config: CassandraConfig, keyspace: str) -> None:
    async with connect(cassandra_config.replace(keyspace=keyspace, row_factory="dict")) as s:
        await create_rows_table(s)
        await s.execute("INSERT INTO rows (p, c, v) VALUES (1, 1, 'd')")
        rs = await s.execute("SELECT c, v FROM rows WHERE p = 1")
        assert rs.current_rows == [{"c": 1, "v": "d"}]


async def test_tuple_rows_per_call_through_the_execution_profile(
    cassandra_session: AsyncSession,
) -> None:
    await create_rows_table(cassandra_session)
    await cassandra_session.execute("INSERT INTO rows (p, c, v) VALUES (1, 1, 't')")
    rs = await cassandra_session.execute(
        "SELECT c, v FROM rows WHERE p = 1", execution_profile="tuple"
    )
    assert rs.current_rows == [(1, "t")]
    assert type(rs.current_rows[0]) is tuple


async def test_conditional_insert_reports_was_applied(cassandra_session: AsyncSession) -> None:
    await create_rows_table(cassandra_session)
    insert = "INSERT INTO rows (p, c, v) VALUES (5, 5, 'first') IF NOT EXISTS"
    assert (await cassandra_session.execute(insert)).was_applied is True
    assert (await cassandra_session.execute(insert)).was_applied is False


async def test_was_applied_on_a_plain_select_is_a_clear_error(
    cassandra_session: AsyncSession,
) -> None:
    rs = await cassandra_session.execute("SELECT release_version FROM system.local")
    with pytest.raises(RuntimeError, match=r"\[applied\]"):
        _ = rs.was_applied


async def test_ping_measures_a_round_trip(cassandra_session: AsyncSession) -> None:
    seconds = await cassandra_session.ping()
    assert 0 < seconds < 10


async def test_metrics_count_requests_and_errors_by_type(cassandra_session: AsyncSession) -> None:
    before = cassandra_session.metrics
    await cassandra_session.ping()
    with pytest.raises(InvalidRequest):
        await cassandra_session.execute("SELECT * FROM no_such_table")
    after = cassandra_session.metrics
    assert after.requests == before.requests + 2
    assert after.errors_by_type.get("InvalidRequest", 0) == (
        before.errors_by_type.get("InvalidRequest", 0) + 1
    )
    assert after.latency_p50 is not None
    assert after.latency_p50 > 0
    assert after.in_flight == 0


async def test_execute_concurrent_returns_results_in_input_order(
    cassandra_session: AsyncSession,
) -> None:
    await create_rows_table(cassandra_session)
    insert = await cassandra_session.prepare("INSERT INTO rows (p, c, v) VALUES (7, ?, ?)")
    await cassandra_session.execute_concurrent(
        [(insert, (c, str(c))) for c in range(50)], concurrency=8
    )
    select = await cassandra_session.prepare("SELECT v FROM rows WHERE p = 7 AND c = ?")
    results = await cassandra_session.execute_concurrent(
        [(select, (c,)) for c in range(50)], concurrency=8
    )
    assert [rs.one().v for rs in results] == [str(c) for c in range(50)]


async def test_execute_concurrent_raises_the_first_error(cassandra_session: AsyncSession) -> None:
    with pytest.raises(InvalidRequest):
        await cassandra_session.execute_concurrent(
            [("SELECT release_version FROM system.local", None), ("SELECT * FROM nope", None)]
        )


async def test_execute_concurrent_can_return_errors_in_place(
    cassandra_session: AsyncSession,
) -> None:
    results = await cassandra_session.execute_concurrent(
        ["SELECT release_version FROM system.local", "SELECT * FROM nope"],
        raise_on_first_error=False,
    )
    assert results[0].one() is not None
    assert isinstance(results[1], InvalidRequest)


@pytest.mark.memory_only
async def test_server_error_raises_the_matching_driver_exception(
    server_session: AsyncSession, cql_server: Any
) -> None:
    await create_rows_table(server_session)
    cql_server.fail("write_timeout", pattern="INSERT INTO rows")
    with pytest.raises(WriteTimeout):  # the default retry policy rethrows it unchanged
        await server_session.execute("INSERT INTO rows (p, c, v) VALUES (1, 1, 'x')")


@pytest.mark.memory_only
async def test_slow_server_raises_operation_timed_out_after_the_timeout(
    server_session: AsyncSession, cql_server: Any
) -> None:
    cql_server.add_latency(1.0, pattern="system.local")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(OperationTimedOut):
        await server_session.execute("SELECT release_version FROM system.local", timeout=0.2)
    assert loop.time() - started < 0.9
    assert await eventually(lambda: server_session.in_flight == 0, within=5)


@pytest.mark.memory_only
async def test_unreachable_cluster_error_is_delivered_from_the_calling_thread(
    cql_server: Any,
) -> None:
    # With every host down the driver fails inside send_request, in the caller's thread, and
    # the callback is added to an already finished future.
    async with connect(server_config(cql_server)) as session:
        cql_server.go_down()
        for _ in range(200):
            host = next(iter(session.cluster.metadata.all_hosts()))
            if not host.is_up:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(Exception) as caught:
            await session.execute("SELECT release_version FROM system.local", timeout=2)
        # (a LocalDCDownError, once the session has seen the one node go down)
        assert isinstance(caught.value, NoHostAvailable | OperationTimedOut)
        assert session.in_flight == 0


@pytest.mark.memory_only
async def test_bound_values_never_reach_the_librarys_logs(
    server_session: AsyncSession, cql_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cassandra_asgi")
    await create_rows_table(server_session)
    insert = await server_session.prepare("INSERT INTO rows (p, c, v) VALUES (?, ?, ?)")
    await server_session.execute(insert, (1, 1, "secret-value-1"))
    cql_server.fail("write_timeout", pattern="INSERT INTO rows")
    with pytest.raises(WriteTimeout):
        await server_session.execute(insert, (1, 2, "secret-value-2"))
    await server_session.close()
    ours = [r for r in caplog.records if r.name.startswith("cassandra_asgi")]
    assert ours  # connect and close were logged...
    assert not any("secret-value" in r.getMessage() for r in ours)  # ...without the values

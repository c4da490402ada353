"""Safe retries by default, and bind errors that name the column."""

from __future__ import annotations

import pytest
from cassandra import ConsistencyLevel
from cassandra.connection import ConnectionShutdown
from cassandra.policies import RetryPolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import UNSET_VALUE, SimpleStatement

from cassandra_asgi import AsyncSession
from cassandra_asgi.policies import IdempotenceAwareRetryPolicy

POLICY = IdempotenceAwareRetryPolicy()
ONE = ConsistencyLevel.LOCAL_ONE


def decision(statement: SimpleStatement, error: Exception) -> int:
    result: int = POLICY.on_request_error(statement, ONE, error=error, retry_num=0)[0]
    return result


def test_a_non_idempotent_statement_is_not_retried_after_a_lost_connection() -> None:
    write = SimpleStatement("UPDATE c SET n = n + 1 WHERE k = 1")
    assert decision(write, ConnectionShutdown("gone")) == RetryPolicy.RETHROW


def test_an_idempotent_statement_is_retried_on_the_next_host() -> None:
    read = SimpleStatement("SELECT v FROM t WHERE k = 1", is_idempotent=True)
    overloaded = OverloadedErrorMessage(0x1001, "busy", None)
    assert decision(read, overloaded) == RetryPolicy.RETRY_NEXT_HOST


def test_a_bootstrapping_node_never_executed_so_any_statement_moves_on() -> None:
    write = SimpleStatement("UPDATE c SET n = n + 1 WHERE k = 1")
    bootstrapping = IsBootstrappingErrorMessage(0x1002, "joining", None)
    assert decision(write, bootstrapping) == RetryPolicy.RETRY_NEXT_HOST


@pytest.fixture
async def kv(cassandra_session: AsyncSession) -> AsyncSession:
    await cassandra_session.execute(
        "CREATE TABLE kv (k int PRIMARY KEY, name text, tags list<text>)"
    )
    return cassandra_session


async def test_a_wrong_value_for_a_text_column_names_the_column(kv: AsyncSession) -> None:
    insert = await kv.prepare("INSERT INTO kv (k, name) VALUES (?, ?)")
    with pytest.raises(TypeError, match=r'column "name".*Expected: varchar.*Got: int'):
        await kv.execute(insert, (1, 2))
    assert kv.in_flight == 0


async def test_a_wrong_named_value_names_the_column(kv: AsyncSession) -> None:
    insert = await kv.prepare("INSERT INTO kv (k, tags) VALUES (:k, :tags)")
    with pytest.raises(TypeError, match=r'column "tags"'):
        await kv.execute(insert, {"k": 1, "tags": [1, 2]})


async def test_right_values_still_bind_and_round_trip(kv: AsyncSession) -> None:
    insert = await kv.prepare("INSERT INTO kv (k, name, tags) VALUES (?, ?, ?)")
    await kv.execute(insert, (1, "one", ["a"]))
    row = (await kv.execute("SELECT name, tags FROM kv WHERE k = 1")).one()
    assert (row.name, row.tags) == ("one", ["a"])


async def test_an_unset_value_is_skipped_when_naming_the_failing_column(kv: AsyncSession) -> None:
    await kv.execute("CREATE TABLE ab (k int PRIMARY KEY, a int, b text)")
    insert = await kv.prepare("INSERT INTO ab (k, a, b) VALUES (1, ?, ?)")
    with pytest.raises(TypeError, match=r'column "b".*Expected: (text|varchar).*Got: int'):
        await kv.execute(insert, (UNSET_VALUE, 5))

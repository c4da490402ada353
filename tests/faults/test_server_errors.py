"""Injected server errors surface as the driver's own exceptions, carrying the server's message,
and a statement that is not idempotent is sent to the server exactly once.

Which exception each error becomes is decided by the driver's default retry policy, which the
library keeps: ReadTimeout and WriteTimeout are rethrown as they are; Unavailable and Overloaded
(and IsBootstrapping, ServerError) are tried once on the next host, and with no other host left
the driver raises ``NoHostAvailable`` whose ``errors`` map holds the server's error for that host.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from cassandra import ConsistencyLevel, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT, NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.policies import FallthroughRetryPolicy, RetryPolicy
from cassandra.protocol import (
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    ServerError,
)
from cassandra.query import SimpleStatement

from cassandra_asgi import AsyncSession, connect
from cassandra_asgi.connect import ROW_PROFILES
from cassandra_asgi.testing import CQLServer

from .conftest import PING, server_config

INSERT = "INSERT INTO events (id, body) VALUES (?, ?)"
SELECT = "SELECT body FROM events WHERE id = ?"


@pytest.fixture
async def events(fault_session: AsyncSession) -> AsyncSession:
    await fault_session.execute("CREATE TABLE events (id int PRIMARY KEY, body text)")
    return fault_session


def server_error_of(exc: BaseException) -> Any:
    """The server's error inside a ``NoHostAvailable`` (one host tried)."""
    assert isinstance(exc, NoHostAvailable), repr(exc)
    (error,) = exc.errors.values()
    return error


@pytest.mark.memory_only
@pytest.mark.parametrize(
    ("fault", "statement", "raised"),
    [
        ("read_timeout", SELECT, ReadTimeout),
        ("write_timeout", INSERT, WriteTimeout),
    ],
)
async def test_timeouts_reported_by_the_server_raise_the_driver_exception_with_its_message(
    cql_server: CQLServer,
    events: AsyncSession,
    fault: str,
    statement: str,
    raised: type[Exception],
) -> None:
    prepared = await events.prepare(statement)
    message = f"replica did not answer ({fault} injected)"
    cql_server.fail(fault, pattern="events", message=message)
    values = (1,) if statement == SELECT else (1, "x")
    with pytest.raises(raised, match=message.replace("(", r"\(").replace(")", r"\)")):
        await events.execute(prepared, values)
    assert events.in_flight == 0


@pytest.mark.memory_only
@pytest.mark.parametrize(
    ("fault", "server_error"),
    [
        ("unavailable", Unavailable),
        ("is_bootstrapping", IsBootstrappingErrorMessage),
    ],
)
async def test_errors_safe_to_retry_elsewhere_end_as_no_host_available_holding_them(
    cql_server: CQLServer, events: AsyncSession, fault: str, server_error: type[Exception]
) -> None:
    # The node refused before executing: trying another host is safe even for this
    # non-idempotent prepared statement. One node means nobody else: NoHostAvailable.
    select = await events.prepare(SELECT)
    message = f"the coordinator says no ({fault})"
    cql_server.fail(fault, pattern="FROM events", message=message)
    with pytest.raises(NoHostAvailable) as raised:
        await events.execute(select, (1,))
    error = server_error_of(raised.value)
    assert isinstance(error, server_error)
    assert message in str(error)
    assert message in str(raised.value)


@pytest.mark.memory_only
@pytest.mark.parametrize(
    ("fault", "server_error"),
    [("overloaded", OverloadedErrorMessage), ("server_error", ServerError)],
)
async def test_errors_after_which_a_write_may_have_applied_surface_unretried_with_the_message(
    cql_server: CQLServer, events: AsyncSession, fault: str, server_error: type[Exception]
) -> None:
    select = await events.prepare(SELECT)
    message = f"the coordinator says no ({fault})"
    cql_server.fail(fault, pattern="FROM events", message=message)
    with pytest.raises(server_error, match=re.escape(message)):
        await events.execute(select, (1,))


@pytest.mark.memory_only
@pytest.mark.parametrize("fault", ["overloaded", "server_error"])
async def test_an_idempotent_statement_is_retried_elsewhere_after_those_errors(
    cql_server: CQLServer, events: AsyncSession, fault: str
) -> None:
    select = await events.prepare(SELECT)
    select.is_idempotent = True
    cql_server.fail(fault, pattern="FROM events")
    with pytest.raises(NoHostAvailable):  # one node: the retry finds no other host
        await events.execute(select, (1,))


@pytest.mark.memory_only
async def test_unavailable_is_the_driver_unavailable_exception_when_not_retried(
    cql_server: CQLServer, events: AsyncSession
) -> None:
    # With retries off (as an application may choose), the driver's own exception type shows.
    statement = SimpleStatement("SELECT body FROM events WHERE id = 1")
    statement.retry_policy = _Rethrow()
    cql_server.fail("unavailable", pattern="FROM events", message="only 0 replicas alive")
    with pytest.raises(Unavailable, match="only 0 replicas alive"):
        await events.execute(statement)


class _Rethrow(RetryPolicy):  # type: ignore[misc]  # the driver ships no type hints
    """Never retry: the first error is the final one."""

    def on_unavailable(self, *args: Any, **kwargs: Any) -> tuple[int, None]:
        return self.RETHROW, None


@pytest.mark.memory_only
@pytest.mark.parametrize("fault", ["write_timeout", "overloaded", "server_error"])
async def test_a_failed_non_idempotent_write_is_sent_exactly_once(
    cql_server: CQLServer, events: AsyncSession, fault: str
) -> None:
    insert = await events.prepare(INSERT)
    assert not insert.is_idempotent  # the driver's default for prepared statements
    cql_server.fail(fault, pattern="INSERT INTO events")
    cql_server.reset_counters()
    with pytest.raises((WriteTimeout, OverloadedErrorMessage, ServerError)):
        await events.execute(insert, (7, "once"))
    sent = cql_server.requests
    assert sent.get("EXECUTE", 0) == 1
    assert sent.get("QUERY", 0) == 0
    assert sent.get("BATCH", 0) == 0


@pytest.mark.memory_only
async def test_a_failed_non_idempotent_batch_is_sent_exactly_once(
    cql_server: CQLServer, events: AsyncSession
) -> None:
    cql_server.fail("write_timeout", pattern="INSERT INTO events")
    cql_server.reset_counters()
    with pytest.raises(WriteTimeout):
        await events.execute(
            "BEGIN BATCH INSERT INTO events (id, body) VALUES (1, 'a'); "
            "INSERT INTO events (id, body) VALUES (2, 'b'); APPLY BATCH"
        )
    assert cql_server.requests.get("QUERY", 0) == 1


@pytest.mark.parametrize(
    "error",
    [
        OverloadedErrorMessage(0x1001, "overloaded", None),
        ServerError(0x0000, "server error", None),
        ConnectionShutdown("connection closed while the write was in flight"),
    ],
    ids=["overloaded", "server_error", "connection_lost"],
)
async def test_no_execution_profile_retries_a_non_idempotent_statement_on_another_host(
    cassandra_session: AsyncSession, error: Exception
) -> None:
    # One in-memory node cannot show a retry on *another* node (the plan has nobody else), so
    # this asks each retry policy the session really uses what it would do with a second node.
    write = SimpleStatement("INSERT INTO t (k) VALUES (1)", is_idempotent=False)
    profiles = cassandra_session.cluster.profile_manager.profiles
    ours = [EXEC_PROFILE_DEFAULT, *ROW_PROFILES]
    decisions = {
        name: profiles[name].retry_policy.on_request_error(
            write, ConsistencyLevel.LOCAL_ONE, error=error, retry_num=0
        )[0]
        for name in ours
    }
    assert decisions == dict.fromkeys(ours, RetryPolicy.RETHROW)


async def test_an_idempotent_statement_may_still_be_retried_on_another_host(
    cassandra_session: AsyncSession,
) -> None:
    read = SimpleStatement("SELECT k FROM t WHERE k = 1", is_idempotent=True)
    policy = cassandra_session.cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT].retry_policy
    overloaded = OverloadedErrorMessage(0x1001, "overloaded", None)
    decision, _ = policy.on_request_error(
        read, ConsistencyLevel.LOCAL_ONE, error=overloaded, retry_num=0
    )
    assert decision == RetryPolicy.RETRY_NEXT_HOST


@pytest.mark.memory_only
async def test_a_retry_policy_given_in_the_config_governs_every_profile(
    cql_server: CQLServer,
) -> None:
    # The workaround for the gap above: CassandraConfig(default_retry_policy=...).
    policy = FallthroughRetryPolicy()
    config = server_config(cql_server, default_retry_policy=policy)
    async with connect(config) as session:
        profiles = session.cluster.profile_manager.profiles
        ours = [EXEC_PROFILE_DEFAULT, *ROW_PROFILES]  # the driver adds graph profiles too
        assert [profiles[name].retry_policy for name in ours] == [policy] * len(ours)
        cql_server.fail("overloaded", pattern="system.local", message="shed this one")
        cql_server.reset_counters()
        with pytest.raises(OverloadedErrorMessage, match="shed this one"):
            await session.execute(PING)
        assert cql_server.requests.get("QUERY", 0) == 1

"""Bad input gets a clear error naming the problem, and leaves the session as it was.

Covers what an application can get wrong at each layer: CQL text, bind values, the query
argument itself, settings from the environment as the adapters read them at startup, the
middleware's ``state_key``, and a session used after close or in a forked child.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from asgiref.testing import ApplicationCommunicator
from cassandra import InvalidRequest
from cassandra.protocol import SyntaxException

from cassandra_asgi import (
    AsyncSession,
    CassandraConfig,
    ConfigError,
    ConnectError,
    ForkedSessionError,
    SessionClosedError,
    connect,
)
from cassandra_asgi.adapters import aiohttp as aiohttp_adapter
from cassandra_asgi.adapters.asgi import CassandraMiddleware, SessionNotFoundError, get_session

from .conftest import MARGIN, PING

INSERT = "INSERT INTO items (id, name) VALUES (?, ?)"


@pytest.fixture
async def items(cassandra_session: AsyncSession) -> AsyncSession:
    await cassandra_session.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    return cassandra_session


# -- CQL and bind values -----------------------------------------------------------------------
async def test_invalid_cql_raises_syntax_exception_quoting_the_bad_token(
    items: AsyncSession,
) -> None:
    with pytest.raises(SyntaxException, match="SELEC"):
        await items.execute("SELEC id FROM items")
    with pytest.raises(SyntaxException, match="SELEC"):
        await items.prepare("SELEC id FROM items")
    assert items.in_flight == 0


async def test_unknown_table_and_column_are_named_by_the_server(items: AsyncSession) -> None:
    with pytest.raises(InvalidRequest, match="no_such_table"):
        await items.execute("SELECT id FROM no_such_table")
    with pytest.raises(InvalidRequest, match="no_such_column"):
        await items.execute("SELECT no_such_column FROM items")


async def test_too_many_bind_values_name_both_counts(items: AsyncSession) -> None:
    insert = await items.prepare(INSERT)
    with pytest.raises(ValueError, match=r"got 3, expected 2"):
        await items.execute(insert, (1, "a", "extra"))
    assert items.in_flight == 0  # the slot taken for the request was given back


async def test_a_missing_key_value_is_refused_naming_the_column(items: AsyncSession) -> None:
    # Protocol v4 sends missing trailing values as "unset"; for a key column that is an error,
    # caught by the driver before sending (it needs the key to route the request).
    insert = await items.prepare("INSERT INTO items (name, id) VALUES (?, ?)")
    with pytest.raises(ValueError, match="routing key 'id'"):
        await items.execute(insert, ("only a name",))


async def test_too_few_values_for_a_plain_statement_is_a_type_error(items: AsyncSession) -> None:
    with pytest.raises(TypeError, match="not enough arguments"):
        await items.execute("INSERT INTO items (id, name) VALUES (%s, %s)", (1,))


async def test_a_value_of_the_wrong_type_names_the_column(items: AsyncSession) -> None:
    insert = await items.prepare(INSERT)
    with pytest.raises(TypeError, match=r'column "id".*Int32Type'):
        await items.execute(insert, ("not a number", "a"))
    assert items.in_flight == 0


async def test_a_number_for_a_text_column_names_the_column(items: AsyncSession) -> None:
    insert = await items.prepare(INSERT)
    with pytest.raises(TypeError, match=r'column "name"'):
        await items.execute(insert, (1, 2))


async def test_a_query_that_is_not_cql_or_a_statement_is_a_type_error_naming_it(
    items: AsyncSession,
) -> None:
    bad: Any = 42
    with pytest.raises(TypeError, match="query"):
        await items.execute(bad)


async def test_the_session_still_serves_after_every_kind_of_bad_input(items: AsyncSession) -> None:
    insert = await items.prepare(INSERT)
    bad_calls: list[tuple[Any, Any]] = [
        ("SELEC x", None),
        ("SELECT x FROM nowhere", None),
        (insert, (1, "a", "b")),
        (insert, ("x", "a")),
        (insert, (1, 2)),
        ("INSERT INTO items (id, name) VALUES (%s, %s)", (1,)),
    ]
    for query, parameters in bad_calls:
        with pytest.raises(Exception):  # noqa: B017 - each kind is checked above
            await items.execute(query, parameters)
    assert items.in_flight == 0
    await items.execute(insert, (1, "fine"))
    row = (await items.execute("SELECT name FROM items WHERE id = 1")).one()
    assert row.name == "fine"


async def test_connect_refuses_something_that_is_not_a_config() -> None:
    bad: Any = {"contact_points": ["127.0.0.1"]}
    with pytest.raises(TypeError, match="CassandraConfig"):
        await connect(bad)


async def test_an_unknown_driver_option_fails_connect_naming_the_option() -> None:
    config = CassandraConfig(contact_points=["127.0.0.1:1"], definitely_not_an_option=1)
    with pytest.raises(ConnectError, match="definitely_not_an_option"):
        await connect(config)


# -- settings given in code ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"max_in_flight": 40_000}, "max_in_flight"),  # beyond the stream ids of a connection
        ({"request_timeout": 0}, "request_timeout"),
        ({"connect_timeout": -1.0}, "connect_timeout"),
        ({"protocol_version": 2}, "protocol_version"),
        ({"contact_points": ["db1:70000"]}, "contact_points"),
        ({"contact_points": []}, "contact_points"),
        ({"fetch_size": 0}, "fetch_size"),
        ({"username": "only_a_user"}, "password"),
        ({"auth_provider": object()}, "auth_provider"),
    ],
)
def test_a_bad_setting_is_refused_when_the_config_is_built_naming_it(
    settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        CassandraConfig(**settings)


def test_the_middleware_refuses_something_that_is_not_a_config() -> None:
    bad: Any = {"contact_points": ["db1"]}
    with pytest.raises(ConfigError, match="CassandraConfig"):
        CassandraMiddleware(_never_called, bad)


def test_aiohttp_setup_refuses_a_string_app_key() -> None:
    bad: Any = "cassandra"
    with pytest.raises(TypeError, match=r"app_key.*web\.AppKey"):
        aiohttp_adapter.setup(web.Application(), CassandraConfig(), app_key=bad)


# -- settings read from the environment at startup ---------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CASSANDRA_PORT", "ninety"),
        ("CASSANDRA_MAX_IN_FLIGHT", "0"),
        ("CASSANDRA_REQUEST_TIMEOUT", "soon"),
        ("CASSANDRA_CONTACT_POINTS", "db1:99999"),
        ("CASSANDRA_PROTOCOL_VERSION", "9"),
    ],
)
async def test_asgi_startup_with_a_bad_environment_variable_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    app = CassandraMiddleware(_never_called)  # config=None: read from the environment
    server = ApplicationCommunicator(  # type: ignore[no-untyped-call]
        app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    )
    await server.send_input({"type": "lifespan.startup"})  # type: ignore[no-untyped-call]
    message = await server.receive_output(MARGIN)  # type: ignore[no-untyped-call]
    assert message["type"] == "lifespan.startup.failed"
    assert variable in message["message"]
    assert value.rpartition(":")[2] in message["message"]
    with pytest.raises(ConfigError, match=variable):
        await server.wait(MARGIN)  # type: ignore[no-untyped-call]


async def test_aiohttp_startup_with_a_bad_environment_variable_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASSANDRA_CONNECT_TIMEOUT", "-3")
    app = web.Application()
    aiohttp_adapter.setup(app)  # config=None: read from the environment at startup
    server = TestServer(app)
    try:
        with pytest.raises(ConfigError, match="CASSANDRA_CONNECT_TIMEOUT"):
            await server.start_server()
    finally:
        await server.close()


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the wrapped application must not run")


# -- the ASGI middleware's state_key -----------------------------------------------------------
@pytest.mark.parametrize("state_key", ["", 42, None])
def test_an_invalid_state_key_is_refused_naming_the_setting(state_key: Any) -> None:
    with pytest.raises(ConfigError, match="state_key"):
        CassandraMiddleware(_never_called, CassandraConfig(), state_key=state_key)


def test_asking_for_a_state_key_nobody_set_names_the_key_and_the_fix() -> None:
    scope = {"type": "http", "state": {"cassandra": object()}}
    with pytest.raises(SessionNotFoundError, match=r"'analytics'.*CassandraMiddleware"):
        get_session(scope, state_key="analytics")


# -- a session used when it can no longer serve ------------------------------------------------
async def test_every_call_after_close_names_the_closed_session(
    cassandra_config: CassandraConfig,
) -> None:
    session = await connect(cassandra_config)
    prepared = await session.prepare(PING)
    await session.close()
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "execute": lambda: session.execute(PING),
        "execute prepared": lambda: session.execute(prepared),
        "prepare": lambda: session.prepare("SELECT cluster_name FROM system.local"),
        "ping": session.ping,
        "execute_concurrent": lambda: session.execute_concurrent([PING]),
    }
    for call in calls.values():
        with pytest.raises(SessionClosedError, match="closed"):
            await call()
    with pytest.raises(SessionClosedError, match="closed"):
        async for _ in session.stream(PING):
            pass


def _outcome_in_a_forked_child(session: AsyncSession, kind: str) -> str:
    """Fork; in the child try ``kind`` on the parent's session and report the error raised."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:
        try:
            outcome = "no error"
            try:

                async def attempt() -> None:
                    if kind == "stream":
                        async for _ in session.stream(PING):
                            pass
                    elif kind == "prepare":
                        await session.prepare(PING)
                    else:
                        await session.execute(PING)

                asyncio.run(attempt())
            except BaseException as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            os.write(write_end, outcome.encode()[:4000])
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.mark.parametrize("kind", ["execute", "prepare", "stream"])
async def test_a_session_used_after_fork_says_to_connect_in_the_child(
    cassandra_session: AsyncSession, kind: str
) -> None:
    report = await asyncio.to_thread(_outcome_in_a_forked_child, cassandra_session, kind)
    assert report.startswith(ForkedSessionError.__name__), report
    assert "fork" in report
    assert "connect() again" in report
    assert (await cassandra_session.execute(PING)).one() is not None

"""CassandraMiddleware speaks the ASGI lifespan protocol correctly, driven message by message.

`asgiref.testing.ApplicationCommunicator` plays the server, so each test sees exactly which
messages the middleware sends and when the wrapped app sees the session.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgiref.testing import ApplicationCommunicator
from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cassandra_asgi import AsyncSession, CassandraConfig, ConfigError, ConnectError
from cassandra_asgi.adapters.asgi import CassandraMiddleware
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

TIMEOUT = 30.0  # generous bound for connecting on a busy machine; never a speed assertion
RELEASE_QUERY = "SELECT release_version FROM system.local"
#: Longest loop stall tolerated while connecting and closing: under two of the stall test's
#: 0.2 s round trips. Typical stalls are ~10 ms; a connect blocking the loop makes five or more
#: round trips in a row (measured: 0.34 s at 0.1 s each). tests/core/test_loop_lag.py holds
#: every step to 20 ms; this one asks whether the adapter connects and closes off the loop.
MAX_STALL = 0.4


class LifespanApp:
    """A raw ASGI app with its own lifespan that records what it saw and when."""

    def __init__(self, state_key: str = "cassandra") -> None:
        self.state_key = state_key
        self.startup_session: AsyncSession | None = None
        self.startup_rows: list[Any] = []
        self.open_during_shutdown: bool | None = None

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = scope["state"][self.state_key]
                self.startup_session = session
                self.startup_rows = (await session.execute(RELEASE_QUERY)).current_rows
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                assert self.startup_session is not None
                self.open_during_shutdown = not self.startup_session.closed
                await send({"type": "lifespan.shutdown.complete"})
                return


class Communicator:
    """Typed front for ApplicationCommunicator, acting as a lifespan-capable server."""

    def __init__(self, app: Any, scope: dict[str, Any]) -> None:
        self.scope = scope
        self._inner = ApplicationCommunicator(app, scope)  # type: ignore[no-untyped-call]

    async def send(self, message: dict[str, Any]) -> None:
        await self._inner.send_input(message)  # type: ignore[no-untyped-call]

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = await self._inner.receive_output(TIMEOUT)  # type: ignore[no-untyped-call]
        return message

    async def wait(self) -> None:
        await self._inner.wait(TIMEOUT)  # type: ignore[no-untyped-call]

    async def startup(self) -> dict[str, Any]:
        await self.send({"type": "lifespan.startup"})
        return await self.receive()

    async def shutdown(self) -> dict[str, Any]:
        await self.send({"type": "lifespan.shutdown"})
        return await self.receive()


def lifespan_scope(state: dict[str, Any] | None) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    if state is not None:
        scope["state"] = state
    return scope


def http_scope(state: dict[str, Any] | None = None) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": None,
        "server": None,
        "extensions": {},
    }
    if state is not None:
        scope["state"] = dict(state)  # servers hand each request a shallow copy
    return scope


async def ignore_lifespan(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """An http-only app: it returns at once on lifespan, as many small apps do."""


async def reject_lifespan(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """An http-only app that asserts its scope type, the other common way to refuse lifespan."""
    assert scope["type"] == "http", "lifespan not supported"


@pytest.fixture
def unreachable_config() -> CassandraConfig:
    """A config pointing at a port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return CassandraConfig(contact_points=(f"127.0.0.1:{port}",), connect_timeout=2.0)


@pytest.fixture
async def started(
    cassandra_config: CassandraConfig,
) -> AsyncIterator[tuple[Communicator, LifespanApp]]:
    app = LifespanApp()
    server = Communicator(CassandraMiddleware(app, cassandra_config), lifespan_scope({}))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    yield server, app
    if app.open_during_shutdown is None:
        await server.shutdown()
    await server.wait()


async def test_the_app_lifespan_sees_a_connected_session_at_startup(
    started: tuple[Communicator, LifespanApp],
) -> None:
    _, app = started
    assert isinstance(app.startup_session, AsyncSession)
    assert len(app.startup_rows) == 1


async def test_the_session_stays_open_until_the_app_completes_shutdown(
    started: tuple[Communicator, LifespanApp],
) -> None:
    server, app = started
    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert app.open_during_shutdown is True
    assert app.startup_session is not None
    assert app.startup_session.closed


async def test_the_session_is_removed_from_lifespan_state_after_shutdown(
    started: tuple[Communicator, LifespanApp],
) -> None:
    server, _ = started
    assert "cassandra" in server.scope["state"]
    await server.shutdown()
    await server.wait()
    assert "cassandra" not in server.scope["state"]


@pytest.mark.parametrize("app", [ignore_lifespan, reject_lifespan], ids=["returns", "raises"])
async def test_an_app_without_lifespan_support_still_gets_a_session_per_request(
    cassandra_config: CassandraConfig, app: Any
) -> None:
    seen: list[AsyncSession] = []

    async def http_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http":
            seen.append(scope["state"]["cassandra"])
            return
        await app(scope, receive, send)

    middleware = CassandraMiddleware(http_app, cassandra_config)
    state: dict[str, Any] = {}
    server = Communicator(middleware, lifespan_scope(state))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    await Communicator(middleware, http_scope(state)).wait()
    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    await server.wait()
    assert len(seen) == 1
    assert seen[0].closed


async def test_connect_failure_sends_startup_failed_naming_the_contact_point_then_raises(
    unreachable_config: CassandraConfig,
) -> None:
    app = LifespanApp()
    server = Communicator(CassandraMiddleware(app, unreachable_config), lifespan_scope({}))
    message = await server.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert unreachable_config.contact_points[0] in message["message"]
    with pytest.raises(ConnectError):
        await server.wait()


async def test_connect_failure_never_shows_startup_to_the_app(
    unreachable_config: CassandraConfig,
) -> None:
    app = LifespanApp()
    server = Communicator(CassandraMiddleware(app, unreachable_config), lifespan_scope({}))
    await server.startup()
    with pytest.raises(ConnectError):
        await server.wait()
    assert app.startup_session is None


async def test_the_app_reporting_startup_failed_closes_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    sessions: list[AsyncSession] = []

    async def failing(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        sessions.append(scope["state"]["cassandra"])
        await send({"type": "lifespan.startup.failed", "message": "migrations failed"})

    server = Communicator(CassandraMiddleware(failing, cassandra_config), lifespan_scope({}))
    assert await server.startup() == {
        "type": "lifespan.startup.failed",
        "message": "migrations failed",
    }
    await server.wait()
    assert sessions[0].closed


async def test_the_app_raising_during_startup_is_reported_as_startup_failed(
    cassandra_config: CassandraConfig,
) -> None:
    sessions: list[AsyncSession] = []

    async def crashing(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        sessions.append(scope["state"]["cassandra"])
        raise RuntimeError("schema check exploded")

    server = Communicator(CassandraMiddleware(crashing, cassandra_config), lifespan_scope({}))
    message = await server.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "schema check exploded" in message["message"]
    with pytest.raises(RuntimeError, match="schema check exploded"):
        await server.wait()
    assert sessions[0].closed


async def test_a_failing_close_turns_shutdown_complete_into_shutdown_failed(
    started: tuple[Communicator, LifespanApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing real makes a driver shutdown fail on demand, so this one test replaces close().
    server, app = started
    session = app.startup_session
    assert session is not None
    real_close = session.close

    async def broken_close() -> None:
        raise OSError("socket already gone")

    monkeypatch.setattr(session, "close", broken_close)
    message = await server.shutdown()
    await real_close()
    assert message["type"] == "lifespan.shutdown.failed"
    assert "socket already gone" in message["message"]


async def test_a_second_middleware_with_the_same_state_key_is_refused_at_startup(
    cassandra_config: CassandraConfig,
) -> None:
    inner = CassandraMiddleware(LifespanApp(), cassandra_config)
    server = Communicator(CassandraMiddleware(inner, cassandra_config), lifespan_scope({}))
    message = await server.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "'cassandra' is already used" in message["message"]
    with pytest.raises(ConfigError, match="its own state_key"):
        await server.wait()


async def test_a_duplicate_state_key_is_refused_even_without_server_state(
    cassandra_config: CassandraConfig,
) -> None:
    inner = CassandraMiddleware(ignore_lifespan, cassandra_config)
    server = Communicator(CassandraMiddleware(inner, cassandra_config), lifespan_scope(None))
    message = await server.startup()
    assert message["type"] == "lifespan.startup.failed"
    with pytest.raises(ConfigError):
        await server.wait()


async def test_distinct_state_keys_get_distinct_sessions(cassandra_config: CassandraConfig) -> None:
    app = LifespanApp(state_key="second")
    inner = CassandraMiddleware(app, cassandra_config, state_key="second")
    state: dict[str, Any] = {}
    server = Communicator(CassandraMiddleware(inner, cassandra_config), lifespan_scope(state))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    assert isinstance(state["cassandra"], AsyncSession)
    assert state["second"] is app.startup_session
    assert state["cassandra"] is not state["second"]
    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    await server.wait()


async def test_every_startup_opens_a_fresh_session(cassandra_config: CassandraConfig) -> None:
    app = LifespanApp()
    middleware = CassandraMiddleware(app, cassandra_config)
    sessions = []
    for _ in range(2):
        server = Communicator(middleware, lifespan_scope({}))
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        sessions.append(app.startup_session)
        await server.shutdown()
        await server.wait()
    assert sessions[0] is not sessions[1]
    assert sessions[0] is not None
    assert sessions[0].closed


async def test_requests_get_the_session_when_the_server_has_no_lifespan_state(
    cassandra_config: CassandraConfig,
) -> None:
    seen: list[AsyncSession] = []

    async def http_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http":
            seen.append(scope["state"]["cassandra"])

    middleware = CassandraMiddleware(http_app, cassandra_config)
    server = Communicator(middleware, lifespan_scope(None))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    request = http_scope()
    await Communicator(middleware, request).wait()
    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    await server.wait()
    assert seen[0] is request["state"]["cassandra"]
    assert seen[0].closed


async def test_other_scope_types_pass_through_untouched(cassandra_config: CassandraConfig) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        seen.append(scope)

    scope = {"type": "custom.protocol", "asgi": {"version": "3.0"}}
    await Communicator(CassandraMiddleware(app, cassandra_config), scope).wait()
    assert seen == [{"type": "custom.protocol", "asgi": {"version": "3.0"}}]
    assert seen[0] is scope


@pytest.mark.parametrize("state_key", ["", 3, None, b"cassandra"])
def test_an_invalid_state_key_is_rejected_at_construction(state_key: Any) -> None:
    with pytest.raises(ConfigError, match="state_key: expected a non-empty string"):
        CassandraMiddleware(ignore_lifespan, state_key=state_key)


def test_a_config_that_is_not_a_cassandra_config_is_rejected_at_construction() -> None:
    with pytest.raises(ConfigError, match="config: expected a CassandraConfig"):
        CassandraMiddleware(ignore_lifespan, {"contact_points": ["127.0.0.1"]})  # type: ignore[arg-type]


def test_construction_does_no_network_io(cql_server: CQLServer) -> None:
    config = CassandraConfig(contact_points=(cql_server.host,), port=cql_server.port)
    CassandraMiddleware(LifespanApp(), config)
    assert sum(cql_server.requests.values()) == 0


def test_construction_does_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASSANDRA_PORT", "not-a-port")
    middleware = CassandraMiddleware(ignore_lifespan)
    assert middleware.config is None


async def test_config_none_reads_the_environment_at_startup(
    cql_server: CQLServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = LifespanApp()
    middleware = CassandraMiddleware(app)  # built before the variables exist, like an import
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", cql_server.contact_point)
    server = Communicator(middleware, lifespan_scope({}))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    assert len(app.startup_rows) == 1
    await server.shutdown()
    await server.wait()


async def test_a_malformed_environment_variable_fails_startup_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASSANDRA_PORT", "not-a-port")
    server = Communicator(CassandraMiddleware(LifespanApp()), lifespan_scope({}))
    message = await server.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "CASSANDRA_PORT" in message["message"]
    with pytest.raises(ConfigError, match="CASSANDRA_PORT"):
        await server.wait()


@pytest.mark.memory_only
async def test_startup_and_shutdown_never_stall_the_event_loop(cql_server: CQLServer) -> None:
    # Slow system-table reads make a connect that blocked the loop stall it for many 0.2 s.
    cql_server.add_latency(0.2, pattern=r"FROM system")
    config = CassandraConfig(contact_points=(cql_server.host,), port=cql_server.port)
    server = Communicator(CassandraMiddleware(LifespanApp(), config), lifespan_scope({}))
    async with LoopLagProbe(interval=0.005) as probe:
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
        await server.wait()
    print(f"max loop lag {probe.max_lag * 1000:.2f} ms over {probe.samples} samples")
    assert probe.max_blocked < MAX_STALL, f"the loop stalled for {probe.max_blocked * 1000:.1f} ms"


async def test_starlette_request_state_works_when_the_server_has_no_lifespan_state(
    cassandra_config: CassandraConfig,
) -> None:
    async def release(request: Request) -> JSONResponse:
        rows = (await request.state.cassandra.execute(RELEASE_QUERY)).current_rows
        return JSONResponse({"rows": len(rows)})

    middleware = CassandraMiddleware(Starlette(routes=[Route("/", release)]), cassandra_config)
    server = Communicator(middleware, lifespan_scope(None))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    transport = httpx.ASGITransport(app=middleware)  # sends requests without scope["state"]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    await server.wait()
    assert response.json() == {"rows": 1}


async def test_the_apps_own_starlette_lifespan_state_sits_beside_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello"}

    async def both(request: Request) -> JSONResponse:
        rows = (await request.state.cassandra.execute(RELEASE_QUERY)).current_rows
        return JSONResponse({"greeting": request.state.greeting, "rows": len(rows)})

    app = Starlette(routes=[Route("/", both)], lifespan=lifespan)
    state: dict[str, Any] = {}
    middleware = CassandraMiddleware(app, cassandra_config)
    server = Communicator(middleware, lifespan_scope(state))
    assert await server.startup() == {"type": "lifespan.startup.complete"}
    request = Communicator(middleware, http_scope(state))
    await request.send({"type": "http.request", "body": b"", "more_body": False})
    start = await request.receive()
    body = await request.receive()
    await request.wait()
    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    await server.wait()
    assert start["status"] == 200
    assert json.loads(body["body"]) == {"greeting": "hello", "rows": 1}

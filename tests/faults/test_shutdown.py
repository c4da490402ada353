"""Graceful shutdown: requests under way when shutdown starts still finish, and every write
acknowledged before shutdown is there after the application restarts.

ASGI: the server is played by asgiref's ApplicationCommunicator, which sends
``lifespan.shutdown`` while HTTP requests are still waiting on Cassandra (harsher than uvicorn,
which drains requests first). aiohttp: ``TestServer.close()`` runs aiohttp's own graceful
shutdown, then the cleanup context closes the session.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from asgiref.testing import ApplicationCommunicator

from cassandra_asgi import CassandraConfig, SessionClosedError, connect
from cassandra_asgi.adapters import aiohttp as aiohttp_adapter
from cassandra_asgi.adapters.asgi import CassandraMiddleware, get_session
from cassandra_asgi.session import DEFAULT_CLOSE_GRACE
from cassandra_asgi.testing import CQLServer

from .conftest import MARGIN

WRITES = 50
LATENCY = 1.0
BOUND = DEFAULT_CLOSE_GRACE + MARGIN


class Peer:
    """One ASGI conversation (the server's side), typed."""

    def __init__(self, app: Any, scope: dict[str, Any]) -> None:
        self._inner = ApplicationCommunicator(app, scope)  # type: ignore[no-untyped-call]

    async def send(self, message: dict[str, Any]) -> None:
        await self._inner.send_input(message)  # type: ignore[no-untyped-call]

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = await self._inner.receive_output(BOUND)  # type: ignore[no-untyped-call]
        return message

    async def wait(self) -> None:
        await self._inner.wait(BOUND)  # type: ignore[no-untyped-call]


async def write_app(scope: Any, receive: Any, send: Any) -> None:
    """``POST /<id>`` stores a note; the 200 is the acknowledgement."""
    if scope["type"] != "http":
        return  # no lifespan of its own: the middleware answers for it
    await receive()
    note_id = int(scope["path"].strip("/"))
    session = get_session(scope)
    await session.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (note_id, f"n{note_id}"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"stored"})


def http_scope(path: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "state": dict(state),  # servers give each request a shallow copy of the lifespan state
    }


async def post(app: Any, note_id: int, state: dict[str, Any]) -> int:
    peer = Peer(app, http_scope(f"/{note_id}", state))
    await peer.send({"type": "http.request", "body": b"", "more_body": False})
    start = await peer.receive()
    body = await peer.receive()
    await peer.wait()
    assert body["body"] == b"stored"
    return int(start["status"])


async def notes_in(config: CassandraConfig) -> dict[int, str]:
    async with connect(config) as session:
        rows = await (await session.execute("SELECT id, body FROM notes")).all()
    return {row.id: row.body for row in rows}


@pytest.fixture
async def notes_config(cassandra_config: CassandraConfig, keyspace: str) -> CassandraConfig:
    config = cassandra_config.replace(keyspace=keyspace)
    async with connect(config) as session:
        await session.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    return config


async def start_asgi(config: CassandraConfig) -> tuple[CassandraMiddleware, Peer, dict[str, Any]]:
    app = CassandraMiddleware(write_app, config)
    state: dict[str, Any] = {}
    lifespan = Peer(app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state})
    await lifespan.send({"type": "lifespan.startup"})
    assert (await lifespan.receive())["type"] == "lifespan.startup.complete"
    return app, lifespan, state


async def test_asgi_writes_acknowledged_before_shutdown_are_readable_after_a_restart(
    notes_config: CassandraConfig,
) -> None:
    app, lifespan, state = await start_asgi(notes_config)
    statuses = await asyncio.gather(*(post(app, i, state) for i in range(WRITES)))
    assert statuses == [200] * WRITES
    await lifespan.send({"type": "lifespan.shutdown"})
    assert (await lifespan.receive())["type"] == "lifespan.shutdown.complete"
    await lifespan.wait()

    app, lifespan, state = await start_asgi(notes_config)  # the restarted application
    try:
        session = state["cassandra"]
        rows = await (await session.execute("SELECT id, body FROM notes")).all()
        assert {row.id: row.body for row in rows} == {i: f"n{i}" for i in range(WRITES)}
    finally:
        await lifespan.send({"type": "lifespan.shutdown"})
        await lifespan.receive()


@pytest.mark.memory_only
async def test_asgi_requests_in_flight_when_shutdown_starts_still_complete(
    cql_server: CQLServer, notes_config: CassandraConfig
) -> None:
    app, lifespan, state = await start_asgi(notes_config)
    session = state["cassandra"]
    cql_server.add_latency(LATENCY, pattern="INSERT INTO notes")
    requests = [asyncio.ensure_future(post(app, i, state)) for i in range(WRITES)]
    while session.in_flight < WRITES:  # noqa: ASYNC110 - bounded by the test timeout
        await asyncio.sleep(0.01)
    await lifespan.send({"type": "lifespan.shutdown"})
    shutdown = await lifespan.receive()
    assert all(r.done() for r in requests)  # the session closed only after they finished
    assert shutdown["type"] == "lifespan.shutdown.complete"
    assert [r.result() for r in requests] == [200] * WRITES
    assert session.closed
    cql_server.clear_faults()
    assert await notes_in(notes_config) == {i: f"n{i}" for i in range(WRITES)}


async def aiohttp_note(request: web.Request) -> web.Response:
    session = aiohttp_adapter.get_session(request)
    note_id = int(request.match_info["id"])
    await session.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (note_id, f"n{note_id}"))
    return web.Response(text="stored")


def aiohttp_app(config: CassandraConfig) -> web.Application:
    app = web.Application()
    aiohttp_adapter.setup(app, config)
    app.router.add_post("/{id}", aiohttp_note)
    return app


@pytest.mark.memory_only
async def test_aiohttp_requests_in_flight_at_shutdown_complete_and_their_writes_survive(
    cql_server: CQLServer, notes_config: CassandraConfig
) -> None:
    server = TestServer(aiohttp_app(notes_config))
    await server.start_server()
    session = server.app[aiohttp_adapter.CASSANDRA]
    cql_server.add_latency(LATENCY, pattern="INSERT INTO notes")
    async with ClientSession() as client:

        async def post_note(note_id: int) -> int:
            async with client.post(server.make_url(f"/{note_id}")) as response:
                assert await response.text() == "stored"
                return response.status

        requests = [asyncio.ensure_future(post_note(i)) for i in range(WRITES)]
        while session.in_flight < WRITES:  # noqa: ASYNC110 - bounded by the test timeout
            await asyncio.sleep(0.01)
        await asyncio.wait_for(server.close(), BOUND)
        statuses = await asyncio.wait_for(asyncio.gather(*requests), BOUND)
    assert statuses == [200] * WRITES
    assert session.closed
    cql_server.clear_faults()
    restarted = TestServer(aiohttp_app(notes_config))
    await restarted.start_server()
    try:
        rows = await (
            await restarted.app[aiohttp_adapter.CASSANDRA].execute("SELECT id, body FROM notes")
        ).all()
        assert {row.id: row.body for row in rows} == {i: f"n{i}" for i in range(WRITES)}
    finally:
        await restarted.close()


async def call_directly(app: Any, note_id: int, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one request through the app without a communicator, so its failure shows at once."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(http_scope(f"/{note_id}", state), receive, send)
    return sent


@pytest.mark.slow
@pytest.mark.memory_only
async def test_a_request_that_never_ends_delays_shutdown_by_the_grace_period_at_most(
    cql_server: CQLServer, notes_config: CassandraConfig, caplog: pytest.LogCaptureFixture
) -> None:
    config = notes_config.replace(request_timeout=120.0)  # only the grace period can end it
    app, lifespan, state = await start_asgi(config)
    session = state["cassandra"]
    cql_server.blackhole(pattern="INSERT INTO notes")
    stuck = asyncio.ensure_future(call_directly(app, 1, state))
    while session.in_flight < 1:  # noqa: ASYNC110 - bounded by the test timeout
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await lifespan.send({"type": "lifespan.shutdown"})
    assert (await lifespan.receive())["type"] == "lifespan.shutdown.complete"
    assert time.monotonic() - started < DEFAULT_CLOSE_GRACE + MARGIN
    assert "still in flight" in caplog.text
    # The abandoned request ends with an error naming the cause, instead of hanging.
    with pytest.raises(SessionClosedError, match="grace period"):
        await asyncio.wait_for(stuck, MARGIN)

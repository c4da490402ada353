"""lazy=True: one session per event loop, each closed through AsyncSession.close().

A session closes on its own loop. The middleware closes a loop's session when that loop shuts
down (asyncio.run, asyncio.Runner and anyio cancel every task first); a session left on a loop
closed without that is closed, through the same ``close()``, by the next request elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from cassandra_asgi import AsyncSession, CassandraConfig, WrongEventLoopError
from cassandra_asgi.adapters.asgi import CassandraMiddleware, get_session


class Recorder:
    """A raw ASGI app that runs one query and remembers the session it was handed."""

    def __init__(self) -> None:
        self.sessions: list[AsyncSession] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        session = get_session(scope)
        self.sessions.append(session)
        await session.execute("SELECT release_version FROM system.local")
        await PlainTextResponse("ok")(scope, receive, send)


async def _one_request(app: CassandraMiddleware) -> None:
    transport = httpx.ASGITransport(app=app)  # no lifespan
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/")).status_code == 200


def test_each_loops_session_is_closed_when_its_loop_ends(
    cassandra_config: CassandraConfig,
) -> None:
    recorder = Recorder()
    client = TestClient(CassandraMiddleware(recorder, cassandra_config, lazy=True))
    for _ in range(2):  # without `with`, every request runs on a loop of its own
        assert client.get("/").status_code == 200
        session = recorder.sessions[-1]
        assert session.closed  # only AsyncSession.close() sets this
        assert session.cluster.is_shutdown
    assert recorder.sessions[0] is not recorder.sessions[1]


@pytest.fixture
def served_on_a_loop_of_its_own(
    cassandra_config: CassandraConfig,
) -> Iterator[tuple[CassandraMiddleware, Recorder, asyncio.AbstractEventLoop]]:
    """A lazy middleware that served one request on a loop left open (closed afterwards)."""
    recorder = Recorder()
    middleware = CassandraMiddleware(recorder, cassandra_config, lazy=True)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_one_request(middleware))
        yield middleware, recorder, loop
    finally:
        loop.close()


def test_a_session_left_on_a_loop_closed_without_its_tasks_is_closed_by_the_next_request(
    served_on_a_loop_of_its_own: tuple[CassandraMiddleware, Recorder, asyncio.AbstractEventLoop],
) -> None:
    middleware, recorder, loop = served_on_a_loop_of_its_own
    loop.close()  # pending tasks are never cancelled: nothing closed the session there
    stale = recorder.sessions[0]
    assert not stale.cluster.is_shutdown
    asyncio.run(_one_request(middleware))
    assert stale.closed
    assert stale.cluster.is_shutdown
    assert recorder.sessions[1].closed  # closed as asyncio.run() shut its loop down


def test_a_session_cannot_be_closed_from_another_loop_while_its_own_runs(
    served_on_a_loop_of_its_own: tuple[CassandraMiddleware, Recorder, asyncio.AbstractEventLoop],
) -> None:
    middleware, recorder, loop = served_on_a_loop_of_its_own
    session = recorder.sessions[0]
    with pytest.raises(WrongEventLoopError):
        asyncio.run(session.close())  # `loop` is not running, but it is not closed either
    assert not session.closed
    loop.run_until_complete(middleware.aclose())
    assert session.closed

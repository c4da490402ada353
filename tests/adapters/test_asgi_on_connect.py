"""CassandraMiddleware's ``on_connect`` hook: startup work that needs the session.

A Starlette or FastAPI lifespan function never sees the scope state, so schema creation and
statement preparation run in the hook, after connecting and before the app accepts requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cassandra_asgi import AsyncSession, CassandraConfig
from cassandra_asgi.adapters.asgi import CassandraMiddleware, get_session
from cassandra_asgi.errors import StartupHookError


async def count_rows(request: Request) -> JSONResponse:
    session = get_session(request)
    row = (await session.execute("SELECT COUNT(*) FROM hooked")).one()
    return JSONResponse({"rows": row[0]})


def app_with_hook(
    config: CassandraConfig,
    hook: Callable[[AsyncSession], Awaitable[None]],
    *,
    lazy: bool = False,
) -> Starlette:
    app = Starlette(routes=[Route("/count", count_rows)])
    app.add_middleware(CassandraMiddleware, config=config, on_connect=hook, lazy=lazy)
    return app


async def create_and_fill(session: AsyncSession) -> None:
    await session.execute("CREATE TABLE IF NOT EXISTS hooked (k int PRIMARY KEY)")
    await session.execute("INSERT INTO hooked (k) VALUES (1)")


async def test_on_connect_runs_before_the_first_request_is_served(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    app = app_with_hook(cassandra_config.replace(keyspace=keyspace), create_and_fill)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/count")
    assert response.json() == {"rows": 1}


async def test_on_connect_receives_the_session_requests_get(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    seen: list[AsyncSession] = []

    async def remember(session: AsyncSession) -> None:
        seen.append(session)

    captured: list[AsyncSession] = []

    async def capture(request: Request) -> JSONResponse:
        captured.append(get_session(request))
        return JSONResponse({})

    app = Starlette(routes=[Route("/", capture)])
    app.add_middleware(
        CassandraMiddleware, config=cassandra_config.replace(keyspace=keyspace), on_connect=remember
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/")
    assert len(seen) == 1
    assert captured == seen


async def test_a_failing_on_connect_fails_startup_and_closes_the_session(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    opened: list[AsyncSession] = []

    async def broken(session: AsyncSession) -> None:
        opened.append(session)
        raise RuntimeError("schema migration 7 failed")

    app = app_with_hook(cassandra_config.replace(keyspace=keyspace), broken)
    with pytest.raises(RuntimeError, match="schema migration 7 failed"):
        async with LifespanManager(app):
            pass
    assert len(opened) == 1
    assert opened[0].closed


async def test_lazy_mode_runs_on_connect_once_for_concurrent_first_requests(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    calls: list[AsyncSession] = []

    async def hook(session: AsyncSession) -> None:
        calls.append(session)
        await create_and_fill(session)

    app = app_with_hook(cassandra_config.replace(keyspace=keyspace), hook, lazy=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        responses = await asyncio.gather(*(client.get("/count") for _ in range(5)))
    assert [r.json() for r in responses] == [{"rows": 1}] * 5
    assert len(calls) == 1
    await calls[0].close()


async def schema_migration_7(session: AsyncSession) -> None:
    raise RuntimeError("column 'title' already exists")


async def test_a_failing_on_connect_is_reported_as_the_hook_naming_it_with_its_traceback_logged(
    cassandra_config: CassandraConfig, keyspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with_hook(cassandra_config.replace(keyspace=keyspace), schema_migration_7)
    sent: list[MutableMapping[str, Any]] = []
    inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    with pytest.raises(StartupHookError) as raised:
        await app(scope, inbox.get, send)
    assert sent[-1]["type"] == "lifespan.startup.failed"
    message = str(sent[-1]["message"])
    assert "on_connect hook" in message
    assert "schema_migration_7" in message
    assert "connected, but" in message  # not mistaken for a connection failure
    assert isinstance(raised.value.__cause__, RuntimeError)
    logged = [r for r in caplog.records if r.exc_info and "schema_migration_7" in r.getMessage()]
    assert logged, "the hook's traceback must reach the log"

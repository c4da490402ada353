"""The two FastAPI apps the HTTP section compares, served by uvicorn in their own processes.

Both answer ``GET /items/{key}`` with the same row as JSON and read their target from the
``CASSANDRA_*`` environment. ``create_async_app`` goes through ``CassandraMiddleware`` and
``await session.execute``; ``create_sync_app`` is the common alternative: a ``def`` endpoint
calling the blocking driver, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from bench.dataset import POINT_QUERY
from bench.target import driver_cluster
from cassandra_asgi.config import CassandraConfig

__all__ = ["create_async_app", "create_sync_app"]


def _health(app: FastAPI) -> None:
    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}


def create_async_app() -> FastAPI:
    """Ours: the middleware owns the session; the endpoint awaits the query."""
    from cassandra_asgi.adapters.asgi import CassandraMiddleware

    app = FastAPI()
    app.add_middleware(CassandraMiddleware, config=CassandraConfig.from_env())
    _health(app)

    @app.get("/items/{key}")
    async def read_item(key: int, request: Request) -> dict[str, Any]:
        session = request.state.cassandra
        prepared = await session.prepare(POINT_QUERY)
        row = (await session.execute(prepared, (key,))).one()
        if row is None:
            raise HTTPException(status_code=404)
        return {"k": row[0], "v": row[1]}

    return app


def create_sync_app() -> FastAPI:
    """The thread-pool baseline: a plain driver session and a blocking ``def`` endpoint."""
    handles: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        def connect() -> None:
            handles["cluster"] = cluster = driver_cluster(CassandraConfig.from_env())
            handles["session"] = session = cluster.connect()
            handles["prepared"] = session.prepare(POINT_QUERY)

        await asyncio.to_thread(connect)
        try:
            yield
        finally:
            await asyncio.to_thread(handles["cluster"].shutdown)

    app = FastAPI(lifespan=lifespan)
    _health(app)

    @app.get("/items/{key}")
    def read_item(key: int) -> dict[str, Any]:
        row = handles["session"].execute(handles["prepared"], (key,)).one()
        if row is None:
            raise HTTPException(status_code=404)
        return {"k": row[0], "v": row[1]}

    return app

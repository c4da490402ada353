"""The apps the HTTP section serves next to ``examples/fastapi_app.py``, one uvicorn each.

All of them answer ``GET /notes/{note_id}`` from the examples' ``notes`` table with the same
JSON, and read their target from the ``CASSANDRA_*`` environment:

- ``create_middleware_app``: ``CassandraMiddleware`` owns the session; ``async def`` endpoint.
- ``create_traced_middleware_app``: the same with the OpenTelemetry SDK tracing the session
  (``bench.tracing``), to measure what tracing costs a request.
- ``create_sync_app``: the common alternative, a ``def`` endpoint calling the blocking driver,
  which FastAPI runs in its thread pool.
- ``create_acsylla_app``: what a user might switch to, an ``async def`` endpoint awaiting
  acsylla (the C++ driver) on the app's loop.

Ours runs in the I/O mode ``CASSANDRA_IO`` names (the bench sets it for each app).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from bench.clients import acsylla_session
from bench.dataset import NOTE_QUERY
from bench.target import driver_cluster
from cassandra_asgi.config import CassandraConfig

__all__ = [
    "NoteOut",
    "create_acsylla_app",
    "create_middleware_app",
    "create_sync_app",
    "create_traced_middleware_app",
]


class NoteOut(BaseModel):
    """The same response model as the example's, so every app does the same work per request."""

    id: uuid.UUID
    title: str
    body: str


def _note(row: Any) -> NoteOut:
    if row is None:
        raise HTTPException(status_code=404, detail="note not found")
    note_id, title, body = row
    return NoteOut(id=note_id, title=title, body=body)


def create_middleware_app(config: CassandraConfig | None = None) -> FastAPI:
    """Ours through the middleware: the endpoint awaits the query on the app's session."""
    from cassandra_asgi.adapters.asgi import CassandraMiddleware

    app = FastAPI()
    app.add_middleware(CassandraMiddleware, config=config or CassandraConfig.from_env())

    @app.get("/notes/{note_id}")
    async def get_note(note_id: uuid.UUID, request: Request) -> NoteOut:
        session = request.state.cassandra
        select_one = await session.prepare(NOTE_QUERY)  # prepared once, then a cache hit
        return _note((await session.execute(select_one, (note_id,))).one())

    return app


def create_traced_middleware_app() -> FastAPI:
    """The middleware app with OpenTelemetry tracing: the SDK, spans batched then dropped."""
    from bench.tracing import dropping_tracer_provider

    return create_middleware_app(
        CassandraConfig.from_env(tracer_provider=dropping_tracer_provider())
    )


def create_sync_app() -> FastAPI:
    """The thread-pool baseline: a plain driver session and a blocking ``def`` endpoint."""
    handles: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        def connect() -> None:
            handles["cluster"] = cluster = driver_cluster(CassandraConfig.from_env())
            handles["session"] = session = cluster.connect()
            handles["select_one"] = session.prepare(NOTE_QUERY)

        await asyncio.to_thread(connect)
        try:
            yield
        finally:
            await asyncio.to_thread(handles["cluster"].shutdown)

    app = FastAPI(lifespan=lifespan)

    @app.get("/notes/{note_id}")
    def get_note(note_id: uuid.UUID) -> NoteOut:
        return _note(handles["session"].execute(handles["select_one"], (note_id,)).one())

    return app


def create_acsylla_app() -> FastAPI:
    """The native-client alternative: one acsylla session opened in the lifespan, the query
    prepared once, an ``async def`` endpoint awaiting the read on the app's event loop."""
    handles: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        handles["session"] = session = await acsylla_session(CassandraConfig.from_env())
        try:
            handles["select_one"] = await session.create_prepared(NOTE_QUERY)
            yield
        finally:
            await session.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/notes/{note_id}")
    async def get_note(note_id: uuid.UUID) -> NoteOut:
        # acsylla binds a uuid from its text form and hands rows over as tuples.
        result = await handles["session"].execute(handles["select_one"].bind([str(note_id)]))
        row = result.first()
        return _note(None if row is None else row.as_tuple())

    return app

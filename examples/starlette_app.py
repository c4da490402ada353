"""Notes service on plain Starlette: the same endpoints as ``fastapi_app.py``.

Run: ``CASSANDRA_CONTACT_POINTS=127.0.0.1 uvicorn starlette_app:app --app-dir examples``.

The lifespan opens the one session of this worker process, creates the schema and prepares
the statements; whatever it yields becomes ``request.state`` in every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from notes import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_SEED,
    BadRequest,
    Notes,
    int_param,
    keyspace_for,
    parse_note,
    parse_note_id,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from startup import app_from_env

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.adapters.asgi import get_session


class State(TypedDict):
    cassandra: AsyncSession
    notes: Notes


def notes_of(request: Request) -> Notes:
    notes = getattr(request.state, "notes", None)
    if not isinstance(notes, Notes):
        raise RuntimeError("request.state.notes is missing: the app's lifespan did not run")
    return notes


async def bad_request(request: Request, exc: Exception) -> Response:
    """``BadRequest`` (bad JSON, id, page size or page token) becomes a 400 with its reason."""
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def json_body(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None


async def health(request: Request) -> Response:
    rtt = await get_session(request).ping()
    return JSONResponse({"status": "ok", "cassandra_rtt_ms": round(rtt * 1000, 3)})


async def add_note(request: Request) -> Response:
    title, body = parse_note(await json_body(request))
    note = await notes_of(request).add(title, body)
    return JSONResponse(note.to_json(), status_code=201)


async def list_notes(request: Request) -> Response:
    params = request.query_params
    limit = int_param(
        "limit", params.get("limit"), default=DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE
    )
    page = await notes_of(request).page(limit, params.get("page"))
    return JSONResponse(page.to_json())


async def stream_notes(request: Request) -> Response:
    return StreamingResponse(notes_of(request).ndjson(), media_type="application/x-ndjson")


async def seed_notes(request: Request) -> Response:
    count = int_param(
        "count", request.query_params.get("count"), default=1000, low=1, high=MAX_SEED
    )
    return JSONResponse({"inserted": await notes_of(request).seed(count)}, status_code=201)


async def get_note(request: Request) -> Response:
    note = await notes_of(request).get(parse_note_id(request.path_params["note_id"]))
    if note is None:
        return JSONResponse({"detail": "note not found"}, status_code=404)
    return JSONResponse(note.to_json())


async def put_note(request: Request) -> Response:
    note_id = parse_note_id(request.path_params["note_id"])
    title, body = parse_note(await json_body(request))
    note = await notes_of(request).put(note_id, title, body)
    return JSONResponse(note.to_json())


async def delete_note(request: Request) -> Response:
    await notes_of(request).delete(parse_note_id(request.path_params["note_id"]))
    return Response(status_code=204)


def create_app(config: CassandraConfig | None = None) -> Starlette:
    """Build the app; ``config=None`` reads ``CassandraConfig.from_env()`` now.

    ``app`` below calls this when the server starts it (so does ``uvicorn --factory
    starlette_app:create_app``), never at import.
    """
    config = config or CassandraConfig.from_env()
    keyspace = keyspace_for(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # Connect without a keyspace: on a fresh cluster it does not exist yet.
        async with connect(config.replace(keyspace=None)) as session:
            yield {"cassandra": session, "notes": await Notes.create(session, keyspace)}

    routes = [
        Route("/health", health),
        Route("/notes", add_note, methods=["POST"]),
        Route("/notes", list_notes, methods=["GET"]),
        Route("/notes/stream", stream_notes, methods=["GET"]),
        Route("/notes/seed", seed_notes, methods=["POST"]),
        Route("/notes/{note_id}", get_note, methods=["GET"]),
        Route("/notes/{note_id}", put_note, methods=["PUT"]),
        Route("/notes/{note_id}", delete_note, methods=["DELETE"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={BadRequest: bad_request})


app = app_from_env(create_app)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)

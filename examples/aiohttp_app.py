"""Notes service on aiohttp.web: the same endpoints as the ASGI examples.

Run: ``CASSANDRA_CONTACT_POINTS=127.0.0.1 python examples/aiohttp_app.py``.

``setup(app)`` adds a cleanup context that opens the session at startup and closes it at
cleanup; the notes context added after it runs once the session exists, creates the schema
and prepares the statements. ``/metrics`` serves the session's Prometheus metrics.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import aclosing

from aiohttp import web
from aiohttp.typedefs import Handler
from monitoring import metrics_registry
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
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from startup import show_library_logs

from cassandra_asgi import CassandraConfig
from cassandra_asgi.adapters.aiohttp import CASSANDRA, get_session, setup

NOTES = web.AppKey("notes", Notes)
METRICS = web.AppKey("metrics", CollectorRegistry)


@web.middleware
async def bad_requests_as_400(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ``BadRequest`` (bad JSON, bad id, bad page token...) into a 400 with its reason."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return web.json_response({"detail": str(exc)}, status=400)


async def json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None


async def health(request: web.Request) -> web.Response:
    rtt = await get_session(request).ping()
    return web.json_response({"status": "ok", "cassandra_rtt_ms": round(rtt * 1000, 3)})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format, read on this loop (no thread hop)."""
    body = generate_latest(request.config_dict[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def add_note(request: web.Request) -> web.Response:
    title, body = parse_note(await json_body(request))
    note = await request.config_dict[NOTES].add(title, body)
    return web.json_response(note.to_json(), status=201)


async def list_notes(request: web.Request) -> web.Response:
    limit = int_param(
        "limit", request.query.get("limit"), default=DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE
    )
    page = await request.config_dict[NOTES].page(limit, request.query.get("page"))
    return web.json_response(page.to_json())


async def stream_notes(request: web.Request) -> web.StreamResponse:
    """NDJSON, one page per chunk; a client that goes away makes ``write`` raise, which
    leaves the loop, closes the generator and so stops the page fetches."""
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    async with aclosing(request.config_dict[NOTES].ndjson()) as chunks:
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


async def seed_notes(request: web.Request) -> web.Response:
    count = int_param("count", request.query.get("count"), default=1000, low=1, high=MAX_SEED)
    inserted = await request.config_dict[NOTES].seed(count)
    return web.json_response({"inserted": inserted}, status=201)


async def get_note(request: web.Request) -> web.Response:
    note = await request.config_dict[NOTES].get(parse_note_id(request.match_info["note_id"]))
    if note is None:
        return web.json_response({"detail": "note not found"}, status=404)
    return web.json_response(note.to_json())


async def put_note(request: web.Request) -> web.Response:
    note_id = parse_note_id(request.match_info["note_id"])
    title, body = parse_note(await json_body(request))
    note = await request.config_dict[NOTES].put(note_id, title, body)
    return web.json_response(note.to_json())


async def delete_note(request: web.Request) -> web.Response:
    await request.config_dict[NOTES].delete(parse_note_id(request.match_info["note_id"]))
    return web.Response(status=204)


def create_app(config: CassandraConfig | None = None) -> web.Application:
    """Build the app; ``config=None`` reads ``CassandraConfig.from_env()`` now."""
    config = config or CassandraConfig.from_env()
    keyspace = keyspace_for(config)

    async def notes_context(app: web.Application) -> AsyncIterator[None]:
        app[NOTES] = await Notes.create(app[CASSANDRA], keyspace)
        app[METRICS] = metrics_registry(app[CASSANDRA])
        yield

    app = web.Application(middlewares=[bad_requests_as_400])
    # Connect without a keyspace: on a fresh cluster it does not exist yet.
    setup(app, config.replace(keyspace=None))
    app.cleanup_ctx.append(notes_context)  # after setup(), so the session already exists
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/notes", add_note)
    app.router.add_get("/notes", list_notes)
    app.router.add_get("/notes/stream", stream_notes)
    app.router.add_post("/notes/seed", seed_notes)
    app.router.add_get("/notes/{note_id}", get_note)
    app.router.add_put("/notes/{note_id}", put_note)
    app.router.add_delete("/notes/{note_id}", delete_note)
    return app


if __name__ == "__main__":
    show_library_logs()
    try:
        application = create_app()  # CASSANDRA_* read now, not when the module is imported
    except ValueError as exc:  # ConfigError naming the variable, or a bad keyspace name
        sys.exit(f"aiohttp_app: {exc}")
    web.run_app(application, host="127.0.0.1", port=8000)

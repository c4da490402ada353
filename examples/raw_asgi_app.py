"""Notes service as a bare ASGI callable: no framework, just ``CassandraMiddleware``.

Run: ``CASSANDRA_CONTACT_POINTS=127.0.0.1 uvicorn raw_asgi_app:app --app-dir examples``.

The middleware connects when the server starts the lifespan protocol and only then forwards
``lifespan.startup`` to the wrapped app, so the app finds the session in the lifespan scope's
state and can create its schema before declaring itself ready. The server copies that state
into every request's scope, which is where the handlers below find the session again.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from typing import Any
from urllib.parse import parse_qs

from asgiref.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    LifespanScope,
    Scope,
)
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
from startup import app_from_env

from cassandra_asgi import CassandraConfig
from cassandra_asgi.adapters.asgi import CassandraMiddleware, get_session

MAX_BODY_BYTES = 64 * 1024


class ClientGone(Exception):
    """The client disconnected before sending its whole request."""


def create_app(config: CassandraConfig | None = None) -> CassandraMiddleware:
    """Build the app; ``config=None`` reads ``CassandraConfig.from_env()`` now.

    ``app`` below calls this when the server starts it (so does ``uvicorn --factory
    raw_asgi_app:create_app``), never at import.
    """
    config = config or CassandraConfig.from_env()
    keyspace = keyspace_for(config)

    async def notes_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "lifespan":
            await lifespan(scope, receive, send, keyspace=keyspace)
        elif scope["type"] == "http":
            await handle_http(scope, receive, send)
        # A websocket scope gets no answer and the server closes it.

    # Connect without a keyspace: on a fresh cluster it does not exist yet.
    return CassandraMiddleware(notes_app, config.replace(keyspace=None))


async def lifespan(
    scope: LifespanScope,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    *,
    keyspace: str,
) -> None:
    """Create the schema once the middleware has connected; the middleware closes the session."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                notes = await Notes.create(get_session(scope), keyspace)
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": f"notes schema: {exc!r}"})
                return
            scope["state"]["notes"] = notes
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def handle_http(
    scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    notes: Notes = scope["state"]["notes"]
    query = parse_qs(scope["query_string"].decode("latin-1"))

    def param(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    try:
        match scope["method"], scope["path"].strip("/").split("/"):
            case "GET", ["health"]:
                rtt = await get_session(scope).ping()
                await send_json(
                    send, 200, {"status": "ok", "cassandra_rtt_ms": round(rtt * 1000, 3)}
                )
            case "POST", ["notes"]:
                title, body = parse_note(await read_json(receive))
                await send_json(send, 201, (await notes.add(title, body)).to_json())
            case "GET", ["notes"]:
                limit = int_param(
                    "limit", param("limit"), default=DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE
                )
                await send_json(send, 200, (await notes.page(limit, param("page"))).to_json())
            case "GET", ["notes", "stream"]:
                await stream_ndjson(notes, receive, send)
            case "POST", ["notes", "seed"]:
                count = int_param("count", param("count"), default=1000, low=1, high=MAX_SEED)
                await send_json(send, 201, {"inserted": await notes.seed(count)})
            case "GET", ["notes", raw_id]:
                note = await notes.get(parse_note_id(raw_id))
                if note is None:
                    await send_json(send, 404, {"detail": "note not found"})
                else:
                    await send_json(send, 200, note.to_json())
            case "PUT", ["notes", raw_id]:
                note_id = parse_note_id(raw_id)
                title, body = parse_note(await read_json(receive))
                await send_json(send, 200, (await notes.put(note_id, title, body)).to_json())
            case "DELETE", ["notes", raw_id]:
                await notes.delete(parse_note_id(raw_id))
                await send_empty(send, 204)
            case _, ["health"] | ["notes"] | ["notes", _]:
                await send_json(send, 405, {"detail": "method not allowed"})
            case _:
                await send_json(send, 404, {"detail": "not found"})
    except BadRequest as exc:
        await send_json(send, 400, {"detail": str(exc)})
    except ClientGone:
        pass


async def stream_ndjson(notes: Notes, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Send every note as NDJSON, one page per body chunk.

    Some servers (uvicorn among them) silently drop ``send`` calls after the client has gone,
    so watch for ``http.disconnect`` and stop fetching pages when it arrives.
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/x-ndjson")],
            "trailers": False,
        }
    )
    disconnected = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        async with aclosing(notes.ndjson()) as chunks:
            async for chunk in chunks:
                if disconnected.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        disconnected.cancel()


async def wait_for_disconnect(receive: ASGIReceiveCallable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def read_json(receive: ASGIReceiveCallable) -> Any:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        if message["type"] != "http.request":
            continue
        body += message["body"]
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(f"request body is larger than {MAX_BODY_BYTES} bytes")
        if not message["more_body"]:
            break
    try:
        return json.loads(body)
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None


async def send_json(send: ASGISendCallable, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_empty(send: ASGISendCallable, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [], "trailers": False})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


app = app_from_env(create_app)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)

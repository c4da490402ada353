"""Notes service on Quart: the same endpoints as ``fastapi_app.py``.

Run: ``CASSANDRA_CONTACT_POINTS=127.0.0.1 uvicorn quart_app:app --app-dir examples``.

The ``Cassandra`` extension opens the worker's one session in ``before_serving`` and closes it
in ``after_serving``; handlers (here in a blueprint) and other serving hooks reach it with
``cassandra.get_session()``. A ``before_serving`` hook of the app creates the schema and
prepares the statements; the extension's own hook always runs before it.
"""

from __future__ import annotations

import json

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
from quart import Blueprint, Quart, Response, current_app, request
from startup import app_from_env

from cassandra_asgi import CassandraConfig
from cassandra_asgi.adapters.quart import Cassandra

MAX_BODY_BYTES = 64 * 1024

#: Created before any app exists, installed by ``create_app`` with ``init_app``.
cassandra = Cassandra()
notes_api = Blueprint("notes", __name__)


def notes_table() -> Notes:
    """The statements prepared at startup for the current app's session."""
    notes = current_app.extensions.get("notes")
    if not isinstance(notes, Notes):
        raise RuntimeError("the notes table is missing: the app's before_serving did not run")
    return notes


async def json_body() -> object:
    try:
        return json.loads(await request.get_data(as_text=True))
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None


@notes_api.errorhandler(BadRequest)
async def bad_request(exc: BadRequest) -> tuple[dict[str, str], int]:
    """``BadRequest`` (bad JSON, id, page size or page token) becomes a 400 with its reason."""
    return {"detail": str(exc)}, 400


@notes_api.get("/health")
async def health() -> dict[str, float | str]:
    rtt = await cassandra.get_session().ping()
    return {"status": "ok", "cassandra_rtt_ms": round(rtt * 1000, 3)}


@notes_api.post("/notes")
async def add_note() -> tuple[dict[str, str], int]:
    title, body = parse_note(await json_body())
    return (await notes_table().add(title, body)).to_json(), 201


@notes_api.get("/notes")
async def list_notes() -> dict[str, object]:
    limit = int_param(
        "limit", request.args.get("limit"), default=DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE
    )
    return (await notes_table().page(limit, request.args.get("page"))).to_json()


@notes_api.get("/notes/stream")
async def stream_notes() -> Response:
    response = Response(notes_table().ndjson(), mimetype="application/x-ndjson")
    response.timeout = None  # Quart's RESPONSE_TIMEOUT would cut a long stream short
    return response


@notes_api.post("/notes/seed")
async def seed_notes() -> tuple[dict[str, int], int]:
    count = int_param("count", request.args.get("count"), default=1000, low=1, high=MAX_SEED)
    return {"inserted": await notes_table().seed(count)}, 201


@notes_api.get("/notes/<note_id>")
async def get_note(note_id: str) -> dict[str, str] | tuple[dict[str, str], int]:
    note = await notes_table().get(parse_note_id(note_id))
    if note is None:
        return {"detail": "note not found"}, 404
    return note.to_json()


@notes_api.put("/notes/<note_id>")
async def put_note(note_id: str) -> dict[str, str]:
    title, body = parse_note(await json_body())
    return (await notes_table().put(parse_note_id(note_id), title, body)).to_json()


@notes_api.delete("/notes/<note_id>")
async def delete_note(note_id: str) -> tuple[str, int]:
    await notes_table().delete(parse_note_id(note_id))
    return "", 204


def create_app(config: CassandraConfig | None = None) -> Quart:
    """Build the app; ``config=None`` reads ``CassandraConfig.from_env()`` now.

    ``app`` below calls this when the server starts it (so does ``uvicorn --factory
    quart_app:create_app``), never at import.
    """
    config = config or CassandraConfig.from_env()
    keyspace = keyspace_for(config)
    app = Quart(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.register_blueprint(notes_api)

    @app.before_serving
    async def prepare_notes() -> None:
        app.extensions["notes"] = await Notes.create(cassandra.get_session(), keyspace)

    # Connect without a keyspace: on a fresh cluster it does not exist until prepare_notes.
    # Registered after prepare_notes on purpose: the extension connects first regardless.
    cassandra.init_app(app, config.replace(keyspace=None))
    return app


app = app_from_env(create_app)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
